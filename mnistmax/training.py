"""train(cfg) -> run directory: builds the data, the task and a Lightning Trainer, and
records everything a run needs to be understood later (config.yaml, meta.json, metrics.csv,
checkpoints)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
import warnings
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, RichProgressBar
from lightning.pytorch.callbacks.weight_averaging import EMAWeightAveraging
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException

from mnistmax.config import RunConfig, dump_yaml
from mnistmax.data.datamodule import MNISTDataModule, Splits
from mnistmax.hardware import resolve_accelerator, resolve_precision
from mnistmax.registry import count_parameters
from mnistmax.errors import RunError
from mnistmax.runs import (create_run_dir, git_sha, load_checkpoint, now_iso, read_meta, update_meta, versions,
                           write_atomic)
from mnistmax.tasks import build_task


class WarmupEMA(EMAWeightAveraging):
    """Lightning's EMA with the usual warmup: the decay after n updates is
    min(decay, (1 + n) / (10 + n)), so short runs are not dominated by the initial weights.

    Each step is one foreach lerp over tensor lists paired once at fit start, with the decay
    computed on the device (no host sync). Lightning's generic update walks and regroups the
    module's tensors every step (1.5-2.7 ms a step on the CPU, more than the fused AdamW step)."""

    def __init__(self, decay: float = 0.999):
        super().__init__(decay=decay)
        self.decay = decay
        self._kwargs.pop("avg_fn", None)
        self._kwargs["multi_avg_fn"] = self.ema_with_warmup  # a method, not a closure: ddp_spawn pickles callbacks
        self._pairs: tuple[list, list, list, list] | None = None
        self._seen_count = False

    def ema_with_warmup(self, averaged: list, current: list, num_averaged: torch.Tensor) -> None:
        if not averaged[0].is_floating_point():  # integer buffers (BatchNorm's num_batches_tracked)
            torch._foreach_copy_(averaged, current)
            return
        d = torch.clamp((1.0 + num_averaged) / (10.0 + num_averaged), max=self.decay)
        torch._foreach_lerp_(averaged, current, (1.0 - d).to(averaged[0].dtype))

    def on_fit_start(self, trainer, pl_module) -> None:
        """Pair the averaged and live tensors. The task may have changed its memory format in its
        own setup (train.channels_last) after this callback copied it: the copy takes the same layout."""
        averaged = [*self._average_model.module.parameters(), *self._average_model.module.buffers()]
        current = [*pl_module.parameters(), *pl_module.buffers()]
        for avg, cur in zip(averaged, current):
            if avg.stride() != cur.stride():
                avg.data = torch.empty_like(cur).copy_(avg)
        floats = [(a, c) for a, c in zip(averaged, current) if a.is_floating_point()]
        others = [(a, c) for a, c in zip(averaged, current) if not a.is_floating_point()]
        self._pairs = ([a for a, _ in floats], [c for _, c in floats], [a for a, _ in others], [c for _, c in others])
        self._seen_count = False

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        """AveragedModel.update_parameters on the paired lists: the first update copies, later
        ones average; n_averaged counts them (it is what a checkpoint restores)."""
        if trainer.global_step <= self._latest_update_step:
            return
        avg_float, cur_float, avg_other, cur_other = self._pairs
        n = self._average_model.n_averaged
        with torch.no_grad():
            if not self._seen_count and int(n) == 0:  # one host read per fit
                torch._foreach_copy_(avg_float + avg_other, cur_float + cur_other)
            else:
                if avg_float:
                    self.ema_with_warmup(avg_float, cur_float, n)
                if avg_other:
                    torch._foreach_copy_(avg_other, cur_other)
            n += 1
        self._seen_count = True
        self._latest_update_step = trainer.global_step


