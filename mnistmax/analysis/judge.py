"""The digit classifier that judges denoised digits in the limitations analysis.

By default a `cnn_classifier` is trained on the clean training split of the run's own data
(same source, splits, seed and binarization) and cached under
`<output_dir>/judges/<data key>.pt`, so comparing several runs on the same data trains it
once. `--classifier RUN` uses a classify run instead. The cache holds only tensors, numbers
and strings and is loaded with weights_only=True.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from mnistmax.config import RunConfig, validate_config
from mnistmax.data.datamodule import clean_images, load_splits
from mnistmax.errors import RunError
from mnistmax.registry import create_model
from mnistmax.runs import load_checkpoint, load_task, write_atomic

LATENT_DIM = 64
MAX_TRAIN = 12_000  # a class-balanced subset of larger training splits (full MNIST: 60,000)
JUDGE_TRAIN = {"epochs": 20, "lr": 2e-3, "patience": None, "max_time_minutes": None, "ema": True}


@dataclass
class Judge:
    net: torch.nn.Module
    test_acc: float
    source: str

    def logits(self, images: torch.Tensor, batch: int = 1000) -> torch.Tensor:
        device = next(self.net.parameters()).device
        with torch.no_grad():
            return torch.cat([self.net(images[i : i + batch].to(device)).float().cpu()
                              for i in range(0, len(images), batch)])


def data_key(cfg: RunConfig) -> str:
    d = cfg.data
    fields = {"source": d.source, "dataset": d.dataset, "root": str(Path(d.root).resolve()), "test": d.test_fraction,
              "val": d.val_fraction, "binarize": d.binarize,
              "threshold": d.threshold if d.binarize else None, "seed": cfg.seed,
              "recipe": [LATENT_DIM, MAX_TRAIN, JUDGE_TRAIN]}  # a new recipe trains a new judge
    return hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]


def judge_config(cfg: RunConfig) -> RunConfig:
    """The run's data (source, splits, seed, binarization), but every training digit up to
    MAX_TRAIN whatever the run's limits were: the judge should be as good as the data allows."""
    data = cfg.data.model_dump() | {"limit_train": MAX_TRAIN, "limit_test": None}
    return validate_config({"name": "judge", "seed": cfg.seed, "task": "classify", "data": data,
                            "model": {"name": "cnn_classifier", "latent_dim": LATENT_DIM}, "viz": {"enabled": False},
                            "train": JUDGE_TRAIN, "logging": {"progress": "none"}}, source="judge")


def judge_for(cfg: RunConfig, echo=print) -> Judge:
    """The cached judge for this run's data, trained first when there is none."""
    path = Path(cfg.logging.output_dir) / "judges" / f"cnn_classifier-{data_key(cfg)}.pt"
    if path.is_file():
        saved = load_checkpoint(path)
        net = create_model("cnn_classifier", latent_dim=int(saved["latent_dim"]))
        net.load_state_dict(saved["state_dict"])
        return Judge(net.eval(), float(saved["test_acc"]), f"cached {path}")
    from mnistmax.analysis.transfer import train_classifier

    jcfg = judge_config(cfg)
    if len(load_splits(jcfg).train[0]) == 0:
        raise RunError(f"data source {cfg.data.source!r} at {cfg.data.root} has no training digits to train the judge "
                       "classifier on; pass --classifier RUN (a classify run)")
    echo(f"training the judge classifier on up to {MAX_TRAIN:,} clean training digits (cached as {path}) ...")
    row, task = train_classifier(jcfg, "scratch", {})
    net = task.net.eval().cpu()
    buf = io.BytesIO()
    torch.save({"state_dict": net.state_dict(), "latent_dim": LATENT_DIM, "test_acc": row["test_acc"],
                "train_seconds": row["train_seconds"]}, buf)
    write_atomic(path, buf.getvalue())
    echo(f"judge: test accuracy {100 * row['test_acc']:.2f}% on clean digits ({row['train_seconds']} s)")
    return Judge(net, row["test_acc"], f"trained {path}")


def judge_from_run(run_dir: Path) -> Judge:
    """A classify run as the judge; its accuracy is measured on its own test split."""
    cfg, task = load_task(run_dir)
    if cfg.task != "classify":
        raise RunError(f"--classifier {run_dir} is a {cfg.task} run; give a classify run (e.g. configs/models/classifier.yaml)")
    images, labels = load_splits(cfg).test
    judge = Judge(task.net.eval(), 0.0, f"run {run_dir}")
    judge.test_acc = float((judge.logits(clean_images(images, cfg)).argmax(1) == labels).float().mean())
    return judge
