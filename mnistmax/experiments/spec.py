"""The search file: a base config, a space of dotted keys, a sampler, cv and where the study lives.

    name: unet-tpe
    base: ../quick.yaml            # a config file (relative to this one) or an inline mapping
    space:
      train.lr: {low: 1.0e-4, high: 1.0e-2, log: true}   # float range (int range when low and high are ints)
      model.base_ch: [8, 16, 32]                          # a list: categorical (or the grid's values)
    sampler: tpe                   # grid | tpe | random
    trials: 12                     # tpe / random; a grid runs each of its points once
    pruner: median                 # none | median | hyperband
    cv: {folds: 3, seed: 0, splits_file: null, score: null}
    storage: null                  # default sqlite:///<output_dir>/optuna.db; any SQLAlchemy URL or journal:PATH

Every trial is validated under one noise setting fixed for the whole study, whatever noise it
trains on (its folds' val/loss, early stopping and best epoch): `cv.score: {kind, levels | range}`,
or by default the base config's training noise (its kind and levels or range). A denoiser's
val/loss then compares models, not the difficulty of the noise each one trained on.

A grid file (`grid:` instead of `space:`, lists only) is a search with sampler grid.
Everything is checked before anything is written: keys against the config schema, every
value of a list and both ends of a range built into a config.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mnistmax.config import (
    RunConfig,
    apply_overrides,
    flat_keys,
    parse_override,
    read_config_file,
    read_yaml_mapping,
    without_preset_keys,
)
from mnistmax.config.noise import ValidationNoise
from mnistmax.errors import ConfigError
from mnistmax.tasks import validate_config

SCALARS = (type(None), bool, int, float, str)  # what an Optuna categorical choice may be


class CVConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    folds: int = Field(5, ge=2, le=20)
    seed: int = 0
    splits_file: str | None = None
    # the noise every trial's folds are validated under (None: the base config's training noise)
    score: ValidationNoise | None = None


class HeartbeatConfig(BaseModel):
    """A worker beats every `interval` s; a trial silent for `grace` s is failed and retried
    (at most `retries` times) by whichever worker notices."""
    model_config = ConfigDict(extra="forbid")
    interval: int = Field(10, ge=1)
    grace: int = Field(30, ge=1)
    retries: int = Field(2, ge=0)

    @model_validator(mode="after")
    def _grace_after_interval(self):
        if self.grace <= self.interval:
            raise ValueError(f"grace ({self.grace}) must be longer than interval ({self.interval})")
        return self


class SearchFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    base: str | dict[str, Any]
    space: dict[str, Any] | None = None
    grid: dict[str, list[Any]] | None = None
    sampler: Literal["grid", "tpe", "random"] | None = None
    trials: int | None = Field(None, ge=1)
    startup_trials: int | None = Field(None, ge=1)
    seed: int = 0
    pruner: Literal["none", "median", "hyperband"] = "none"
    cv: CVConfig = Field(default_factory=CVConfig)
    storage: str | None = None
    heartbeat: HeartbeatConfig = Field(default_factory=HeartbeatConfig)


@dataclass(frozen=True)
class Dimension:
    """One searched key: a list of values, or a [low, high] range (int when both ends are)."""
    key: str
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False

    @property
    def integer(self) -> bool:
        return self.choices is None and isinstance(self.low, int) and isinstance(self.high, int)

    @property
    def encoded(self) -> bool:
        """Lists and mappings are not Optuna choices: such a key's values travel as JSON text."""
        return self.choices is not None and not all(isinstance(c, SCALARS) for c in self.choices)

    def distribution(self):
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.choices is not None:
            return CategoricalDistribution([self.encode(c) for c in self.choices])
        if self.integer:
            return IntDistribution(self.low, self.high, log=self.log)
        return FloatDistribution(float(self.low), float(self.high), log=self.log)

    def encode(self, value):
        return json.dumps(value) if self.encoded else value

    def decode(self, value):
        return json.loads(value) if self.encoded else value

    def probes(self) -> list:
        """The values a config is built with before anything runs."""
        return list(self.choices) if self.choices is not None else [self.low, self.high]