class EpochSummary(L.Callback):
    """One plain line per epoch when no progress bar is drawn (logs, CI, pipes)."""

    def __init__(self, echo=print):
        self.echo = echo
        self.started = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module):
        m = {k: float(v) for k, v in trainer.callback_metrics.items()}
        parts = [f"{k} {m[k]:.4f}" for k in ("train/loss", "val/loss") if k in m]
        if "val/psnr" in m:
            parts.append(f"val/psnr {m['val/psnr']:.2f} dB")
        if "val/probe_acc" in m:
            parts.append(f"val/probe_acc {100 * m['val/probe_acc']:.1f}%")
        self.echo(f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}  " + "  ".join(parts)
                  + f"  ({time.perf_counter() - self.started:.0f}s)")


def mlflow_tracking_uri(cfg: RunConfig) -> str:
    if cfg.logging.tracking_uri:
        return cfg.logging.tracking_uri
    return f"sqlite:///{(Path(cfg.logging.output_dir) / 'mlflow.db').resolve()}"


@contextlib.contextmanager
def sqlite_store_lock(tracking_uri: str):
    """An exclusive lock on `<store>.lock` for a SQLite tracking URI (POSIX), nothing otherwise:
    two processes opening a fresh store at once both ran its schema migrations and one crashed."""
    db = tracking_uri.removeprefix("sqlite:///")
    if db == tracking_uri or os.name != "posix":
        yield
        return
    import fcntl

    Path(db).parent.mkdir(parents=True, exist_ok=True)
    with open(f"{db}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


def mlflow_experiment_id(tracking_uri: str, experiment: str) -> str:
    """Set up the store and find or create the experiment, one process at a time."""
    import mlflow

    with sqlite_store_lock(tracking_uri):
        client = mlflow.MlflowClient(tracking_uri=tracking_uri)
        found = client.get_experiment_by_name(experiment)
        return found.experiment_id if found else client.create_experiment(experiment)


def build_loggers(cfg: RunConfig, run_dir: Path, mlflow_run_id: str | None = None) -> list:
    """CSV always; MLflow when logging.mlflow is on, or into an existing run (grid folds)."""
    loggers = [CSVLogger(save_dir=str(run_dir), name="", version="")]
    if cfg.logging.mlflow or mlflow_run_id:
        from lightning.pytorch.loggers import MLFlowLogger

        mlflow_experiment_id(mlflow_tracking_uri(cfg), cfg.logging.experiment)  # concurrent runs on one store
        loggers.append(MLFlowLogger(experiment_name=cfg.logging.experiment, run_name=run_dir.name,
                                    tracking_uri=mlflow_tracking_uri(cfg), run_id=mlflow_run_id))
    return loggers


def build_callbacks(cfg: RunConfig, run_dir: Path, echo=print) -> list:
    t = cfg.train
    callbacks: list = []
    if cfg.viz.enabled and cfg.task == "denoise":  # before EMA: it draws with the averaged weights
        from mnistmax.callbacks.images import DenoisingPictures

        callbacks.append(DenoisingPictures(cfg, run_dir))
    if cfg.viz.enabled and cfg.task == "contrastive":
        from mnistmax.callbacks.embeddings import EmbeddingEvolution

        callbacks.append(EmbeddingEvolution(cfg, run_dir))
    callbacks += [
        ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="best", monitor="val/loss", mode="min",
                        save_last=True, auto_insert_metric_name=False, enable_version_counter=False),
    ]
    if t.ema:
        callbacks.append(WarmupEMA(decay=t.ema_decay))
    if t.patience:
        callbacks.append(EarlyStopping(monitor="val/loss", mode="min", patience=t.patience))
    if cfg.logging.progress == "rich" and sys.stdout.isatty():
        callbacks.append(RichProgressBar(leave=False))
    elif cfg.logging.progress != "none":
        callbacks.append(EpochSummary(echo))
    return callbacks


