"""The `noise:` section: kinds, training and test levels, the curriculum (`schedule`), each
kind's parameters (`params`, checked against the kind's function), mixtures, presets and the
training noise's own seed.
Names and parameters come from the noise registry (`mnistmax.data.noise`), never copied here."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from mnistmax.config.section import Level, Section, named_preset
from mnistmax.data.noise import PRESETS, SCHEDULES


class NoiseSchedule(Section):
    """Curriculum: the training level range widens from `start` to the final range (noise.
    train_sigma_range, or the span of noise.train_sigmas) over the first `ramp` share of the
    planned epochs; `linear` moves every epoch, `step` in `steps` equal jumps."""

    mode: SCHEDULES.name_field() = "linear"  # linear | step
    start: tuple[Level, Level] = (0.0, 0.3)
    ramp: float = Field(0.5, gt=0, le=1)  # share of the planned epochs (train.epochs, or the time budget's plan)
    steps: int = Field(4, ge=1)  # mode=step: jumps from start to the final range

    @field_validator("start")
    @classmethod
    def _ordered(cls, levels):
        low, high = levels
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(f"needs 0 <= low <= high <= 1, got [{low}, {high}]")
        return levels


class ValidationNoise(Section):
    """One fixed noise setting to validate under (val/loss, early stopping, the best checkpoint)
    instead of the training noise: a search scores every trial under the same one (cv.score).
    `levels`: each image's level drawn from the list; `range`: uniform in [low, high]."""

    kind: str
    levels: list[Level] | None = None
    range: tuple[Level, Level] | None = None

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        return _check_noise_kind(kind)

    @field_validator("levels", "range")
    @classmethod
    def _levels_in_range(cls, levels):
        return _check_levels(levels)

    @model_validator(mode="after")
    def _one_of_levels_or_range(self):
        if (self.levels is None) == (self.range is None):
            raise ValueError("give either levels: [..] or range: [low, high]")
        if self.range is not None and self.range[0] > self.range[1]:
            raise ValueError("range: low must not exceed high")
        return self

    def describe(self) -> str:
        if self.range is not None:
            return f"{self.kind} noise, level uniform in [{self.range[0]:g}, {self.range[1]:g}]"
        return f"{self.kind} noise at level {' / '.join(f'{lv:g}' for lv in self.levels)}"


def _check_levels(levels):
    if levels is None:
        return levels
    if len(levels) == 0:
        raise ValueError("needs at least one level")
    for level in levels:
        if not 0.0 <= level <= 1.0:
            raise ValueError(f"level {level} is outside [0, 1] (0 = clean, 1 = maximum corruption)")
    return levels


def _check_noise_kind(kind: str) -> str:
    from mnistmax.data.noise import check_noise_kind

    return check_noise_kind(kind)


def _used_kinds(kind: str, eval_kinds: list[str] | None) -> set[str]:
    """The noise kinds a run draws: its kind, its eval kinds, and the kinds of any mixture among them."""
    from mnistmax.data.noise import MIXTURES

    kinds = {kind, *(eval_kinds or [])}
    return kinds | {k for m in kinds for k in MIXTURES.get(m, ())}


