"""The grid file: a base config, a grid of dotted keys to value lists, and cv settings.

    name: denoise-grid
    base: ../quick.yaml          # a config file (relative to this one) or an inline mapping
    grid:
      model.base_ch: [8, 16]
      train.lr: [1.0e-3, 3.0e-3]
    cv: {folds: 3, seed: 0, splits_file: null}
"""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mnistmax.config import RunConfig, apply_overrides, read_config_file, read_yaml_mapping, validate_config
from mnistmax.errors import ConfigError


class CVConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    folds: int = Field(5, ge=2, le=20)
    seed: int = 0
    splits_file: str | None = None


class GridSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    base: str | dict[str, Any]
    grid: dict[str, list[Any]]
    cv: CVConfig = Field(default_factory=CVConfig)


def load_grid(path: str | Path) -> tuple[GridSpec, dict]:
    """(spec, base config as a raw dict); every combination is validated up front so a typo
    in the grid fails before the first job runs."""
    from mnistmax.config.load import resolve_config

    path = resolve_config(path)  # a file, or a shipped grid by name (grid/denoise)
    raw = read_yaml_mapping(path)
    try:
        spec = GridSpec.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{path}: {key}: {err['msg']}") from None
    if isinstance(spec.base, str):
        base_path = spec.base if Path(spec.base).is_absolute() else path.parent / spec.base
        base = read_config_file(base_path)
    else:
        base = spec.base
    if not spec.grid or any(not values for values in spec.grid.values()):
        raise ConfigError(f"{path}: grid needs at least one key with a non-empty list of values")
    if spec.cv.splits_file and not Path(spec.cv.splits_file).is_file():
        raise ConfigError(f"{path}: cv.splits_file {spec.cv.splits_file!r} not found")
    for combo in combinations(spec):
        config_for(base, combo, source=f"{path} grid {combo}")
    return spec, base


def combinations(spec: GridSpec) -> list[dict[str, Any]]:
    keys = list(spec.grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(spec.grid[k] for k in keys))]


def config_for(base: dict, combo: dict[str, Any], source: str = "grid") -> RunConfig:
    overrides = [f"{k}={json.dumps(v)}" for k, v in combo.items()]
    return validate_config(apply_overrides(json.loads(json.dumps(base)), overrides), source=source)


def config_key(combo: dict[str, Any]) -> str:
    """A stable id for a combination (the MLflow tag that makes jobs idempotent)."""
    return hashlib.sha1(json.dumps(combo, sort_keys=True).encode()).hexdigest()[:12]


def describe(combo: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in combo.items()) or "base config"