def build_trainer(cfg: RunConfig, run_dir: Path, echo=print, mlflow_run_id: str | None = None) -> L.Trainer:
    t = cfg.train
    accelerator = resolve_accelerator(t.accelerator)
    callbacks = build_callbacks(cfg, run_dir, echo)
    return L.Trainer(
        default_root_dir=str(run_dir),
        max_epochs=t.epochs,
        max_time={"minutes": t.max_time_minutes} if t.max_time_minutes else None,
        accelerator=accelerator,
        devices=t.devices,
        strategy=t.strategy,
        num_nodes=t.num_nodes,
        precision=resolve_precision(t.amp, accelerator),
        gradient_clip_val=t.grad_clip,
        callbacks=callbacks,
        logger=build_loggers(cfg, run_dir, mlflow_run_id),
        log_every_n_steps=10,
        enable_progress_bar=any(isinstance(c, RichProgressBar) for c in callbacks),
        enable_model_summary=False,
        num_sanity_val_steps=0,
        deterministic=False,
    )


def quiet_lightning() -> None:
    """Keep Lightning's start-up chatter (device lines, tips) out of the user's terminal."""
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*exists and is not empty.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")


class SaveOnInterrupt(L.Callback):
    """Ctrl-C or SIGTERM: write the weights of the moment to checkpoints/interrupted.ckpt
    (atomically) before Lightning shuts down. `--resume` continues from last.ckpt, written
    at the end of every epoch, and redoes the interrupted epoch from its start: the batch
    loader has no mid-epoch state, so that is what keeps a resumed run identical to an
    uninterrupted one."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / "checkpoints" / "interrupted.ckpt"

    def on_exception(self, trainer, pl_module, exception) -> None:
        # SIGTERM reaches Lightning's own handler first (trainer.received_sigterm), then ours,
        # which raises KeyboardInterrupt. If that exception is lost (a signal handled inside a
        # finalizer is only printed), Lightning's loop raises SIGTERMException at the next
        # batch end instead: save in both cases.
        if isinstance(exception, (KeyboardInterrupt, SIGTERMException)):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(".interrupted.ckpt.tmp")
            trainer.save_checkpoint(tmp, weights_only=False)
            os.replace(tmp, self.path)


def mlflow_run(trainer: L.Trainer) -> str | None:
    """The MLflow run id of this training, when it logs to MLflow and the run was created."""
    for lg in trainer.loggers:
        if type(lg).__name__ == "MLFlowLogger":
            with contextlib.suppress(Exception):  # an unreachable store must not hide the run's own error
                return lg.run_id
    return None


def mark_mlflow_killed(trainer: L.Trainer) -> None:
    """Lightning finalizes loggers as FAILED on Ctrl-C; an interrupted run is KILLED in MLflow."""
    for lg in trainer.loggers:
        if type(lg).__name__ == "MLFlowLogger" and lg.run_id:
            with contextlib.suppress(Exception):  # the store may be unreachable; meta.json has the status
                lg.experiment.set_terminated(lg.run_id, "KILLED")


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Treat SIGTERM like Ctrl-C while training (save, mark interrupted, exit non-zero)."""
    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


DDP_RUN_DIR = "MNISTMAX_DDP_RUN_DIR"


@contextlib.contextmanager
def shared_run_dir(run_dir: Path):
    """Name the run directory in the environment while fitting: train.strategy=ddp starts the
    other processes by re-running this command with a copy of it, and they must write into
    rank 0's directory, not make their own."""
    if DDP_RUN_DIR in os.environ:
        yield
        return
    os.environ[DDP_RUN_DIR] = str(run_dir.resolve())
    try:
        yield
    finally:
        os.environ.pop(DDP_RUN_DIR, None)


