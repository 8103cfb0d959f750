"""The run configuration: pydantic sections with unknown keys rejected.

Names that belong to a registry are checked against it, never copied here: networks and
their options (`mnistmax.models`), noise kinds
(`mnistmax.data.noise`), losses (`mnistmax.losses`). `model:` holds `name` and the chosen
network's own keyword arguments, validated against its signature; after validation it
holds every argument the network is built with, defaults included.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mnistmax.config.noise import NoiseConfig
from mnistmax.config.section import Section, named_preset
from mnistmax.data.augment import AUGMENT_PRESETS, AugmentParams
from mnistmax.data.folder import PREPROCESS
from mnistmax.data.sources import SOURCES
from mnistmax.losses import LOSSES

DATA_CHANNELS = 1  # every data source yields grayscale (B, 1, 28, 28) digits


class DataConfig(Section):
    source: SOURCES.name_field() = "auto"  # auto | embedded | torchvision | idx | npz | folder
    dataset: Literal["mnist", "fashion_mnist", "kmnist"] = "mnist"
    root: str = "data"
    download: bool = False
    # data.source=npz: the arrays' names, {train_images, train_labels, test_images, test_labels} (default
    # Keras' x_train, y_train, x_test, y_test); data.root is the .npz file (or an .npy array of images)
    keys: dict[str, str] | None = None
    # how many classes the labels name (0..K-1): None = from the data (max label + 1; 0 for unlabelled data: a
    # flat folder, arrays without labels), which train() records in config.yaml; classifier heads and the
    # contrastive probe take it
    num_classes: int | None = Field(None, ge=0)
    # the classes' names, label 0 first: None = from the data (a folder's class subfolders; numbers for other
    # sources), which train() records; set it to name IDX or npz classes (EMNIST letters: [a, b, ...]).
    # `mnistmax classify` and Model.class_names show them
    class_names: list[str] | None = None
    # data.source=folder: how each picture becomes a 28x28 digit: `mnist` (polarity, 20x20 box, centre of
    # mass, as MNIST was made) or `resize` (polarity, the whole picture scaled)
    preprocess: Literal[PREPROCESS] = "mnist"
    test_fraction: float = Field(0.1, gt=0, lt=1)
    val_fraction: float = Field(0.1, gt=0, lt=1)
    limit_train: int | None = Field(None, gt=0)
    limit_test: int | None = Field(None, gt=0)
    batch_size: int = Field(64, gt=0)
    binarize: bool = False
    threshold: float = Field(0.5, gt=0, lt=1)


    @field_validator("keys")
    @classmethod
    def _known_array_names(cls, keys: dict[str, str] | None) -> dict[str, str] | None:
        from mnistmax.data.arrays import NPZ_KEYS

        unknown = sorted(set(keys or {}) - set(NPZ_KEYS))
        if unknown:
            raise ValueError(f"{unknown[0]}: not an array of a split; valid: {', '.join(NPZ_KEYS)}")
        return keys


class ModelConfig(BaseModel):
    """`name` plus the network's keyword arguments (checked in RunConfig, which knows the task)."""

    model_config = ConfigDict(extra="allow", validate_assignment=True, allow_inf_nan=False)
    name: str = "unet_dae"

    @field_validator("name")
    @classmethod
    def _known_model(cls, name: str) -> str:
        from mnistmax.models import get_entry

        get_entry(name)  # one line naming the valid ones when it is not registered
        return name

    def options(self) -> dict:
        """The keyword arguments the network is built with."""
        return dict(self.__pydantic_extra__ or {})


