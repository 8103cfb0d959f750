"""train(cfg) -> run directory: builds the data, the task and a Lightning Trainer, and
records everything a run needs to be understood later (config.yaml, meta.json, metrics.csv,
checkpoints)."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Sequence

import lightning as L
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, RichProgressBar

from mnistmax.config import RunConfig
from mnistmax.tasks import dump_yaml
from mnistmax.data.datamodule import MNISTDataModule, Splits
from mnistmax.errors import RunError
from mnistmax.hardware import resolve_accelerator, resolve_precision
from mnistmax.models import count_parameters
from mnistmax.files import (create_run_dir, git_sha, load_checkpoint, now_iso, read_meta, update_meta, versions,
                            write_atomic)
from mnistmax.runs import load_run
from mnistmax.tasks import build_task, get_task
from mnistmax.training.callbacks.budget import BudgetSchedule
from mnistmax.training.loss_networks import prepare_loss_networks
from mnistmax.training.callbacks.ema import WarmupEMA
from mnistmax.training.callbacks.interrupt import SaveOnInterrupt, sigterm_as_interrupt
from mnistmax.training.callbacks.progress import EpochSummary, quiet_lightning
from mnistmax.training.tracking import build_loggers, mark_mlflow_killed, mlflow_run, set_mlflow_tags


def build_callbacks(cfg: RunConfig, run_dir: Path, echo=print, pictures: Sequence[L.Callback] = (),
                    extra: Sequence[L.Callback] = (), validate: bool = True) -> list:
    """The task's picture callbacks first (they draw with the averaged weights, so before
    EMA), then checkpoints, EMA, early stopping, progress output, and `extra` last. Without a
    validation split (`validate` False) best.ckpt is the last epoch's and nothing stops early."""
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


def train(cfg: RunConfig, callbacks: Sequence[L.Callback] = (), echo=print, splits: Splits | None = None,
          mlflow_run_id: str | None = None, resume_dir: Path | None = None, run_dir: Path | None = None,
          task_setup=None) -> Path:
    """Train one model from a validated config; returns the run directory. `callbacks` are
    added to the trainer's own; `splits` replaces the config's train/val/test
    (cross-validation folds); `mlflow_run_id` logs into an existing MLflow run instead of
    creating one; `resume_dir` continues that run from its last.ckpt (model, optimizer,
    scheduler, EMA, epoch, step) in the same directory; `run_dir` is a new directory to
    train into instead of one under outputs/runs (judges, transfer); `task_setup(task)` runs
    on the built task before training (e.g. load pretrained weights)."""
    quiet_lightning()
    # what the loss needs (a perceptual loss's judge, trained once and cached): before the seed, so
    # that the run's weights do not depend on whether the judge was cached, and before a run directory exists
    loss_networks = prepare_loss_networks(cfg, train, echo)
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
        if run_dir is None:
            run_dir = create_run_dir(cfg.logging.output_dir, cfg.name)
        else:
            Path(run_dir).mkdir(parents=True)  # a new directory: an earlier run is never overwritten
        write_atomic(run_dir / "config.yaml", dump_yaml(cfg))
    task = build_task(cfg)
    task.loss_networks = loss_networks
    if task_setup is not None:
        task_setup(task)
    validate = data.sizes()["val"] > 0  # a final retrain on every digit has no validation split
    trainer = build_trainer(cfg, run_dir, echo, mlflow_run_id, pictures=task.training_callbacks(run_dir),
                            extra=[*callbacks, SaveOnInterrupt(run_dir)], validate=validate)
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
        seconds = round(time.perf_counter() - start, 1)
        reason = {"by": "interrupt" if interrupted else "error", "epochs_done": trainer.current_epoch,
                  "epochs_planned": cfg.train.epochs, "seconds": seconds,
                  "message": f"{'interrupted' if interrupted else 'failed'} after {trainer.current_epoch} of "
                             f"{cfg.train.epochs} epochs"}
        update_meta(run_dir, status="interrupted" if interrupted else "failed", error=str(exc)[:500] or type(exc).__name__,
                    stop_reason=reason, ended=now_iso(), train_seconds=seconds, mlflow_run_id=mlflow_run(trainer))
        set_mlflow_tags(trainer, status="interrupted" if interrupted else "failed", stop_reason=reason["by"])
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
    seconds = round(time.perf_counter() - start, 1)
    done = epochs_done(trainer, run_dir)
    reason = stop_reason(cfg, trainer, done, seconds)
    if reason:
        echo(f"warning: {reason['message']}")
    set_mlflow_tags(trainer, status="stopped_early" if reason else "completed",
                    stop_reason=reason["by"] if reason else "completed")
    update_meta(
        run_dir, status="stopped_early" if reason else "completed", stop_reason=reason, ended=now_iso(),
        train_seconds=seconds, epochs_planned=cfg.train.epochs,
        epochs_completed=done, best_val_loss=None if best is None else float(best),
        best_checkpoint=str(Path(ckpt.best_model_path).resolve().relative_to(run_dir.resolve())) if ckpt.best_model_path else None,
        mlflow_run_id=mlflow_run(trainer),
    )
    after_training(task, run_dir, echo)
    return run_dir


def after_training(task, run_dir: Path, echo=print) -> None:
    """The task's after_training on the finished run; a failure there is a warning (the run itself
    is complete, and what it would store is made again when first needed)."""
    try:
        task.after_training(lambda: load_run(run_dir), echo)
    except Exception as exc:  # noqa: BLE001
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        echo(f"warning: after training: {first}")


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
