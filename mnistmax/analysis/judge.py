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

from mnistmax.config import RunConfig
from mnistmax.data.arrays import is_labelled
from mnistmax.data.datamodule import clean_images, load_splits
from mnistmax.errors import DataError, RunError
from mnistmax.files import create_unique_dir, load_checkpoint, write_atomic
from mnistmax.inference import batched
from mnistmax.models import create_model
from mnistmax.runs import load_run
from mnistmax.training.classifier import RECIPE, classifier_config, train_classifier

LATENT_DIM = 64
MAX_TRAIN = 12_000  # a class-balanced subset of larger training splits (full MNIST: 60,000)
JUDGE_TRAIN = {"epochs": 20}  # the classifier recipe, longer


@dataclass
class Judge:
    net: torch.nn.Module
    test_acc: float
    source: str

    def logits(self, images: torch.Tensor, batch: int = 1000) -> torch.Tensor:
        return batched(self.net, images, batch)


def data_key(cfg: RunConfig) -> str:
    d = cfg.data
    fields = {"source": d.source, "dataset": d.dataset, "root": str(Path(d.root).resolve()), "test": d.test_fraction,
              "val": d.val_fraction, "binarize": d.binarize,
              "threshold": d.threshold if d.binarize else None, "seed": cfg.seed,
              "recipe": [LATENT_DIM, MAX_TRAIN, RECIPE | JUDGE_TRAIN, "trainer"]}  # a new recipe trains a new judge
    return hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]


def judge_config(cfg: RunConfig) -> RunConfig:
    """The run's data (source, splits, seed, binarization), but every training digit up to
    MAX_TRAIN whatever the run's limits were: the judge should be as good as the data allows."""
    cfg = cfg.model_copy(deep=True)
    cfg.data.limit_test = None
    return classifier_config(cfg, {"name": "cnn_classifier", "latent_dim": LATENT_DIM}, MAX_TRAIN, name="judge",
                             train=JUDGE_TRAIN)


def judge_for(cfg: RunConfig, echo=print, train=None) -> Judge:
    """The cached judge for this run's data, trained first with `train` (mnistmax.training.train,
    handed in by its callers: train() prepares a judge itself) when there is none."""
    path = Path(cfg.logging.output_dir) / "judges" / f"cnn_classifier-{data_key(cfg)}.pt"
    if path.is_file():
        saved = load_checkpoint(path)
        net = create_model("cnn_classifier", latent_dim=int(saved["latent_dim"]),
                           num_classes=int(saved.get("num_classes", 10)))
        net.load_state_dict(saved["state_dict"])
        return Judge(net.eval(), float(saved["test_acc"]), f"cached {path}")
    jcfg = judge_config(cfg)
    train_labels = load_splits(jcfg).train[1]
    if not is_labelled(train_labels):
        raise DataError(f"the judge classifier learns the labels of the run's data, and {cfg.data.source} data at "
                        f"{cfg.data.root} has none; pass --classifier RUN (a classify run on labelled data)")
    if len(train_labels) == 0:
        raise RunError(f"data source {cfg.data.source!r} at {cfg.data.root} has no training digits to train the judge "
                       "classifier on; pass --classifier RUN (a classify run)")
    echo(f"training the judge classifier on up to {MAX_TRAIN:,} clean training digits (cached as {path}) ...")
    run_dir = create_unique_dir(path.parent, path.stem)
    run_dir.rmdir()  # train() makes it anew
    if train is None:
        raise RunError("no cached judge classifier for this data and no trainer given to train one")
    row = train_classifier(jcfg, "scratch", {}, run_dir, train)
    net = load_run(run_dir, "best").task.net
    buf = io.BytesIO()
    torch.save({"state_dict": net.state_dict(), "latent_dim": LATENT_DIM, "num_classes": int(net.head[-1].out_features),
                "test_acc": row["test_acc"],
                "train_seconds": row["train_seconds"]}, buf)
    write_atomic(path, buf.getvalue())
    echo(f"judge: test accuracy {100 * row['test_acc']:.2f}% on clean digits ({row['train_seconds']} s)")
    return Judge(net, row["test_acc"], f"trained {path}")


def judge_from_run(run_dir: Path) -> Judge:
    """A classify run as the judge; its accuracy is measured on its own test split."""
    run = load_run(run_dir)
    run.require("classify", "--classifier")
    judge = Judge(run.task.net.eval(), 0.0, f"run {run.run_dir}")
    judge.test_acc = float((judge.logits(clean_images(run.test_images,
                                                      run.cfg)).argmax(1) == run.test_labels).float().mean())
    return judge
