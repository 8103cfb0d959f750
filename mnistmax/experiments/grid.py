"""run_grid(path): every (configuration, fold) is an idempotent job keyed by MLflow tags
(`grid`, `config_key`, `fold`), so a re-run, or another machine pointed at the same
tracking server, skips what has finished. One parent run per configuration carries the
mean and std of its folds; each fold is a nested child run with its metrics and artifacts.
The test split is used once, by the best configuration retrained on the whole train split."""

from __future__ import annotations

import csv
import json
import statistics
from dataclasses import dataclass
from pathlib import Path

import torch

from mnistmax.config import RunConfig
from mnistmax.data.datamodule import Splits, load_splits
from mnistmax.data.splits import stratified_kfold
from mnistmax.errors import ConfigError
from mnistmax.experiments.spec import GridSpec, combinations, config_for, config_key, describe, load_grid
from mnistmax.runs import read_history
from mnistmax.training import train
from mnistmax.training.tracking import mlflow_experiment_id, mlflow_tracking_uri, sqlite_store_lock

FOLD_METRICS = ("val/loss", "val/psnr", "val/probe_acc")


@dataclass
class Pool:
    images: torch.Tensor
    labels: torch.Tensor
    folds: torch.Tensor
    test: tuple[torch.Tensor, torch.Tensor]

    def fold(self, f: int) -> Splits:
        held = self.folds == f
        return Splits((self.images[~held], self.labels[~held]), (self.images[held], self.labels[held]), self.test)


def training_pool(cfg: RunConfig, folds: int, seed: int, splits_file: str | None = None) -> Pool:
    """The train split (train + val of the config) with a stratified fold id per digit."""
    splits = load_splits(cfg)
    images = torch.cat([splits.train[0], splits.val[0]])
    labels = torch.cat([splits.train[1], splits.val[1]])
    fold_ids = read_splits_file(splits_file, labels, folds) if splits_file else stratified_kfold(labels, folds, seed)
    return Pool(images, labels, fold_ids, splits.test)


def write_splits_file(path: Path, labels: torch.Tensor, folds: torch.Tensor) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["index", "label", "fold"])
        writer.writerows(zip(range(len(labels)), labels.tolist(), folds.tolist()))
    return path


def read_splits_file(path: str, labels: torch.Tensor, folds: int) -> torch.Tensor:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if len(rows) != len(labels) or any(int(r["label"]) != int(y) for r, y in zip(rows, labels.tolist())):
        raise ConfigError(f"cv.splits_file {path!r} does not match this data ({len(rows)} rows for {len(labels)} digits, "
                          "or different labels); write it again with `mnistmax splits` and the same config")
    fold_ids = torch.tensor([int(r["fold"]) for r in rows])
    if fold_ids.min() < 0 or fold_ids.max() >= folds:
        raise ConfigError(f"cv.splits_file {path!r} has fold ids outside 0..{folds - 1} (cv.folds={folds})")
    return fold_ids


# ---------------------------------------------------------------- MLflow bookkeeping


class Tracker:
    def __init__(self, tracking_uri: str, experiment: str):
        from mnistmax.training.tracking import require_mlflow

        mlflow = require_mlflow()

        self.tracking_uri = tracking_uri
        self.experiment_id = mlflow_experiment_id(tracking_uri, experiment)  # safe with several workers
        self.client = mlflow.MlflowClient(tracking_uri=tracking_uri)

    def find(self, **tags) -> list:
        query = " and ".join(f"tags.{k} = '{v}'" for k, v in tags.items())
        return self.client.search_runs([self.experiment_id], filter_string=query, max_results=1000)

    def parent(self, grid: str, key: str, combo: dict):
        with sqlite_store_lock(self.tracking_uri):  # workers started together share one parent run
            existing = self.find(grid=grid, config_key=key, kind="config")
            if existing:
                return existing[0].info.run_id
            run = self.client.create_run(self.experiment_id, run_name=describe(combo)[:250],
                                         tags={"grid": grid, "config_key": key, "kind": "config"})
        for k, v in combo.items():
            self.client.log_param(run.info.run_id, k, json.dumps(v))
        return run.info.run_id

    def finished_folds(self, grid: str, key: str) -> dict[int, dict]:
        runs = self.find(grid=grid, config_key=key, kind="fold")
        return {int(r.data.tags["fold"]): r.data.metrics for r in runs if r.info.status == "FINISHED"}

    def child(self, grid: str, key: str, fold: int, parent_id: str, combo: dict) -> str:
        run = self.client.create_run(self.experiment_id, run_name=f"fold {fold}", tags={
            "mlflow.parentRunId": parent_id, "grid": grid, "config_key": key, "kind": "fold", "fold": str(fold)})
        for k, v in combo.items():
            self.client.log_param(run.info.run_id, k, json.dumps(v))
        return run.info.run_id