class NoiseConfig(Section):
    # a named set of the keys below (mild | default | aggressive: PRESETS in mnistmax/data/noise, printed in
    # the README); keys a config sets win over it
    preset: Literal[tuple(PRESETS)] | None = None
    kind: str = "gaussian"
    train_sigmas: list[Level] = Field(default_factory=lambda: [0.1, 0.3, 0.5, 0.7, 0.9])
    train_sigma_range: tuple[Level, Level] | None = None
    test_sigmas: list[Level] = Field(default_factory=lambda: [0.1, 0.2, 0.3, 0.5, 0.7, 1.0])
    eval_kinds: list[str] | None = None
    clip: bool = True
    # share of every training batch left clean (input = target), so the model learns to leave
    # clean digits alone; eval then adds σ = 0 to its table
    clean_ratio: float = Field(0.0, ge=0.0, lt=1.0)
    # the training noise's own seed (levels, noise, clean_ratio's picks), so the same data order (the run's seed)
    # trains on other noise draws; None: drawn from the run's seed. Order, augmentation and validation keep theirs
    seed: int | None = None
    schedule: NoiseSchedule | None = None  # curriculum (None: the final range from the first epoch)
    # each kind's own parameters, {kind: {parameter: value}}, checked against the kind's function
    params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    kinds_per_image: int = Field(1, ge=1, le=5)  # mixed / add_mixed: this many kinds composed in one image
    # validation under other noise than training's (None: the training noise, its final range); a search
    # sets it on every fold to its one validation protocol (cv.score)
    validation: ValidationNoise | None = None

    @model_validator(mode="before")
    @classmethod
    def _fill_from_preset(cls, data):
        """noise.preset's keys where the config sets none; its parameters only for the kinds the run draws."""
        name = named_preset(data, PRESETS)
        if name is None:
            return data
        data = dict(data)
        preset = PRESETS[data["preset"]]
        used = _used_kinds(data.get("kind", "gaussian"), data.get("eval_kinds"))
        for key, value in preset.items():
            if key == "params":
                own = dict(data.get("params") or {})
                data["params"] = {**{k: v for k, v in value.items() if k in used and k not in own}, **own}
            elif key not in data and not (key == "train_sigma_range" and "train_sigmas" in data):
                data[key] = value
        return data

    @field_validator("params")
    @classmethod
    def _known_params(cls, params: dict) -> dict:
        from mnistmax.data.noise import check_noise_params

        return {_check_noise_kind(kind): check_noise_params(kind, values or {}) for kind, values in params.items()}

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        return _check_noise_kind(kind)

    @field_validator("eval_kinds")
    @classmethod
    def _known_kinds(cls, kinds: list[str] | None) -> list[str] | None:
        return None if kinds is None else [_check_noise_kind(k) for k in kinds]

    @field_validator("train_sigmas", "test_sigmas", "train_sigma_range")
    @classmethod
    def _levels_in_range(cls, levels):
        return _check_levels(levels)

    @model_validator(mode="after")
    def _range_ordered(self):
        if self.train_sigma_range is not None and self.train_sigma_range[0] > self.train_sigma_range[1]:
            raise ValueError("train_sigma_range: low must not exceed high")
        unused = sorted(set(self.params) - self.kinds_drawn())
        if unused:
            raise ValueError(f"params.{unused[0]}: this run draws no {unused[0]} noise (noise.kind {self.kind}, "
                             f"eval_kinds {self.eval_kinds or 'none'}); remove it")
        if self.schedule is not None:
            (low, high), (final_low, final_high) = self.schedule.start, self.final_range()
            if not final_low - 1e-9 <= low <= high <= final_high + 1e-9:
                raise ValueError(f"schedule.start [{low}, {high}] must lie inside the final training range "
                                 f"[{final_low}, {final_high}] (the curriculum widens it)")
        return self

    def final_range(self) -> tuple[float, float]:
        """The training levels' span: train_sigma_range, or that of train_sigmas."""
        if self.train_sigma_range is not None:
            return tuple(self.train_sigma_range)
        return min(self.train_sigmas), max(self.train_sigmas)

    def validation_noise(self) -> ValidationNoise:
        """What validation draws: noise.validation, else the training noise at its final range."""
        if self.validation is not None:
            return self.validation
        if self.train_sigma_range is not None:
            return ValidationNoise(kind=self.kind, range=tuple(self.train_sigma_range))
        return ValidationNoise(kind=self.kind, levels=list(self.train_sigmas))

    def kinds_to_evaluate(self) -> list[str]:
        return self.eval_kinds or [self.kind]

    def options(self) -> dict:
        """apply_noise's keyword arguments for these settings (each kind's params, kinds per image)."""
        return {"params": self.params, "kinds_per_image": self.kinds_per_image}

    def kinds_drawn(self) -> set[str]:
        """Every noise kind the run draws: training, validation, eval, and their mixtures' kinds."""
        return _used_kinds(self.kind, [*(self.eval_kinds or []), *([self.validation.kind] if self.validation else [])])

    def uses_mixture(self) -> bool:
        from mnistmax.data.noise import MIXTURES

        return bool(self.kinds_drawn() & set(MIXTURES))

    def levels_to_evaluate(self) -> list[float]:
        """test_sigmas, with 0 (clean inputs) first when the model trained on clean inputs too."""
        if self.clean_ratio > 0 and 0.0 not in self.test_sigmas:
            return [0.0, *self.test_sigmas]
        return list(self.test_sigmas)