def train(cfg: RunConfig, echo=print, splits: Splits | None = None, mlflow_run_id: str | None = None,
          resume_dir: Path | None = None) -> Path:
    """Train one model from a validated config; returns the run directory. `splits`
    replaces the config's train/val/test (cross-validation folds); `mlflow_run_id` logs into
    an existing MLflow run instead of creating one; `resume_dir` continues that run from its
    last.ckpt (model, optimizer, scheduler, EMA, epoch, step) in the same directory."""
    quiet_lightning()
    L.seed_everything(cfg.seed, verbose=False)
    data = MNISTDataModule(cfg, splits=splits)
    data.setup()
    ckpt_path = None
    ddp_child = DDP_RUN_DIR in os.environ  # started by DDP's launcher, which re-runs the command line
    if resume_dir is not None:
        run_dir = Path(resume_dir)
        ckpt_path = run_dir / "checkpoints" / "last.ckpt"
        if not ckpt_path.is_file():
            raise RunError(f"nothing to resume in {run_dir}: {ckpt_path} does not exist")
        load_checkpoint(ckpt_path)  # one-line error for a corrupt or unsafe file before Lightning reads it
    elif ddp_child:
        run_dir = Path(os.environ[DDP_RUN_DIR])
    else:
        run_dir = create_run_dir(cfg.logging.output_dir, cfg.name)
        write_atomic(run_dir / "config.yaml", dump_yaml(cfg))
    task = build_task(cfg)
    trainer = build_trainer(cfg, run_dir, echo, mlflow_run_id)
    trainer.callbacks.append(SaveOnInterrupt(run_dir))
    fields = dict(status="running", name=run_dir.name, task=cfg.task, model=cfg.model.name,
                  parameters=count_parameters(task.net), seed=cfg.seed,
                  data={"source": data.bundle.source, "description": data.bundle.description, "sizes": data.sizes()},
                  device=str(trainer.strategy.root_device), precision=str(trainer.precision),
                  versions=versions(), git_sha=git_sha())
    if resume_dir is None:
        fields["started"] = now_iso()
    else:
        fields["resumed"] = [*read_meta(run_dir).get("resumed", []), now_iso()]
    meta = fields if ddp_child else update_meta(run_dir, **fields)
    echo(f"run {run_dir}" + (" (resumed from last.ckpt)" if ckpt_path else ""))
    echo(f"data {meta['data']['description']}: " + ", ".join(f"{k} {v:,}" for k, v in meta["data"]["sizes"].items()))
    echo(f"model {cfg.model.name} ({meta['parameters']:,} parameters) on {meta['device']}, precision {meta['precision']}")
    start = time.perf_counter()
    try:
        with sigterm_as_interrupt(), shared_run_dir(run_dir):
            trainer.fit(task, datamodule=data, ckpt_path=ckpt_path, weights_only=True)
    except BaseException as exc:
        # Lightning turns Ctrl-C into SystemExit(1); any other exception is a failure, not an interrupt
        interrupted = isinstance(exc, (KeyboardInterrupt, SystemExit))
        update_meta(run_dir, status="interrupted" if interrupted else "failed", error=str(exc)[:500] or type(exc).__name__,
                    ended=now_iso(), train_seconds=round(time.perf_counter() - start, 1), mlflow_run_id=mlflow_run(trainer))
        if interrupted:
            mark_mlflow_killed(trainer)
            echo(f"interrupted; weights saved to checkpoints/interrupted.ckpt. Resume from the last completed epoch with: "
                 f"mnistmax train --resume {run_dir}")
            raise KeyboardInterrupt from None
        raise
    if trainer.global_rank != 0:  # rank 0 writes meta.json (and, through Lightning, checkpoints and metrics)
        return run_dir
    ckpt = next(c for c in trainer.callbacks if isinstance(c, ModelCheckpoint))
    best = ckpt.best_model_score
    update_meta(
        run_dir, status="completed", ended=now_iso(), train_seconds=round(time.perf_counter() - start, 1),
        epochs_completed=trainer.current_epoch, best_val_loss=None if best is None else float(best),
        best_checkpoint=str(Path(ckpt.best_model_path).resolve().relative_to(run_dir.resolve())) if ckpt.best_model_path else None,
        mlflow_run_id=mlflow_run(trainer),
    )
    return run_dir
