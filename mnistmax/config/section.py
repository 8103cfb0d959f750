"""The base of every config section: unknown keys, and infinities or NaNs, are refused."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

Level = float  # a noise level in [0, 1]


class Section(BaseModel):
    # allow_inf_nan=False: train.lr=.inf is a config error, not a run that diverges
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)
