"""BaseTask: the one LightningModule every task subclasses (the registry is tasks.registry).

It owns the config, the network (built from `model:` with the registry's strict options),
the optimizer (AdamW, no weight decay on norms and biases), the warmup + cosine schedule,
NaN detection, and one-line train/val/test steps around a `model_step(batch, stage)` that
subclasses implement.

Everything that differs between tasks is a class attribute or a method here, overridden
by the task's class: the networks it accepts (`family`), the config sections and keys it
uses (`sections`, `unused`), how a batch is made (`make_batch`), what it draws while
training (`training_callbacks`) and for `mnistmax viz` (`pictures`, `recon_grid`), what it
can do for a user (`capabilities`), how it is evaluated (`evaluate`, `eval_tables`,
`headline`) and what its report shows (`report_sections`, `prepare_report`). Code outside
`tasks/` asks the class; it never compares task names.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import ModuleType
from typing import ClassVar

import lightning as L
import torch

from mnistmax.config import RunConfig
from mnistmax.errors import MnistmaxError, RunError
from mnistmax.hardware import resolve_channels_last, use_fused_adamw
from mnistmax.models import create_model
from mnistmax.tasks.configure import option_sections, resolve_options
from mnistmax.tasks.registry import tasks_that

OPTIONAL_SECTIONS = {  # sections a task may leave unused, with the reason a user is shown
    "noise": "it trains on clean digits",
    "augment": "it does not augment",
    "viz": "it draws no pictures while training",
}


def intervals(rows: list[dict], key: str) -> dict[str, list[float]]:
    """{method: [low, high]}: the rows' 95 % bootstrap intervals of `key`, where they have one."""
    return {r["method"]: [r[f"{key}_ci95_lo"], r[f"{key}_ci95_hi"]] for r in rows if f"{key}_ci95_lo" in r}


class TrainingDiverged(MnistmaxError):
    """The loss became NaN or infinite."""