class AugmentConfig(AugmentParams):
    # denoise / autoencoder / vae / classify: augment the clean training digits (contrastive always augments)
    enabled: bool = False
    consistent: bool = False  # one warp, erasing box and brightness for the whole batch (sampled triplets: per triplet)
    # a named strength, light | default | strong (AUGMENT_PRESETS in mnistmax/data/augment, printed in
    # docs/configuration.md): the augment keys above it; keys a config sets win over it
    preset: Literal[tuple(AUGMENT_PRESETS)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _fill_from_preset(cls, data):
        """augment.preset's keys where the config sets none."""
        name = named_preset(data, AUGMENT_PRESETS)
        return data if name is None else {**AUGMENT_PRESETS[name], **data}


class TrainConfig(Section):
    epochs: int = Field(20, gt=0)
    lr: float = Field(2e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    warmup_epochs: float = Field(1.0, ge=0)
    loss: LOSSES.name_field() = "l2"
    # further loss terms by weight, added to train.loss (weight 1 unless named here):
    # {perceptual: 0.1} trains on l2 + 0.1 * perceptual
    loss_weights: dict[str, float] | None = None
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
    max_time_minutes: float | None = Field(None, gt=0)  # time budget: epochs and LR schedule fitted to it

    @field_validator("loss_weights")
    @classmethod
    def _known_losses(cls, weights: dict[str, float] | None) -> dict[str, float] | None:
        if weights is None:
            return None
        for name, weight in weights.items():
            LOSSES.check(name)
            if weight < 0:
                raise ValueError(f"{name}: weight {weight} is negative")
        return weights

    @model_validator(mode="after")
    def _some_weight(self):
        if self.loss_weights is not None and not any(w > 0 for w in self.loss_terms().values()):
            raise ValueError("loss_weights: every loss term has weight 0")
        return self

    def loss_terms(self) -> dict[str, float]:
        """{loss name: weight} of the objective: train.loss (weight 1 unless loss_weights names it)
        and every term of loss_weights."""
        return {self.loss: 1.0, **(self.loss_weights or {})}

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


POINT_SCORES = ("precision", "recall", "recall_visible", "specificity", "ablation_efficiency", "f_beta")
PointScore = Literal["precision", "recall", "recall_visible", "specificity", "ablation_efficiency", "f_beta"]


class OperatingPoint(Section):
    """A rule that picks a bitmap model's output threshold on the validation split: the threshold
    whose `subject_to` minimums hold at every one of `levels` and whose `maximize` score, averaged
    over them, is highest (`mnistmax.eval.operating.choose_threshold`)."""

    maximize: PointScore = "ablation_efficiency"
    subject_to: dict[PointScore, float] = Field(default_factory=dict)
    beta: float = Field(1.0, gt=0)  # f_beta's beta: below 1 weighs precision more, above 1 recall
    noise: str | None = None  # the noise kind drawn on validation (default: noise.kind)
    levels: list[float] | None = None  # its levels (default: the levels eval reports)

    @field_validator("subject_to")
    @classmethod
    def _fractions(cls, bounds: dict) -> dict:
        for key, value in bounds.items():
            if not 0 <= value <= 1:
                raise ValueError(f"{key}: a minimum is a fraction in [0, 1] (got {value})")
        return bounds

    @field_validator("noise")
    @classmethod
    def _known_kind(cls, kind: str | None) -> str | None:
        from mnistmax.data.noise import check_noise_kind

        return kind if kind is None else check_noise_kind(kind)

    @field_validator("levels")
    @classmethod
    def _levels(cls, levels):
        if levels is not None and not levels:
            raise ValueError("give at least one level, or leave levels out for the eval levels")
        return levels if levels is None else NoiseConfig._levels_in_range(levels)


class EvalConfig(Section):
    batch_size: int = Field(1000, gt=0)
    seed: int = 1234
    baselines: bool = True
    lpips: bool = False  # `mnistmax eval` also computes LPIPS (--lpips / --no-lpips override it)
    checkpoint: Literal["best", "last"] = "best"  # what eval, viz, report and compare load (--checkpoint overrides it)
    # bitmap runs (data.binarize): the model's output is ink where it is above `threshold`, unless
    # operating_point (one rule, or {name: rule}; the first is the one used) chooses it on validation
    threshold: float = Field(0.5, gt=0, lt=1)
    operating_point: dict[str, OperatingPoint] | None = None

    @field_validator("operating_point", mode="before")
    @classmethod
    def _named(cls, value):
        """One rule is the point named `main`."""
        if isinstance(value, dict) and value and set(value) <= set(OperatingPoint.model_fields):
            return {"main": value}
        return value


class VizConfig(Section):
    enabled: bool = True
    every_n_epochs: int = Field(1, gt=0)
    # the live curves (reports/curves_latest.png) are also redrawn every N optimisation steps; 0: once an epoch
    every_n_steps: int = Field(50, ge=0)
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
    tensorboard: bool = False  # also log to <run>/tensorboard/ (Lightning's TensorBoardLogger; the tensorboard extra)
    tracking_uri: str | None = None
    experiment: str = "mnistmax"
    progress: Literal["rich", "plain", "none"] = "rich"


class RunConfig(Section):
    """Every task's shared sections. A task's own sections (`contrastive:`, `vae:`: its
    `options`) are further top-level keys, checked by the task (mnistmax.tasks.configure)."""

    model_config = ConfigDict(extra="allow", validate_assignment=True, allow_inf_nan=False)
    name: str = Field("run", pattern=r"^[A-Za-z0-9_.-]+$")
    task: str = "denoise"  # a plain string here: mnistmax.tasks.configure checks it against TASKS
    seed: int = 42
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    noise: NoiseConfig = Field(default_factory=NoiseConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    viz: VizConfig = Field(default_factory=VizConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)

    @model_validator(mode="after")
    def _model_options_complete(self):
        """Every model key is one of the network's arguments; the section is then completed with
        the network's defaults (what is built is what is shown). Whether the network serves the
        task is the task's check (mnistmax.tasks.configure)."""
        from mnistmax.models import model_options

        options = model_options(self.model.name, self.model.options())
        for key in ("in_ch", "out_ch"):
            if options.get(key, DATA_CHANNELS) != DATA_CHANNELS:
                raise ValueError(f"model.{key}: the data has {DATA_CHANNELS} channel (grayscale), not {options[key]}; "
                                 f"other channel counts are for networks built in Python "
                                 f"(create_model({self.model.name!r}, {key}={options[key]}))")
        self.model.__pydantic_extra__.clear()
        self.model.__pydantic_extra__.update(options)
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
