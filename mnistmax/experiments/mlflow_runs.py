"""Nested MLflow runs of a search, when MLflow logging is on: one parent run per trial (its
params, tagged with the study name and trial number, the mean and std of its folds) and one
child run per fold (metrics, checkpoint, training metrics as JSON, reconstruction grid).

MLflow is optional. The base config's `logging.mlflow` decides: false, no MLflow; true, MLflow
(installed, or one line saying how); left out, MLflow when it is installed."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from mnistmax.experiments.spec import describe
from mnistmax.files import read_history


def mlflow_wanted(base_raw: dict, echo=print) -> bool:
    """Whether a search logs to MLflow; checked before anything is written."""
    from mnistmax.errors import ConfigError, install_hint
    from mnistmax.training.tracking import require_mlflow

    setting = (base_raw.get("logging") or {}).get("mlflow")
    if setting is False:
        return False
    try:
        require_mlflow()
    except ConfigError:
        if setting:
            raise  # asked for, not installed: the one line says how to get it
        echo("note: MLflow is not installed; trials are recorded in the Optuna study only "
             f"(for nested MLflow runs: {install_hint('mlflow')})")
        return False
    return True


class TrialTracker:
    def __init__(self, tracking_uri: str, experiment: str):
        from mnistmax.training.tracking import mlflow_experiment_id, require_mlflow

        mlflow = require_mlflow()
        self.tracking_uri = tracking_uri
        self.experiment_id = mlflow_experiment_id(tracking_uri, experiment)  # safe with several workers
        self.client = mlflow.MlflowClient(tracking_uri=tracking_uri)

    def parent(self, study: str, trial: int, key: str, params: dict) -> str:
        tags = {"study": study, "trial": str(trial), "kind": "config", "config_key": key}
        run = self.client.create_run(self.experiment_id, run_name=f"trial {trial}: {describe(params)}"[:250], tags=tags)
        self._log_params(run.info.run_id, params)
        return run.info.run_id

    def child(self, parent_id: str, study: str, trial: int, key: str, fold: int, params: dict) -> str:
        tags = {"mlflow.parentRunId": parent_id, "study": study, "trial": str(trial), "kind": "fold",
                "config_key": key, "fold": str(fold)}
        run = self.client.create_run(self.experiment_id, run_name=f"trial {trial} fold {fold}", tags=tags)
        self._log_params(run.info.run_id, params)
        return run.info.run_id

    def _log_params(self, run_id: str, params: dict) -> None:
        for k, v in params.items():
            self.client.log_param(run_id, k, json.dumps(v))

    def log_fold(self, run_id: str, run_dir: Path, metrics: dict[str, float]) -> None:
        for k, v in metrics.items():
            self.client.log_metric(run_id, f"fold_{k}", v)
        history = read_history(run_dir / "metrics.csv")
        self.client.log_text(run_id, json.dumps(history, indent=1), "training_metrics.json")
        self.client.log_artifact(run_id, str(run_dir / "checkpoints" / "best.ckpt"), "model")
        grid_png = run_dir / "grids" / "recon_latest.png"
        if grid_png.is_file():
            self.client.log_artifact(run_id, str(grid_png), "grids")
        self.client.set_tag(run_id, "run_dir", str(run_dir))
        self.client.set_terminated(run_id, "FINISHED")

    def finish(self, run_id: str, summary: dict[str, float], state: str) -> None:
        """The trial's parent run: its fold means, its Optuna state, FINISHED."""
        for k, v in summary.items():
            self.client.log_metric(run_id, k, v)
        self.client.set_tag(run_id, "optuna_state", state)
        self.client.set_terminated(run_id, "FINISHED")

    def end(self, run_ids, status: str) -> None:
        """FAILED or KILLED for runs a trial left open (an error, Ctrl-C, a dead worker)."""
        for run_id in run_ids:
            with contextlib.suppress(Exception):  # the store may be unreachable; the study has the state
                if self.client.get_run(run_id).info.status == "RUNNING":
                    self.client.set_terminated(run_id, status)
