"""A classifier run on another run's data, with the classifier recipe: what the transfer
study (mnistmax.analysis.transfer) and the judge classifier (mnistmax.analysis.judge) train."""

from __future__ import annotations

import time
from pathlib import Path

from mnistmax.config import RunConfig
from mnistmax.config.load import apply_overrides, parse_override
from mnistmax.data.datamodule import clean_images, load_splits
from mnistmax.eval.classification import accuracy
from mnistmax.models import count_parameters
from mnistmax.runs import load_run
from mnistmax.tasks import validate_config

MIN_STEPS = 400  # small label sets still get enough optimiser steps
RECIPE = {"epochs": 15, "lr": 2e-3, "patience": None, "max_time_minutes": None,
          "ema": True}  # configs/models/classifier.yaml


def classifier_config(base: RunConfig, model: dict, limit_train: int | None, name: str = "classifier",
                      train: dict | None = None, overrides: list[str] = (), min_steps: int | None = None) -> RunConfig:
    """A classifier run (`model`: its model section) on `base`'s data (source, splits, seed,
    binarization) with the classifier recipe (`train` replaces parts of it); small label budgets
    get a smaller batch, and every run enough epochs for `min_steps` (default MIN_STEPS) optimiser steps, unless
    `overrides` set train.epochs. The transfer study and the judge both train with this."""
    data = base.data.model_dump(mode="json") | {"limit_train": limit_train}
    raw = {"name": name, "seed": base.seed, "task": "classify", "data": data,
           "model": model, "train": {**RECIPE, **(train or {})},
           "logging": base.logging.model_dump(mode="json") | {"progress": "none", "mlflow": False}}
    explicit = {".".join(parse_override(o)[0]) for o in overrides}
    cfg = validate_config(apply_overrides(raw, list(overrides)), "transfer", explicit)
    n_train = len(load_splits(cfg).train[0])
    cfg.data.batch_size = min(cfg.data.batch_size, max(8, n_train // 4))
    steps_per_epoch = max(1, n_train // cfg.data.batch_size)
    if "train.epochs" not in explicit:  # an epoch count the user set is what runs
        cfg.train.epochs = max(cfg.train.epochs, -(-(min_steps or MIN_STEPS) // steps_per_epoch))
    return cfg


def train_classifier(cfg: RunConfig, mode: str, encoder: dict, run_dir: Path, train, device="cpu") -> dict:
    """Train `cfg` in the new directory `run_dir` with `train` (mnistmax.training.train, handed in:
    train() itself prepares a judge with this), the encoder initialised from `encoder` (frozen
    or fine-tuned) unless mode is scratch; scored on the test split with the best checkpoint,
    loaded onto `device`."""
    def setup(task) -> None:
        if mode in ("frozen", "finetune"):
            task.net.encoder.load_state_dict(encoder)
        if mode == "frozen":
            task.freeze_encoder()

    start = time.perf_counter()
    train(cfg, echo=lambda message: None, run_dir=run_dir, task_setup=setup)
    seconds = time.perf_counter() - start
    run = load_run(run_dir, "best", device=device)
    images, labels = run.splits.test
    trainable = count_parameters(run.task.net) if mode != "frozen" else count_parameters(run.task.net.head)
    return {"mode": mode, "labels_per_class": "all" if cfg.data.limit_train is None else
            cfg.data.limit_train // run.cfg.data.num_classes,
            "n_train": len(run.splits.train[0]), "epochs": cfg.train.epochs,
            "test_acc": accuracy(run.task.net, clean_images(images, cfg), labels),
            "train_seconds": round(seconds, 1), "trainable_params": trainable, "run_dir": str(run_dir)}