@dataclass
class Search:
    """A validated search file."""
    path: Path
    spec: SearchFile
    base: dict
    dims: dict[str, Dimension]
    kind: Literal["grid", "search"]  # a grid file (`grid:`) or a search file (`space:`)
    sampler: str
    trials: int
    validation: ValidationNoise | None = None  # every trial's validation noise (None: its task draws none)
    overrides: tuple[str, ...] = ()  # KEY=VALUE overrides applied to `base` (`mnistmax search -c FILE KEY=VALUE`)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def cv(self) -> CVConfig:
        return self.spec.cv


def load_search(path: str | Path, require_grid: bool = False, overrides: "list[str] | tuple[str, ...]" = ()) -> Search:
    """Read and check a search (or grid) file; nothing is written. `require_grid`: `mnistmax grid`.
    `overrides` (KEY=VALUE) are applied to the file's base: checked like `mnistmax train`'s, and
    refused for a key the space (or grid) sets, since every trial would set it again; `cv.*`
    overrides (`cv.folds=3`: a run config has no cv) are applied to the search file itself."""
    from mnistmax.config.load import resolve_config

    path = resolve_config(path)  # a file, or a shipped one by name (grid/denoise, search/unet_tpe)
    overrides = tuple(overrides)
    own = file_overrides(overrides)
    spec = _validate_file(path, apply_overrides(read_yaml_mapping(path), list(own)))
    if require_grid and spec.grid is None:
        raise ConfigError(f"{path}: grid: Field required (`mnistmax grid` takes a grid file; `mnistmax search` "
                          "also takes space:)")
    if spec.grid is not None and spec.space is not None:
        raise ConfigError(f"{path}: give either grid: or space:, not both")
    if spec.grid is None and spec.space is None:
        raise ConfigError(f"{path}: space: Field required (dotted config keys to value lists or {{low, high, log}})")
    if spec.grid is not None:
        if not spec.grid or any(not values for values in spec.grid.values()):
            empty = next((k for k, v in spec.grid.items() if not v), None)
            raise ConfigError(f"{path}: grid needs at least one key with a non-empty list of values"
                              + (f" (grid.{empty} is empty)" if empty else ""))
        if spec.sampler not in (None, "grid"):
            raise ConfigError(f"{path}: sampler: a grid: file runs sampler grid; write space: for {spec.sampler}")
    kind = "grid" if spec.grid is not None else "search"
    dims = parse_space(spec.grid if spec.grid is not None else spec.space, "grid" if kind == "grid" else "space", path)
    sampler = spec.sampler or ("grid" if kind == "grid" else "tpe")
    trials = _trials(spec, sampler, dims, path)
    if spec.cv.splits_file and not Path(spec.cv.splits_file).is_file():
        raise ConfigError(f"{path}: cv.splits_file {spec.cv.splits_file!r} not found")
    base = base_with_overrides(_base(spec, path), tuple(o for o in overrides if o not in own), spec, dims, path)
    search = Search(path, spec, base, dims, kind, sampler, trials,
                    validation_protocol(spec, config_for(base, {}, source=f"{path} base"), dims, path), overrides)
    for combo in probe_combinations(search):
        trial_config(search, combo, source=f"{path} {kind} {combo}")
    return search


FILE_SECTIONS = ("cv",)  # a search file's own sections an override may set (a run config has none of these)


def file_overrides(overrides: "list[str] | tuple[str, ...]") -> tuple[str, ...]:
    """The overrides that set the search file's own keys (`cv.folds=3`), not its base config's."""
    return tuple(o for o in overrides if parse_override(o)[0][0] in FILE_SECTIONS)


def describe_overrides(overrides: "list[str] | tuple[str, ...]") -> str:
    """The command line's overrides in words: those of the search file (cv.*), those of its base config."""
    own = file_overrides(overrides)
    rest = [o for o in overrides if o not in own]
    parts = ([f"of the search file: {' '.join(own)}"] if own else []) + \
        ([f"of the base config: {' '.join(rest)}"] if rest else [])
    return "; ".join(parts)


