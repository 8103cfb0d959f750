"""train(cfg) -> TrainResult: one run, as named steps: prepare what the loss needs, seed, load the
data, open the run directory (new, resumed, or a DDP child's), build the task and the trainer,
record the start, fit (a failure or an interrupt is recorded as such), record the end, and let
the task store what belongs to the finished run."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint

from mnistmax.config import RunConfig
from mnistmax.data.datamodule import MNISTDataModule, Splits
from mnistmax.errors import DataError, MnistmaxError, RunError
from mnistmax.files import (
    create_run_dir,
    git_sha,
    load_checkpoint,
    now_iso,
    os_error_line,
    output_root,
    read_meta,
    release_space,
    reserve_space,
    this_process,
    update_meta,
    versions,
    write_atomic,
)
from mnistmax.models import count_parameters
from mnistmax.runs import load_run
from mnistmax.tasks import build_task, dump_yaml, get_task
from mnistmax.training.callbacks.interrupt import SaveOnInterrupt, sigterm_as_interrupt
from mnistmax.training.callbacks.progress import quiet_lightning
from mnistmax.training.loss_networks import prepare_loss_networks
from mnistmax.training.tracking import check_loggers, mark_mlflow_killed, mlflow_run, set_mlflow_tags
from mnistmax.training.trainer import (
    DDP_RUN_DIR,
    build_trainer,
    check_trainer,
    epochs_done,
    shared_run_dir,
    stop_reason,
)


@dataclass(frozen=True)
class TrainResult:
    """What a finished train() returns (meta.json has the rest)."""
    run_dir: Path
    status: str  # completed | stopped_early (a DDP worker process: running; rank 0 records the end)
    best_val_loss: float | None = None
    epochs_completed: int = 0
    epochs_planned: int = 0
    seconds: float = 0.0
    stop_reason: dict | None = None


def train(cfg: RunConfig, callbacks: Sequence[L.Callback] = (), echo=print, splits: Splits | None = None,
          mlflow_run_id: str | None = None, resume_dir: Path | None = None, run_dir: Path | None = None,
          task_setup=None, output_dir: str | Path | None = None) -> TrainResult:
    """Train one model from a validated config. `callbacks` are added to the trainer's own;
    `splits` replaces the config's train/val/test (cross-validation folds; an empty val split
    trains without validation); `mlflow_run_id` logs into an existing MLflow run; `resume_dir`
    continues that run from its last.ckpt (model, optimizer, scheduler, EMA, epoch, step) in the
    same directory; `run_dir` is a new directory to train into instead of one under outputs/runs
    (judges, transfer); `task_setup(task)` runs on the built task before training. A new run goes
    under `output_dir`, else the config's logging.output_dir when it is not the default `outputs`,
    else $MNISTMAX_OUTPUT_DIR, else outputs (mnistmax.files.output_root); config.yaml records it."""
    quiet_lightning()
    if resume_dir is None:
        cfg = at_output_root(cfg, output_dir)
    check_loggers(cfg)
    check_trainer(cfg)  # before a run directory exists
    # before the seed (the run's weights do not depend on whether the judge was cached) and before a run directory
    loss_networks = prepare_loss_networks(cfg, train, echo)
    L.seed_everything(cfg.seed, verbose=False)
    data = load_data(cfg, splits)
    cfg = with_class_count(cfg, data, echo)
    run_dir, ckpt_path = open_run_dir(cfg, run_dir, resume_dir)
    writer = DDP_RUN_DIR not in os.environ  # a DDP child writes nothing of its own into rank 0's directory
    if writer:
        reserve_space(run_dir)  # so that meta.json can still say `failed` on a full disk
    try:
        try:
            task = build_run_task(cfg, loss_networks, task_setup)
            trainer = build_trainer(cfg, run_dir, echo, mlflow_run_id, pictures=task.training_callbacks(run_dir),
                                    extra=[*callbacks, SaveOnInterrupt(run_dir)], validate=data.sizes()["val"] > 0)
            record_start(cfg, run_dir, data, task, trainer, resumed=ckpt_path is not None, echo=echo)
        except Exception as exc:  # after the directory exists: it says why it holds no model
            if writer:
                record_failure(run_dir, exc)
            raise
        seconds = fit(cfg, trainer, task, data, run_dir, ckpt_path, echo)
        if trainer.global_rank != 0:  # rank 0 writes meta.json (and, through Lightning, checkpoints and metrics)
            return TrainResult(run_dir, "running", epochs_planned=cfg.train.epochs, seconds=seconds)
        result = record_end(cfg, trainer, run_dir, seconds, echo)
    finally:
        if writer:
            release_space(run_dir)
    after_training(task, run_dir, echo)
    return result


def at_output_root(cfg: RunConfig, output_dir: str | Path | None = None) -> RunConfig:
    """`cfg` with logging.output_dir set to the root its run goes under (mnistmax.files.output_root)."""
    root = str(output_root(output_dir, cfg.logging.output_dir))
    if root == cfg.logging.output_dir:
        return cfg
    cfg = cfg.model_copy(deep=True)
    cfg.logging.output_dir = root
    return cfg


def load_data(cfg: RunConfig, splits: Splits | None) -> MNISTDataModule:
    data = MNISTDataModule(cfg, splits=splits)
    data.setup()
    return data


def with_class_count(cfg: RunConfig, data: MNISTDataModule, echo=print) -> RunConfig:
    """`cfg` with data.num_classes from the labels (the largest + 1; 0 for unlabelled data) when it is
    not set, and a network that takes `num_classes` (a classifier's head) built for that many;
    config.yaml records both. A task that trains on labels refuses unlabelled data here, before any
    run directory exists."""
    labels = [split[1] for split in (data.splits.train, data.splits.val, data.splits.test) if len(split[1])]
    if not data.bundle.labelled:
        reason = get_task(cfg.task).needs_labels(cfg)
        if reason is not None:
            raise DataError(f"task {cfg.task} needs labelled data ({reason}), but {data.bundle.description} has no "
                            "labels; give the pictures class subfolders (or the arrays label arrays), or train a "
                            "task that needs none (denoise, autoencoder, vae, contrastive with loss ntxent)")
        if cfg.data.num_classes:
            raise DataError(f"data.num_classes={cfg.data.num_classes}, but {data.bundle.description} has no labels")
        labels = []
    found = max(int(y.max()) for y in labels) + 1 if labels else (None if data.bundle.labelled else 0)
    if found is not None and cfg.data.num_classes is not None and found > cfg.data.num_classes:
        raise DataError(f"data.num_classes={cfg.data.num_classes}, but the labels go up to {found - 1}")
    classes = cfg.data.num_classes if cfg.data.num_classes is not None else found
    names = class_names(cfg, data.bundle, classes)
    options = cfg.model.options()
    head = options.get("num_classes", classes) if classes else classes  # unlabelled: the network as configured
    if classes is None or (cfg.data.num_classes == classes and head == classes and cfg.data.class_names == names):
        return cfg
    cfg = cfg.model_copy(deep=True)
    cfg.data.num_classes, cfg.data.class_names = classes, names
    if head != classes:
        echo(f"model.num_classes: {head} -> {classes} (the classes of the data)")
        cfg.model.__pydantic_extra__["num_classes"] = classes
    return cfg


def class_names(cfg: RunConfig, bundle, classes: int | None) -> list[str] | None:
    """data.class_names as set, else the data's own (a folder's subfolders, Fashion-MNIST's and KMNIST's
    names), checked against the class count."""
    names = cfg.data.class_names
    if names is None:
        return bundle.classes
    if bundle.source == "folder" and bundle.classes is not None and names != bundle.classes:
        raise DataError(f"data.class_names {names} differ from the class subfolders of {bundle.description} "
                        f"({', '.join(bundle.classes)}); leave data.class_names unset for a folder")
    if classes is not None and len(names) != classes:
        raise DataError(f"data.class_names names {len(names)} classes, but the data has {classes}")
    return names


def open_run_dir(cfg: RunConfig, run_dir: Path | None, resume_dir: Path | None) -> tuple[Path, Path | None]:
    """(the run directory, the checkpoint to resume from): a resumed run's own, a DDP child's
    (rank 0's, named in the environment), or a new one with the resolved config.yaml in it."""
    if resume_dir is not None:
        run_dir = Path(resume_dir)
        ckpt_path = run_dir / "checkpoints" / "last.ckpt"
        if not ckpt_path.is_file():
            raise RunError(f"nothing to resume in {run_dir}: {ckpt_path} does not exist")
        load_checkpoint(ckpt_path)  # one-line error for a corrupt or unsafe file before Lightning reads it
        return run_dir, ckpt_path
    if DDP_RUN_DIR in os.environ:  # started by DDP's launcher, which re-runs the command line
        return Path(os.environ[DDP_RUN_DIR]), None
    if run_dir is None:
        run_dir = create_run_dir(cfg.logging.output_dir, cfg.name)
    else:
        Path(run_dir).mkdir(parents=True)  # a new directory: an earlier run is never overwritten
    write_atomic(run_dir / "config.yaml", dump_yaml(cfg))
    return run_dir, None


def build_run_task(cfg: RunConfig, loss_networks: dict, task_setup=None):
    """The task, handed what its loss needs, after `task_setup` (e.g. pretrained weights)."""
    task = build_task(cfg)
    task.loss_networks = loss_networks
    if task_setup is not None:
        task_setup(task)
    return task


def record_start(cfg: RunConfig, run_dir: Path, data, task, trainer, resumed: bool, echo=print) -> dict:
    """meta.json says `running` (what, on which data and device, which versions); three lines echoed."""
    fields = dict(status="running", name=run_dir.name, task=cfg.task, model=cfg.model.name,
                  parameters=count_parameters(task.net), seed=cfg.seed,
                  data={"source": data.bundle.source, "description": data.bundle.description, "sizes": data.sizes()},
                  device=str(trainer.strategy.root_device), precision=str(trainer.precision),
                  versions=versions(), git_sha=git_sha(), process=this_process())
    if resumed:
        fields["resumed"] = [*read_meta(run_dir).get("resumed", []), now_iso()]
    else:
        fields["started"] = now_iso()
    meta = fields if DDP_RUN_DIR in os.environ else update_meta(run_dir, **fields)  # a DDP child: rank 0 writes
    echo(f"run {run_dir}" + (" (resumed from last.ckpt)" if resumed else ""))
    echo(f"data {meta['data']['description']}: " + ", ".join(f"{k} {v:,}" for k, v in meta["data"]["sizes"].items()))
    echo(f"model {cfg.model.name} ({meta['parameters']:,} parameters) on {meta['device']}, precision "
         f"{meta['precision']}")
    return meta


def fit(cfg: RunConfig, trainer, task, data, run_dir: Path, ckpt_path: Path | None, echo=print) -> float:
    """trainer.fit; the seconds it took. A failure leaves meta.json `failed` and why, an interrupt
    `interrupted` (weights in checkpoints/interrupted.ckpt), and is raised again."""
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
        record_failure(run_dir, exc, status="interrupted" if interrupted else "failed", stop_reason=reason,
                       train_seconds=seconds, mlflow_run_id=mlflow_run(trainer))
        set_mlflow_tags(trainer, status="interrupted" if interrupted else "failed", stop_reason=reason["by"])
        if interrupted:
            mark_mlflow_killed(trainer)
            echo("interrupted; weights saved to checkpoints/interrupted.ckpt. Resume from the last completed epoch "
                 f"with: mnistmax train --resume {run_dir}")
            raise KeyboardInterrupt from None
        raise
    return round(time.perf_counter() - start, 1)


def failure_line(exc: BaseException) -> str:
    """What went wrong, in one line of at most 500 characters (meta.json's `error`)."""
    text = os_error_line(exc) if isinstance(exc, OSError) else " ".join(str(exc).split())
    return text[:500] or type(exc).__name__


def record_failure(run_dir: Path, exc: BaseException, status: str = "failed", **fields) -> None:
    """meta.json says `status` (failed, interrupted) and why. If even that write fails (a disk full
    past the reserve), the original error is the one reported: nothing more can be done here."""
    try:
        update_meta(run_dir, status=status, error=failure_line(exc), ended=now_iso(), **fields)
    except (OSError, MnistmaxError):
        pass


def record_end(cfg: RunConfig, trainer, run_dir: Path, seconds: float, echo=print) -> TrainResult:
    """meta.json says `completed`, or `stopped_early` and why (a warning line too)."""
    ckpt = next(c for c in trainer.callbacks if isinstance(c, ModelCheckpoint))
    best = None if ckpt.best_model_score is None else float(ckpt.best_model_score)
    done = epochs_done(trainer, run_dir)
    reason = stop_reason(cfg, trainer, done, seconds)
    if reason:
        echo(f"warning: {reason['message']}")
    status = "stopped_early" if reason else "completed"
    set_mlflow_tags(trainer, status=status, stop_reason=reason["by"] if reason else "completed")
    update_meta(
        run_dir, status=status, stop_reason=reason, ended=now_iso(), train_seconds=seconds,
        epochs_planned=cfg.train.epochs, epochs_completed=done, best_val_loss=best,
        best_checkpoint=str(Path(ckpt.best_model_path).resolve().relative_to(run_dir.resolve()))
        if ckpt.best_model_path else None,
        mlflow_run_id=mlflow_run(trainer),
    )
    return TrainResult(run_dir, status, best, done, cfg.train.epochs, seconds, reason)


def after_training(task, run_dir: Path, echo=print) -> None:
    """The task's after_training on the finished run; a failure there is a warning (the run itself
    is complete, and what it would store is made again when first needed)."""
    try:
        task.after_training(lambda: load_run(run_dir), echo)
    except Exception as exc:  # noqa: BLE001
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        echo(f"warning: after training: {first}")


