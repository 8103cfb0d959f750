"""MLflow plumbing: the tracking URI, a lock for SQLite stores, the experiment, the loggers
and finding the MLflow logger of a trainer (the one place that knows its class)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import lightning as L
from lightning.pytorch.loggers import CSVLogger

from mnistmax.config import RunConfig


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


def require_mlflow():
    """The mlflow module, or one line saying how to install the extra."""
    from mnistmax.errors import require_extra

    return require_extra("mlflow", "mlflow", "MLflow tracking (logging.mlflow, nested search runs, mnistmax ui)")


def mlflow_experiment_id(tracking_uri: str, experiment: str) -> str:
    """Set up the store and find or create the experiment, one process at a time."""
    mlflow = require_mlflow()

    with sqlite_store_lock(tracking_uri):
        client = mlflow.MlflowClient(tracking_uri=tracking_uri)
        found = client.get_experiment_by_name(experiment)
        return found.experiment_id if found else client.create_experiment(experiment)


def check_loggers(cfg: RunConfig) -> None:
    """The packages of the loggers the config asks for are installed (one line if not), checked
    before a run directory exists."""
    from mnistmax.errors import require_extra

    if cfg.logging.mlflow:
        require_mlflow()
    if cfg.logging.tensorboard:
        require_extra("tensorboard", "tensorboard", "logging.tensorboard")


def build_loggers(cfg: RunConfig, run_dir: Path, mlflow_run_id: str | None = None) -> list:
    """CSV always; TensorBoard (<run>/tensorboard/) when logging.tensorboard is on; MLflow when
    logging.mlflow is on, or into an existing run (search folds)."""
    loggers = [CSVLogger(save_dir=str(run_dir), name="", version="")]
    if cfg.logging.tensorboard:
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(save_dir=str(run_dir), name="tensorboard", version="",
                                         default_hp_metric=False))
    if cfg.logging.mlflow or mlflow_run_id:
        from lightning.pytorch.loggers import MLFlowLogger

        mlflow_experiment_id(mlflow_tracking_uri(cfg), cfg.logging.experiment)  # concurrent runs on one store
        loggers.append(MLFlowLogger(experiment_name=cfg.logging.experiment, run_name=run_dir.name,
                                    tracking_uri=mlflow_tracking_uri(cfg), run_id=mlflow_run_id))
    return loggers


def mlflow_logger(trainer: L.Trainer):
    """The trainer's MLFlowLogger, or None when it does not log to MLflow."""
    from lightning.pytorch.loggers import MLFlowLogger

    return next((lg for lg in trainer.loggers if isinstance(lg, MLFlowLogger)), None)


def mlflow_run(trainer: L.Trainer) -> str | None:
    """The MLflow run id of this training, when it logs to MLflow and the run was created."""
    logger = mlflow_logger(trainer)
    if logger is not None:
        with contextlib.suppress(Exception):  # an unreachable store must not hide the run's own error
            return logger.run_id
    return None


def mark_mlflow_killed(trainer: L.Trainer) -> None:
    """Lightning finalizes loggers as FAILED on Ctrl-C; an interrupted run is KILLED in MLflow."""
    logger = mlflow_logger(trainer)
    if logger is not None and logger.run_id:
        with contextlib.suppress(Exception):  # the store may be unreachable; meta.json has the status
            logger.experiment.set_terminated(logger.run_id, "KILLED")


def log_artifact(trainer: L.Trainer, path: Path, folder: str) -> None:
    """Copy a file to the MLflow run when MLflow logging is on."""
    logger = mlflow_logger(trainer)
    if logger is not None:
        logger.experiment.log_artifact(logger.run_id, str(path), artifact_path=folder)


def set_mlflow_tags(trainer: L.Trainer, **tags) -> None:
    """Tag the MLflow run of this training (status, stop_reason), when there is one."""
    logger = mlflow_logger(trainer)
    if logger is not None and logger.run_id:
        with contextlib.suppress(Exception):  # an unreachable store must not hide the run's own result
            for key, value in tags.items():
                logger.experiment.set_tag(logger.run_id, key, str(value))