def base_with_overrides(base: dict, overrides: tuple[str, ...], spec: SearchFile, dims: dict[str, Dimension],
                        path: Path) -> dict:
    """The search's base with `overrides` set, validated like a `train` override (an unknown key,
    a bad value or a key the task does not use is one line); a key that the space sets, or
    noise.validation when cv.score fixes it, is refused: each trial would overwrite it."""
    if not overrides:
        return base
    section = "grid" if spec.grid is not None else "space"
    keys: set[str] = set()
    for text in overrides:
        parts, value = parse_override(text)
        key = ".".join(parts)
        searched = next((d for d in dims if d == key or d.startswith(key + ".") or key.startswith(d + ".")), None)
        if searched is not None:
            raise ConfigError(f"override {text!r}: {section}.{searched} sets it in every trial; change the "
                              f"{section}: of {path} instead")
        if spec.cv.score is not None and (key == "noise" or key.startswith("noise.validation")):
            raise ConfigError(f"override {text!r}: cv.score sets every trial's noise.validation; change cv.score "
                              f"in {path} instead")
        keys |= flat_keys(value, key + ".") if isinstance(value, dict) and value else {key}
    layer = apply_overrides({}, list(overrides))  # a preset named by an override replaces the base's noise levels
    raw = apply_overrides(without_preset_keys(json.loads(json.dumps(base)), layer), list(overrides))
    validate_config(json.loads(json.dumps(raw)), source=f"{path} base with overrides", explicit=keys)
    return raw


def validation_protocol(spec: SearchFile, base_cfg: RunConfig, dims: dict[str, Dimension],
                        path: Path) -> ValidationNoise | None:
    """The one noise setting every trial is validated under: cv.score, else the base config's
    training noise; None when the task draws no noise (its val/loss does not depend on a trial's noise)."""
    from mnistmax.tasks import get_task

    fixed = next((k for k in dims if k == "noise.validation" or k.startswith("noise.validation.")), None)
    if fixed:
        raise ConfigError(f"{path}: space.{fixed}: every trial is validated under one setting; give it as cv.score")
    if "noise" in get_task(base_cfg.task).unused(base_cfg):
        if spec.cv.score is not None:
            raise ConfigError(f"{path}: cv.score: task {base_cfg.task} draws no noise; remove it "
                              "(its trials are compared on their val/loss)")
        return None
    if base_cfg.noise.validation is not None and spec.cv.score is None:
        return base_cfg.noise.validation
    return spec.cv.score or base_cfg.noise.validation_noise()


def trial_config(search: Search, combo: dict[str, Any], source: str = "search") -> RunConfig:
    """A trial's config: the base with `combo` set, validated under the study's one protocol."""
    if search.validation is not None:
        combo = {**combo, "noise.validation": search.validation.model_dump(exclude_none=True)}
    return config_for(search.base, combo, source)


def _validate_file(path: Path, raw: dict) -> SearchFile:
    try:
        return SearchFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{path}: {key}: {err['msg'].removeprefix('Value error, ')}") from None


def _base(spec: SearchFile, path: Path) -> dict:
    if isinstance(spec.base, dict):
        return spec.base
    return read_config_file(spec.base if Path(spec.base).is_absolute() else path.parent / spec.base)


def parse_space(raw: dict, section: str, path: Path | str) -> dict[str, Dimension]:
    """`{key: [values] | {low, high, log}}` -> Dimensions; one line naming the key when one is wrong."""
    if not raw:
        raise ConfigError(f"{path}: {section} needs at least one key")
    return {key: parse_dimension(key, value, f"{path}: {section}.{key}") for key, value in raw.items()}


def parse_dimension(key: str, value, where: str) -> Dimension:
    if isinstance(value, list):
        if not value:
            raise ConfigError(f"{where}: an empty list; give at least one value")
        seen = [json.dumps(v, sort_keys=True) for v in value]
        twice = next((v for v in seen if seen.count(v) > 1), None)
        if twice is not None:
            raise ConfigError(f"{where}: the value {twice} is listed twice")
        return Dimension(key, choices=tuple(value))
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: a list of values or a range {{low, high, log}}, not {value!r}")
    unknown = sorted(set(value) - {"low", "high", "log"})
    if unknown:
        raise ConfigError(f"{where}: unknown range key {unknown[0]!r}; a range has low, high and log")
    if "low" not in value or "high" not in value:
        raise ConfigError(f"{where}: an empty range; give low and high (and log: true for a log scale)")
    low, high, log = value["low"], value["high"], value.get("log", False)
    for end, number in (("low", low), ("high", high)):
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            hint = " (YAML reads 1e-3 as text: write 1.0e-3)" if isinstance(number, str) and "e" in number else ""
            raise ConfigError(f"{where}.{end}: a number, not {number!r}{hint}")
    if not isinstance(log, bool):
        raise ConfigError(f"{where}.log: true or false, not {log!r}")
    if low > high:
        raise ConfigError(f"{where}: low ({low}) > high ({high})")
    if log and low <= 0:
        raise ConfigError(f"{where}: a log range needs low > 0 (got {low})")
    return Dimension(key, low=low, high=high, log=log)


