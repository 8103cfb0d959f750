"""The Lightning Trainer of a run: its callbacks (checkpoints, EMA, early stopping, the time
budget, progress), its loggers, and what a finished fit says about itself (epochs done, why
it stopped early). mnistmax.training.steps.train uses them."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Sequence

import lightning as L
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, RichProgressBar

from mnistmax.config import RunConfig
from mnistmax.files import load_checkpoint
from mnistmax.hardware import resolve_accelerator, resolve_precision
from mnistmax.tasks import get_task
from mnistmax.training.callbacks.budget import BudgetSchedule
from mnistmax.training.callbacks.curves import LiveCurves
from mnistmax.training.callbacks.ema import WarmupEMA
from mnistmax.training.callbacks.progress import EpochSummary
from mnistmax.training.tracking import build_loggers


def build_callbacks(cfg: RunConfig, run_dir: Path, echo=print, pictures: Sequence[L.Callback] = (),
                    extra: Sequence[L.Callback] = (), validate: bool = True) -> list:
    """The task's picture callbacks first (they draw with the averaged weights, so before
    EMA), then checkpoints, EMA, early stopping, the live curves (tasks that draw while training,
    viz.enabled), progress output, and `extra` last. Without a validation split (`validate` False)
    best.ckpt is the last epoch's and nothing stops early."""
    t = cfg.train
    callbacks: list = [
        *(pictures if validate else ()),  # they draw validation digits at the end of validation
        ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="best", monitor="val/loss" if validate else None,
                        mode="min", save_last=True, auto_insert_metric_name=False, enable_version_counter=False),
    ]
    if t.ema:
        callbacks.append(WarmupEMA(decay=t.ema_decay))
    if t.max_time_minutes:
        callbacks.append(BudgetSchedule(t.max_time_minutes))
    if t.patience and validate:
        callbacks.append(EarlyStopping(monitor="val/loss", mode="min", patience=t.patience))
    if cfg.viz.enabled and "viz" in get_task(cfg.task).sections:
        callbacks.append(LiveCurves(cfg, run_dir))
    if cfg.logging.progress == "rich" and sys.stdout.isatty():
        callbacks.append(RichProgressBar(leave=False))
    elif cfg.logging.progress != "none":
        callbacks.append(EpochSummary(echo))
    return [*callbacks, *extra]


def build_trainer(cfg: RunConfig, run_dir: Path, echo=print, mlflow_run_id: str | None = None,
                  pictures: Sequence[L.Callback] = (), extra: Sequence[L.Callback] = (),
                  validate: bool = True) -> L.Trainer:
    t = cfg.train
    accelerator = resolve_accelerator(t.accelerator)
    callbacks = build_callbacks(cfg, run_dir, echo, pictures, extra, validate)
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
        sync_batchnorm=get_task(cfg.task).sync_batchnorm,  # applied by DDP-family strategies only
        callbacks=callbacks,
        logger=build_loggers(cfg, run_dir, mlflow_run_id),
        log_every_n_steps=10,
        enable_progress_bar=any(isinstance(c, RichProgressBar) for c in callbacks),
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=None if validate else 0,
        deterministic=False,
    )


def check_trainer(cfg: RunConfig) -> None:
    """The trainer settings this machine can honour (train.accelerator, devices, strategy, num_nodes,
    amp), checked by building a bare Trainer before a run directory exists: an accelerator the machine
    lacks, a strategy whose package is missing or more GPUs than there are are one ConfigError line,
    not a Lightning traceback after the run directory was made."""
    import warnings

    from lightning.fabric.utilities.exceptions import MisconfigurationException

    from mnistmax.errors import ConfigError

    t = cfg.train
    try:
        accelerator = resolve_accelerator(t.accelerator)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            L.Trainer(accelerator=accelerator, devices=t.devices, strategy=t.strategy, num_nodes=t.num_nodes,
                      precision=resolve_precision(t.amp, accelerator), logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False)
    except (MisconfigurationException, ValueError, ImportError, RuntimeError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ConfigError(f"train.accelerator={t.accelerator}, devices={t.devices}, strategy={t.strategy}, "
                          f"num_nodes={t.num_nodes}: this machine cannot train so ({reason})") from None


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


def epochs_done(trainer: L.Trainer, run_dir: Path) -> int:
    """Epochs the fit finished. Under ddp_spawn the training ran in other processes and this
    trainer's epoch counter stayed at 0: last.ckpt (written after every epoch) says then."""
    last = run_dir / "checkpoints" / "last.ckpt"
    if trainer.current_epoch == 0 and last.is_file():
        return int(load_checkpoint(last).get("epoch", -1)) + 1
    return trainer.current_epoch


def stop_reason(cfg: RunConfig, trainer: L.Trainer, done: int, seconds: float) -> dict | None:
    """Why a finished fit ran fewer epochs than train.epochs (None when it ran them all):
    early stopping or the time budget, with the epochs done and planned and the time."""
    planned = cfg.train.epochs
    if done >= planned:
        return None
    reason = {"epochs_done": done, "epochs_planned": planned, "seconds": seconds}
    early = next((c for c in trainer.callbacks if isinstance(c, EarlyStopping)), None)
    if early is not None and early.stopped_epoch > 0:
        return reason | {"by": "train.patience", "message": (
            f"stopped by early stopping (train.patience={cfg.train.patience}: val/loss stopped improving) after "
            f"{done} of {planned} epochs")}
    budget = next((c for c in trainer.callbacks if isinstance(c, BudgetSchedule)), None)
    if budget is not None:
        annealed = budget.fitted and done >= budget.planned_epochs
        how = ("the schedule was fitted to it and annealed, but " if annealed
               else "the schedule had not annealed, and ")
        return reason | {"by": "train.max_time_minutes", "fitted_epochs": budget.planned_epochs, "message": (
            f"stopped by train.max_time_minutes={cfg.train.max_time_minutes:g} after {done} of {planned} epochs "
            f"({seconds:.0f} s): {how}results are below what the recipe reaches; raise or remove the budget")}
    return reason | {"by": "unknown", "message": f"stopped after {done} of {planned} epochs"}
