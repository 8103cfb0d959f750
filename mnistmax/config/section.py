"""The base of every config section: unknown keys, and infinities or NaNs, are refused."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

Level = float  # a noise level in [0, 1]


def named_preset(section, presets: dict) -> str | None:
    """The preset a section's mapping names (`noise.preset`, `augment.preset`) when it is one of
    `presets`; None for no preset, an unknown one or a value that is not a name (the field says
    which are valid)."""
    name = section.get("preset") if isinstance(section, dict) else None
    return name if isinstance(name, str) and name in presets else None


class Section(BaseModel):
    # allow_inf_nan=False: train.lr=.inf is a config error, not a run that diverges
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)
