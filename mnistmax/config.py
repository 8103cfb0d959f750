"""Run configuration: pydantic models (unknown keys rejected), YAML files, KEY=VALUE overrides.

    cfg = load_config("configs/mnist.yaml", ["train.epochs=3", "model.name=conv_dae"])

Every problem raises `ConfigError` with one line that names the key and what is valid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mnistmax.errors import ConfigError

NOISE_KINDS = (
    "gaussian", "salt_pepper", "pixel_flip", "lines", "blocks", "mixed",
    "add_pixels", "add_lines", "add_blocks", "add_blobs", "add_border", "add_mixed",  # additive-only
)
LOSSES = ("l2", "l1", "charbonnier", "bce", "weighted_bce", "precision_bce", "dice", "fp_penalty", "combined")
DATASETS = ("mnist", "fashion_mnist", "kmnist")

Level = float


class Section(BaseModel):
    # allow_inf_nan=False: train.lr=.inf is a config error, not a run that diverges
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class DataConfig(Section):
    source: Literal["auto", "embedded", "torchvision", "idx"] = "auto"
    dataset: Literal["mnist", "fashion_mnist", "kmnist"] = "mnist"
    root: str = "data"
    download: bool = False
    test_fraction: float = Field(0.1, gt=0, lt=1)
    val_fraction: float = Field(0.1, gt=0, lt=1)
    limit_train: int | None = Field(None, gt=0)
    limit_test: int | None = Field(None, gt=0)
    batch_size: int = Field(64, gt=0)
    binarize: bool = False
    threshold: float = Field(0.5, gt=0, lt=1)


class ModelConfig(Section):
    name: str = "unet_dae"
    base_ch: int = Field(32, gt=0, le=512)
    num_downs: int = Field(2, ge=1, le=3)
    embedding_dim: int = Field(128, gt=0, le=4096)
    latent_dim: int = Field(12, gt=0, le=1024)

    @field_validator("name")
    @classmethod
    def _known_model(cls, name: str) -> str:
        from mnistmax.registry import list_models

        valid = list_models()
        if name not in valid:
            raise ValueError(f"unknown model {name!r}; valid: {', '.join(valid)}")
        return name


TASK_FAMILIES = {"denoise": "denoise", "contrastive": "encoder", "autoencoder": "autoencoder", "vae": "vae",
                 "classify": "classifier"}


class VAEConfig(Section):
    beta: float = Field(1.0, ge=0)
    kl_warmup_epochs: float = Field(5.0, ge=0)
    iw_samples: int = Field(100, ge=1, le=5000)


class ContrastiveConfig(Section):
    loss: Literal["ntxent", "supcon", "infonce", "triplet"] = "ntxent"
    temperature: float = Field(0.2, gt=0)
    projection_dim: int = Field(128, gt=0)
    margin: float = Field(0.2, gt=0)
    mining: Literal["batch_all", "batch_hard", "semi_hard"] = "batch_hard"
    probe_lr: float = Field(1e-2, gt=0)

    def uses_labels(self) -> bool:
        return self.loss in ("supcon", "triplet")


class AugmentConfig(Section):
    enabled: bool = False  # denoise / autoencoder / vae / classify: augment the clean training digits (contrastive always augments)
    rotation: float = Field(15.0, ge=0, le=180)
    translate: float = Field(0.12, ge=0, le=0.5)
    scale: tuple[float, float] = (0.85, 1.15)
    elastic: float = Field(0.0, ge=0, le=5)
    erase_prob: float = Field(0.25, ge=0, le=1)
    brightness: tuple[float, float] = (0.7, 1.0)
    consistent: bool = False


class NoiseConfig(Section):
    kind: str = "gaussian"
    train_sigmas: list[Level] = Field(default_factory=lambda: [0.1, 0.3, 0.5, 0.7, 0.9])
    train_sigma_range: tuple[Level, Level] | None = None
    test_sigmas: list[Level] = Field(default_factory=lambda: [0.1, 0.2, 0.3, 0.5, 0.7, 1.0])
    eval_kinds: list[str] | None = None
    clip: bool = True

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
        if levels is None:
            return levels
        if len(levels) == 0:
            raise ValueError("needs at least one level")
        for level in levels:
            if not 0.0 <= level <= 1.0:
                raise ValueError(f"level {level} is outside [0, 1] (0 = clean, 1 = maximum corruption)")
        return levels

    @model_validator(mode="after")
    def _range_ordered(self):
        if self.train_sigma_range is not None and self.train_sigma_range[0] > self.train_sigma_range[1]:
            raise ValueError("train_sigma_range: low must not exceed high")
        return self

    def kinds_to_evaluate(self) -> list[str]:
        return self.eval_kinds or [self.kind]


def _check_noise_kind(kind: str) -> str:
    if kind not in NOISE_KINDS:
        raise ValueError(f"unknown noise kind {kind!r}; valid: {', '.join(NOISE_KINDS)}")
    return kind


class TrainConfig(Section):
    epochs: int = Field(20, gt=0)
    lr: float = Field(2e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    warmup_epochs: float = Field(1.0, ge=0)
    loss: Literal["l2", "l1", "charbonnier", "bce", "weighted_bce", "precision_bce", "dice", "fp_penalty",
                  "combined"] = "l2"
    amp: Literal["auto", "off", "bf16", "fp16"] = "auto"
    fp_weight: float = Field(5.0, gt=0)  # cost of a false positive vs a miss in precision_bce / combined
    ema: bool = True
    ema_decay: float = Field(0.999, gt=0, lt=1)
    grad_clip: float | None = Field(1.0, gt=0)
    patience: int | None = Field(None, gt=0)
    accelerator: Literal["auto", "cpu", "gpu", "cuda", "mps"] = "auto"
    devices: int | str = 1
    strategy: str = "auto"  # Lightning strategy: auto, ddp, ddp_spawn, fsdp, ...
    num_nodes: int = Field(1, ge=1)
    channels_last: Literal["auto"] | bool = "auto"  # auto: on for conv nets on the CPU (measured, docs/PERFORMANCE.md)
    compile: bool = False  # torch.compile the network
    max_time_minutes: float | None = Field(None, gt=0)

    @field_validator("channels_last", mode="before")
    @classmethod
    def _auto_or_bool(cls, value):
        if value == "auto" or isinstance(value, bool):
            return value
        raise ValueError("must be auto, true or false")

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, name: str) -> str:
        from lightning.pytorch.strategies import StrategyRegistry

        valid = ["auto", *StrategyRegistry.available_strategies()]
        if name not in valid:
            raise ValueError(f"unknown strategy {name!r}; valid: {', '.join(valid)}")
        return name

    @field_validator("amp", mode="before")
    @classmethod
    def _bool_amp(cls, value):
        if isinstance(value, bool):  # amp: true / false in YAML
            return "auto" if value else "off"
        return value


class EvalConfig(Section):
    batch_size: int = Field(1000, gt=0)
    seed: int = 1234
    baselines: bool = True
    lpips: bool = False
    checkpoint: Literal["best", "last"] = "best"


class VizConfig(Section):
    enabled: bool = True
    every_n_epochs: int = Field(1, gt=0)
    n_digits: int = Field(8, ge=1, le=16)
    sigma: float = Field(0.5, ge=0, le=1)
    panel_digits: int = Field(3, ge=1, le=8)
    panel_sigmas: list[float] = Field(default_factory=lambda: [round(0.1 * i, 1) for i in range(11)])

    @field_validator("panel_sigmas")
    @classmethod
    def _levels(cls, levels):
        return NoiseConfig._levels_in_range(levels)


class LoggingConfig(Section):
    output_dir: str = "outputs"
    mlflow: bool = False
    tracking_uri: str | None = None
    experiment: str = "mnistmax"
    progress: Literal["rich", "plain", "none"] = "rich"


class RunConfig(Section):
    name: str = Field("run", pattern=r"^[A-Za-z0-9_.-]+$")
    task: Literal["denoise", "contrastive", "autoencoder", "vae", "classify"] = "denoise"
    seed: int = 42
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    noise: NoiseConfig = Field(default_factory=NoiseConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    viz: VizConfig = Field(default_factory=VizConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    contrastive: ContrastiveConfig = Field(default_factory=ContrastiveConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    vae: VAEConfig = Field(default_factory=VAEConfig)

    @model_validator(mode="after")
    def _model_fits_task(self):
        from mnistmax.registry import get_entry, list_models

        family = TASK_FAMILIES[self.task]
        if get_entry(self.model.name).family != family:
            valid = ", ".join(list_models(family))
            raise ValueError(f"model.name: {self.model.name!r} cannot run task {self.task!r}; valid: {valid}")
        return self

    @model_validator(mode="after")
    def _options_agree(self):
        """Settings that are each valid but cannot hold together."""
        if self.train.amp == "fp16" and self.train.accelerator in ("cpu", "mps"):
            raise ValueError(f"train.amp=fp16 needs a CUDA GPU but train.accelerator={self.train.accelerator}; "
                             "use train.amp bf16, auto or off, or train.accelerator gpu")
        if self.data.source == "embedded" and self.data.dataset != "mnist":
            raise ValueError(f"data.source=embedded holds only mnist, not data.dataset={self.data.dataset}; "
                             "use data.source torchvision or idx")
        return self


# ---------------------------------------------------------------- loading and overrides


def parse_override(text: str) -> tuple[list[str], Any]:
    """`train.epochs=3` -> (["train", "epochs"], 3); the value is read as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not KEY=VALUE (e.g. train.epochs=3)")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {text!r} has an empty key (e.g. train.epochs=3)")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except (yaml.YAMLError, ValueError):  # ValueError: a YAML date that does not exist (2001-13-45)
        value = raw  # let validation judge it as a string
    return key.split("."), value


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    for text in overrides:
        parts, value = parse_override(text)
        node = raw
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{'.'.join(parts[: i + 1])} is not a section; cannot set {'.'.join(parts)}")
            node = child
        node[parts[-1]] = value
    return raw