def fold_metrics(run_dir: Path) -> dict[str, float]:
    """Best val/loss and the other val metrics at that epoch."""
    history = read_history(run_dir / "metrics.csv")
    losses = dict(history.get("val/loss", []))
    best_epoch = min(losses, key=losses.get)
    out = {"val_loss": losses[best_epoch]}
    for key in FOLD_METRICS[1:]:
        values = dict(history.get(key, []))
        if best_epoch in values:
            out[key.replace("/", "_")] = values[best_epoch]
    return out


def run_fold(tracker: Tracker, cfg: RunConfig, pool: Pool, fold: int, run_id: str, echo) -> dict[str, float]:
    try:
        run_dir = train(cfg, echo=lambda m: None, splits=pool.fold(fold), mlflow_run_id=run_id)
    except KeyboardInterrupt:
        tracker.client.set_terminated(run_id, "KILLED")
        raise
    except Exception:
        tracker.client.set_terminated(run_id, "FAILED")
        raise
    metrics = fold_metrics(run_dir)
    for k, v in metrics.items():
        tracker.client.log_metric(run_id, f"fold_{k}", v)
    history = read_history(run_dir / "metrics.csv")
    tracker.client.log_text(run_id, json.dumps(history, indent=1), "training_metrics.json")
    tracker.client.log_artifact(run_id, str(run_dir / "checkpoints" / "best.ckpt"), "model")
    grid_png = run_dir / "grids" / "recon_latest.png"
    if grid_png.is_file():
        tracker.client.log_artifact(run_id, str(grid_png), "grids")
    tracker.client.set_tag(run_id, "run_dir", str(run_dir))
    tracker.client.set_terminated(run_id, "FINISHED")
    return {f"fold_{k}": v for k, v in metrics.items()}


def summarise(fold_results: dict[int, dict]) -> dict[str, float]:
    keys = sorted({k for m in fold_results.values() for k in m if k.startswith("fold_")})
    out = {}
    for key in keys:
        values = [m[key] for m in fold_results.values() if key in m]
        name = key.removeprefix("fold_")
        out[f"{name}_mean"] = statistics.fmean(values)
        out[f"{name}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
    return out


def run_grid(path: str | Path, echo=print, output_dir: str | Path | None = None) -> dict:
    spec, base = load_grid(path)
    base_cfg = config_for(base, {}, source=str(path))
    tracker = Tracker(mlflow_tracking_uri(base_cfg), f"grid-{spec.name}")
    pool = training_pool(base_cfg, spec.cv.folds, spec.cv.seed, spec.cv.splits_file)
    echo(f"grid {spec.name}: {len(combinations(spec))} configurations × {spec.cv.folds} folds on {len(pool.labels):,} "
         f"training digits; MLflow at {mlflow_tracking_uri(base_cfg)}")
    rows, skipped, ran = [], 0, 0
    for combo in combinations(spec):
        key = config_key(combo)
        cfg = fold_config(config_for(base, combo), spec, key)
        parent_id = tracker.parent(spec.name, key, combo)
        done = tracker.finished_folds(spec.name, key)
        for fold in range(spec.cv.folds):
            if fold in done:
                skipped += 1
                continue
            run_id = tracker.child(spec.name, key, fold, parent_id, combo)
            done[fold] = run_fold(tracker, cfg, pool, fold, run_id, echo)
            ran += 1
            echo(f"  {describe(combo)}  fold {fold}: val/loss {done[fold]['fold_val_loss']:.5f}")
        summary = summarise(done)
        for k, v in summary.items():
            tracker.client.log_metric(parent_id, k, v)
        tracker.client.set_terminated(parent_id, "FINISHED")
        rows.append({"config_key": key, "params": combo, **summary})
    echo(f"ran {ran} jobs, skipped {skipped} already finished")
    rows.sort(key=lambda r: r["val_loss_mean"])
    return {"spec": spec, "base": base, "rows": rows, "skipped": skipped, "ran": ran,
            "output": Path(output_dir or base_cfg.logging.output_dir) / "grids" / spec.name}


def fold_config(cfg: RunConfig, spec: GridSpec, key: str) -> RunConfig:
    """Folds draw one reconstruction grid (at the last epoch) and keep quiet."""
    cfg = cfg.model_copy(deep=True)
    cfg.name = f"{spec.name}-{key}"
    cfg.viz.every_n_epochs = 10_000
    cfg.logging.progress = "none"
    cfg.logging.mlflow = False
    return cfg