def _trials(spec: SearchFile, sampler: str, dims: dict[str, Dimension], path: Path) -> int:
    if sampler == "grid":
        ranged = next((d.key for d in dims.values() if d.choices is None), None)
        if ranged:
            raise ConfigError(f"{path}: space.{ranged}: sampler grid needs a list of values, not a range")
        points = len(grid_points(dims))
        if spec.trials is not None and spec.trials != points:
            raise ConfigError(f"{path}: trials: a grid runs each of its {points} points once; leave trials out")
        if spec.startup_trials is not None:
            raise ConfigError(f"{path}: startup_trials: only sampler tpe has random startup trials; remove it")
        return points
    if spec.trials is None:
        raise ConfigError(f"{path}: trials: needed with sampler {sampler} (how many configurations to try)")
    if spec.startup_trials is not None and sampler != "tpe":
        raise ConfigError(f"{path}: startup_trials: only sampler tpe has random startup trials; remove it")
    return spec.trials


def grid_points(dims: dict[str, Dimension]) -> list[dict[str, Any]]:
    """Every combination of the dimensions' values, in file order."""
    keys = list(dims)
    return [dict(zip(keys, values)) for values in itertools.product(*(dims[k].choices for k in keys))]


def probe_combinations(search: Search) -> list[dict[str, Any]]:
    """The configs checked up front: every grid point; for a sampled space, each value of each
    key (its ends for a range) with the other keys at their first value."""
    if search.sampler == "grid":
        return grid_points(search.dims)
    first = {k: d.probes()[0] for k, d in search.dims.items()}
    return [first] + [{**first, k: v} for k, d in search.dims.items() for v in d.probes()[1:]]


def load_grid(path: str | Path) -> tuple[SearchFile, dict]:
    """(the file, its base config) of a grid file, checked as `mnistmax grid` checks it."""
    search = load_search(path, require_grid=True)
    return search.spec, search.base


def config_for(base: dict, combo: dict[str, Any], source: str = "search") -> RunConfig:
    """The base config with `combo`'s dotted keys set; a key the task would not use is refused."""
    overrides = [f"{k}={json.dumps(v)}" for k, v in combo.items()]
    return validate_config(apply_overrides(json.loads(json.dumps(base)), overrides), source=source,
                           explicit=list(combo))


def fingerprint(search: Search) -> str:
    """What makes two runs of a search the same study: base (less logging; with the command
    line's KEY=VALUE overrides applied, so different overrides make a different study), space,
    sampler, cv."""
    base = {k: v for k, v in search.base.items() if k != "logging"}
    space = {k: [d.choices, d.low, d.high, d.log] for k, d in search.dims.items()}
    cv = search.cv.model_dump(exclude={"score"})
    if search.cv.score is not None or any(k.startswith("noise.") for k in search.dims):
        # trials that vary the noise were validated each under its own before cv.score: not the same study
        cv["validation"] = describe_validation(search)
    text = json.dumps([base, space, search.sampler, cv], sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def config_key(combo: dict[str, Any]) -> str:
    """A stable id for a configuration (its grid slot, its MLflow tag)."""
    return hashlib.sha1(json.dumps(combo, sort_keys=True).encode()).hexdigest()[:12]


def describe_validation(search: Search) -> str:
    """How every trial is scored: the study's one validation protocol, in words."""
    folds = f"val/loss on the held-out fold of {search.cv.folds}"
    if search.validation is None:
        return folds
    source = "cv.score" if search.cv.score is not None else "the base config's training noise"
    return f"{folds}, every trial under {search.validation.describe()} ({source})"


def describe(combo: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in combo.items()) or "base config"