def read_yaml_mapping(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config file {str(path)!r} is not valid YAML{where}") from None
    except ValueError as exc:  # a value YAML cannot build, e.g. the date 2001-13-45
        raise ConfigError(f"config file {str(path)!r} holds a value YAML cannot read ({exc})") from None
    if raw is None:
        raise ConfigError(f"config file {str(path)!r} is empty")
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of sections, not {type(raw).__name__}")
    return raw


def deep_merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def read_config_file(path: str | Path, _seen: tuple = ()) -> dict:
    """A YAML config; `extends: other.yaml` (relative to this file) is read first and
    this file's keys are merged over it."""
    path = Path(path)
    if path.resolve() in _seen:
        raise ConfigError(f"config file {str(path)!r} extends itself (cycle through {', '.join(map(str, _seen))})")
    raw = read_yaml_mapping(path)
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    if not isinstance(parent, str):
        raise ConfigError(f"{path}: extends must be a file name, not {parent!r}")
    return deep_merge(read_config_file(path.parent / parent, (*_seen, path.resolve())), raw)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    raw = read_config_file(path) if path is not None else {}
    return validate_config(apply_overrides(raw, list(overrides or [])), source=str(path) if path else None)


def validate_config(raw: dict, source: str | None = None) -> RunConfig:
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None


def _describe(exc: ValidationError, source: str | None) -> str:
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"] if not str(p).isdigit()]
    key = ".".join(loc) or "<root>"
    prefix = f"{source}: " if source else ""
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    if err["type"] == "extra_forbidden":
        section = _section_model(loc[:-1])
        valid = ", ".join(section.model_fields) if section else ""
        return f"{prefix}{key}: unknown key; valid keys here: {valid}{more}"
    msg = err["msg"].removeprefix("Value error, ")
    if not loc:  # a check across sections: its message names the keys itself
        return f"{prefix}{msg}{more}"
    if err["type"] == "literal_error":
        msg = msg.replace("Input should be", "must be one of")
    return f"{prefix}{key}: {msg} (got {err.get('input')!r}){more}"


def _section_model(loc: list[str]):
    model = RunConfig
    for part in loc:
        field = model.model_fields.get(part)
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return None
        model = field.annotation
    return model


def config_to_dict(cfg: RunConfig) -> dict:
    return cfg.model_dump(mode="json")


def dump_yaml(cfg: RunConfig) -> str:
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False)
