"""Stratified k-fold cross-validation over the train split: the pool of digits with a fold id
each, the splits file that fixes those ids, and the numbers a fold's run leaves behind."""

from __future__ import annotations

import csv
import io
import statistics
from dataclasses import dataclass
from pathlib import Path

import torch

from mnistmax.config import RunConfig
from mnistmax.data.datamodule import Splits, load_splits
from mnistmax.data.splits import stratified_kfold
from mnistmax.errors import ConfigError
from mnistmax.files import read_history, write_atomic

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

    def whole(self) -> Splits:
        """Every digit of the folds to train on, no validation split: the final retrain."""
        empty = (self.images[:0], self.labels[:0])
        return Splits((self.images, self.labels), empty, self.test)


def training_pool(cfg: RunConfig, folds: int, seed: int, splits_file: str | None = None) -> Pool:
    """The train split (train + val of the config) with a stratified fold id per digit."""
    splits = load_splits(cfg)
    images = torch.cat([splits.train[0], splits.val[0]])
    labels = torch.cat([splits.train[1], splits.val[1]])
    fold_ids = read_splits_file(splits_file, labels, folds) if splits_file else stratified_kfold(labels, folds, seed)
    return Pool(images, labels, fold_ids, splits.test)


def write_splits_file(path: Path, labels: torch.Tensor, folds: torch.Tensor) -> Path:
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(["index", "label", "fold"])
    writer.writerows(zip(range(len(labels)), labels.tolist(), folds.tolist()))
    return write_atomic(path, text.getvalue())


def read_splits_file(path: str, labels: torch.Tensor, folds: int) -> torch.Tensor:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if len(rows) != len(labels) or any(int(r["label"]) != int(y) for r, y in zip(rows, labels.tolist())):
        raise ConfigError(f"cv.splits_file {path!r} does not match this data ({len(rows)} rows for {len(labels)} "
                          "digits, "
                          "or different labels); write it again with `mnistmax splits` and the same config")
    fold_ids = torch.tensor([int(r["fold"]) for r in rows])
    if fold_ids.min() < 0 or fold_ids.max() >= folds:
        raise ConfigError(f"cv.splits_file {path!r} has fold ids outside 0..{folds - 1} (cv.folds={folds})")
    return fold_ids


def fold_metrics(run_dir: Path) -> dict[str, float]:
    """Best val/loss, the other val metrics at that epoch, and `epochs`: how many epochs it took
    to reach it (what the final retrain without validation runs)."""
    history = read_history(run_dir / "metrics.csv")
    losses = dict(history.get("val/loss", []))
    best_epoch = min(losses, key=losses.get)
    out = {"val_loss": losses[best_epoch], "epochs": best_epoch + 1}
    for key in FOLD_METRICS[1:]:
        values = dict(history.get(key, []))
        if best_epoch in values:
            out[key.replace("/", "_")] = values[best_epoch]
    return out


def summarise(folds: list[dict]) -> dict[str, float]:
    """{metric}_mean and {metric}_std over the folds' metrics (std 0 for a single fold)."""
    keys = sorted({k for m in folds for k in m if k in ("val_loss", "val_psnr", "val_probe_acc", "epochs")})
    out = {}
    for key in keys:
        values = [m[key] for m in folds if key in m]
        out[f"{key}_mean"] = statistics.fmean(values)
        out[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
    return out