def warmup_cosine(step: int, warmup_steps: int, total_steps: int, floor: float = 0.01) -> float:
    """LR multiplier: linear warmup to 1, then cosine decay to `floor`."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


class BaseTask(L.LightningModule):
    name: ClassVar[str]
    family: ClassVar[str]  # the registry family of the networks it trains
    also_trains: ClassVar[tuple[str, ...]] = ()  # further families it accepts (denoise: a VAE denoises too)
    sections: ClassVar[tuple[str, ...]] = ()  # optional config sections it reads (OPTIONAL_SECTIONS)
    uses_loss: ClassVar[bool] = False  # whether train.loss chooses its loss
    # reconstruct, denoise, embed, encode, decode, sample, classify; an instance may add what its network
    # can do (a denoise run with a VAE also encodes, decodes and samples): ask `task.capabilities`
    capabilities: ClassVar[frozenset[str]] = frozenset()
    eval_stem: ClassVar[str] = "eval"  # `mnistmax eval` writes eval/<eval_stem>.{json,csv,md}
    next_command: ClassVar[str] = "eval"  # what `mnistmax train` suggests running next on the run
    sync_batchnorm: ClassVar[bool] = False  # several processes: BatchNorm statistics over the global batch
    report: ClassVar[ModuleType | None] = None  # a report module (mnistmax.report.<name>): SECTIONS, prepare()
    # the task's own config sections, {key: pydantic model} (solo-learn's method_kwargs): `contrastive:`,
    # `vae:`; validated like `model:`, unused (and refused when set) by every task that does not declare them
    options: ClassVar[dict[str, type]] = {}

    def __init__(self, config: dict):
        super().__init__()
        self.save_hyperparameters({"config": config})  # plain dict: the checkpoint rebuilds the model
        self.cfg = resolve_options(RunConfig.model_validate(config))
        self.net = create_model(self.cfg.model.name, **self.cfg.model.options())
        self._loss = None  # loss_function(), built on first use
        self.loss_networks: dict = {}  # what the loss needs and train() prepares (a perceptual loss's judge)

    # ------------------------------------------------------------ what the task uses

    @classmethod
    def unused(cls, cfg: RunConfig) -> dict[str, str]:
        """{dotted key or section: why this task does not use it} for this config."""
        out = {s: reason for s, reason in OPTIONAL_SECTIONS.items() if s not in cls.sections}
        out |= {key: model.absent for key, model in option_sections().items() if key not in cls.options}
        if not cls.uses_loss:
            out["train.loss"] = out["train.fp_weight"] = out["train.loss_weights"] = "its loss is fixed"
        else:
            from mnistmax.losses import takes_option

            if not any(takes_option(name, "fp_weight") for name in cfg.train.loss_terms()):
                out["train.fp_weight"] = f"train.loss={cfg.train.loss} has no false-positive weight"
        if not cfg.data.binarize:
            out["data.threshold"] = "data.binarize is off"
        if cfg.data.source != "npz":
            out["data.keys"] = "data.source is not npz"
        if cfg.data.source != "folder":
            out["data.preprocess"] = "data.source is not folder"
        if not cfg.train.ema:
            out["train.ema_decay"] = "train.ema is off"
        if "augment" in cls.sections and not cfg.augment.enabled:
            for key in cfg.augment.model_fields:
                if key != "enabled":
                    out[f"augment.{key}"] = "augment.enabled is off"
        out["eval.baselines"] = out["eval.lpips"] = "its evaluation has no baselines or LPIPS"
        out["eval.threshold"] = out["eval.operating_point"] = \
            "only bitmap denoisers (data.binarize) threshold their output"
        return out

    @classmethod
    def needs_labels(cls, cfg: RunConfig) -> str | None:
        """Why this config trains on labels (a classifier learns them, SupCon pulls a class together), or
        None when it trains on unlabelled data too (train() refuses unlabelled data up front otherwise)."""
        return None

    @classmethod
    def families(cls) -> tuple[str, ...]:
        """The registry families of the networks this task trains."""
        return (cls.family, *cls.also_trains)

    def require(self, capability: str, what: str) -> None:
        """A one-line error when this model cannot do `capability`."""
        if capability not in self.capabilities:
            raise RunError(self.cannot(capability, what))

    @classmethod
    def cannot(cls, capability: str, what: str) -> str:
        """The line that says `what` needs another task's run, and which tasks can."""
        can = ", ".join(tasks_that(capability))
        return f"{what} needs a run whose task can {capability} ({can}); this is a {cls.name} run"

    # ------------------------------------------------------------ data and training

    def make_batch(self, images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator,
                   training: bool) -> dict:
        """(uint8 images, labels) on any device -> the batch dict model_step takes."""
        from mnistmax.data.datamodule import plain_batch

        return plain_batch(images, labels, self.cfg, generator, training)

    def loss_function(self):
        """train.loss (plus train.loss_weights' terms) as (pred, target) -> (loss, {name: term}),
        with the networks the terms need bound (`loss_networks`, handed over by train()): built
        on first use."""
        if self._loss is None:
            from mnistmax.tasks.objective import build_objective

            self._loss = build_objective(self.cfg, self.device, self.loss_networks)
        return self._loss

    def reconstruction_loss(self, pred: torch.Tensor, target: torch.Tensor, stage: str):
        """(loss, metrics): the objective, and each term as `loss_<name>` off training when there are several."""
        total, terms = self.loss_function()(pred, target)
        metrics = {f"loss_{name}": term.detach() for name,
                   term in terms.items()} if len(terms) > 1 and stage != "train" else {}
        return total, metrics

    def balanced_batches(self) -> bool:
        """Whether training batches interleave the classes (losses that need positives)."""
        return False

    def training_callbacks(self, run_dir: Path) -> list:
        """Callbacks that draw this task's pictures while it trains."""
        return []

    def after_training(self, load_run, echo=print) -> None:
        """What a finished run stores beside its checkpoints; `load_run()` gives the run loaded from
        its best checkpoint (nothing to store by default)."""

    def model_step(self, batch, stage: str) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def transfer_source(self) -> tuple[dict, dict]:
        """(a classifier's model section, its `encoder` weights) for transfer learning from this run."""
        raise RunError(f"transfer learning needs a run with an encoder (tasks autoencoder, vae, contrastive); "
                       f"this is a {self.name} run")

    # ------------------------------------------------------------ evaluation and report

    def evaluate(self, run, lpips: bool = False, warn=print) -> list[dict]:
        """Rows of test-split numbers for `mnistmax eval` (eval/<eval_stem>.json)."""
        raise NotImplementedError

    def export_graphs(self, threshold: float | None = None) -> list:
        """The functions of its model that `mnistmax export` writes (mnistmax.tasks.graphs.Graph);
        `threshold`: a bitmap denoiser's output threshold."""
        from mnistmax.errors import MnistmaxError

        raise MnistmaxError(f"task {self.name} has nothing to export")

    def pictures(self, run) -> list[Path]:
        """Every picture `mnistmax viz all` draws for a loaded run of this task: its curves here."""
        from mnistmax.viz import commands

        return [commands.curves(run.run_dir)] if (run.run_dir / "metrics.csv").is_file() else []

    def recon_grid(self, cfg: RunConfig, clean: torch.Tensor, path: Path, title: str) -> Path:
        """`mnistmax viz recon-grid`: these clean test digits, what the model makes of them
        (`reconstruct`) and the error, each digit's MSE; a denoiser draws the noisy digits too."""
        from mnistmax.viz.run_figures import render_reconstructions

        self.require("reconstruct", "a reconstruction grid")
        return render_reconstructions(self, clean, path, title)

    @classmethod
    def eval_tables(cls, rows: list[dict]) -> list[dict]:
        """Tables to print for eval rows: {"title", "columns", "rows"} of strings."""
        from mnistmax.eval.tables import shown_with_interval

        keys = [k for k in rows[0] if k not in ("method", "noise", "sigma") and "_ci95_" not in k]
        fmt = lambda v: f"{v:.4f}" if isinstance(v, float) else str(v)  # noqa: E731
        return [{"title": f"{rows[0]['method']} on the test split; [95 % bootstrap interval over the test images]",
                 "columns": keys, "rows": [[shown_with_interval(r, k, fmt) for k in keys] for r in rows]}]

    @classmethod
    def headline(cls, rows: list[dict]) -> dict:
        """{"metric": what is scored, "scores": {method: number}} for leaderboards."""
        raise NotImplementedError

    @classmethod
    def report_sections(cls) -> list:
        """Functions (run_dir) -> html or None, in the order the report shows them: the
        overview and curves, the task's own sections (report.SECTIONS), the config."""
        from mnistmax.report import sections

        own = cls.report.SECTIONS if cls.report else [sections.eval_facts]
        return [*sections.common_sections(), *own, sections.config_section]

    @classmethod
    def prepare_report(cls, run_dir: Path, load, warn=print) -> None:
        """Make what the report shows and is still missing: curves, and what the task's report
        module's prepare(run_dir, task, load, warn) makes (numbers, pictures); `load()` gives the
        loaded run, called only when something needs the model."""
        from mnistmax.viz.commands import curves

        if not (run_dir / "reports" / "curves.png").is_file() and (run_dir / "metrics.csv").is_file():
            curves(run_dir)
        if cls.report:
            cls.report.prepare(run_dir, cls, load, warn)

    # ------------------------------------------------------------ analyses

    def seen_level(self, sigma: float) -> bool:
        """Whether training saw this noise level (only denoisers see noise)."""
        return False

    def no_digit(self, clean: torch.Tensor, n: int, generator: torch.Generator) -> tuple:
        """(inputs or None, outputs, description) of what the model makes from no digit at all."""
        raise NotImplementedError

    def _step(self, batch, stage: str) -> torch.Tensor:
        """Log `{stage}/loss` and the metrics; a metric named `aux_loss` (e.g. an online
        probe's) is added to what is optimised but not to the logged loss."""
        loss, metrics = self.model_step(batch, stage)
        objective = loss + metrics.pop("aux_loss", 0.0)
        n = len(batch["labels"])
        # sync_dist: averaged over DDP processes when the epoch ends (a no-op on one device);
        # per-step train metrics stay local so no step waits for the others
        if stage == "train":
            self._add_train_loss(loss, n)
        else:
            self.log(f"{stage}/loss", loss, prog_bar=True, on_step=False, on_epoch=True, batch_size=n, sync_dist=True)
        for key, value in metrics.items():
            self.log(f"{stage}/{key}", value, prog_bar=key in ("psnr", "probe_acc"), on_epoch=True, batch_size=n,
                     sync_dist=stage != "train")
        return objective

    def setup(self, stage: str) -> None:
        """train.channels_last: conv weights stored NHWC (the batches follow in the datamodule);
        train.compile: torch.compile the step. Lightning calls this before it moves the module,
        so the device is the trainer's."""
        if resolve_channels_last(self.cfg.train.channels_last, self.trainer.strategy.root_device.type):
            self.to(memory_format=torch.channels_last)
        if stage == "fit" and self.cfg.train.compile and "model_step" not in self.__dict__:
            self.model_step = torch.compile(self.model_step)  # network and loss; reconstruct() stays eager

    def on_train_epoch_start(self) -> None:
        self._train_loss_sum, self._train_loss_count = torch.zeros((), device=self.device), 0

    def _add_train_loss(self, loss: torch.Tensor, n: int) -> None:
        """train/loss is the epoch's mean over images: summed on the device every step and handed
        to self.log once, after the epoch's last batch (a self.log call costs about a millisecond
        on the CPU, 1-2% of a step)."""
        self._train_loss_sum += loss.detach().float() * n
        self._train_loss_count += n

    def train_loss_so_far(self) -> torch.Tensor | None:
        """This epoch's mean train/loss over its steps so far (a device tensor: reading it waits for
        the device), or None before the epoch's first step; the live curves read it between epochs."""
        count = getattr(self, "_train_loss_count", 0)
        return self._train_loss_sum / count if count else None

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        if self.trainer.is_last_batch or self.trainer.should_stop:  # callbacks (Timer) have run by now
            self._log_train_loss()

    def _log_train_loss(self) -> None:
        if self._train_loss_count:
            self.log("train/loss", self._train_loss_sum / self._train_loss_count, prog_bar=True, on_step=False,
                     on_epoch=True, batch_size=self._train_loss_count, sync_dist=True)
            self._train_loss_count = 0

    def on_train_epoch_end(self) -> None:
        self._log_train_loss()  # an epoch ended otherwise (max_steps)

    def training_step(self, batch, batch_idx):
        loss = self._step(batch, "train")
        # reading the flag waits for the device: every step on the CPU (free), every 10th on a GPU
        if (self.device.type == "cpu" or batch_idx % 10 == 0) and not torch.isfinite(loss):
            raise TrainingDiverged(
                f"train/loss became {loss.item()} at epoch {self.current_epoch}, step {self.global_step}; "
                f"lower train.lr (now {self.cfg.train.lr}) or set train.grad_clip"
            )
        return loss

    def validation_step(self, batch, batch_idx):
        return self._step(batch, "val")

    def test_step(self, batch, batch_idx):
        return self._step(batch, "test")

    def param_groups(self, params=None) -> list[dict]:
        """AdamW groups: weight decay on weights, none on norms and biases."""
        decay, no_decay = [], []
        for p in params if params is not None else self.parameters():
            if p.requires_grad:
                (decay if p.ndim > 1 else no_decay).append(p)
        return [{"params": decay, "weight_decay": self.cfg.train.weight_decay},
                {"params": no_decay, "weight_decay": 0.0}]

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None) -> None:
        """Clip by norm here: Lightning's route refuses fused optimizers under bf16 autocast
        (there is no gradient scaling to undo then); fp16 scaling never gets a fused one."""
        if gradient_clip_val:
            params = [p for group in optimizer.param_groups for p in group["params"]]
            torch.nn.utils.clip_grad_norm_(params, gradient_clip_val)

    def configure_optimizers(self):
        """AdamW with warmup + cosine over `schedule_steps`: train.epochs' steps, or fewer when
        the time budget fits the schedule to it (`fit_schedule`)."""
        t = self.cfg.train
        fused = use_fused_adamw(self.device.type, str(self.trainer.precision), t.grad_clip)
        optimizer = torch.optim.AdamW(self.param_groups(), lr=t.lr, fused=fused or None)
        total = int(self.trainer.estimated_stepping_batches)
        self.steps_per_epoch = max(1, total // max(1, self.trainer.max_epochs or 1))
        self.schedule_steps = total
        warmup = int(t.warmup_epochs * self.steps_per_epoch)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(s, warmup, self.schedule_steps))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def fit_schedule(self, epochs: int) -> None:
        """Lay the cosine over `epochs` epochs from now on (the time budget's plan)."""
        self.schedule_steps = epochs * self.steps_per_epoch
