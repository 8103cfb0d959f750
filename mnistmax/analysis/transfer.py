"""Transfer learning: does a pretrained encoder help a classifier?

The encoder comes from any run whose task has one (`transfer_source`): a conv_ae or VAE run
(its conv encoder in `cnn_classifier`), or a contrastive run, SimCLR, SupCon or triplet (its
registered encoder in `encoder_classifier`). Every classifier trains through the project's
trainer into <encoder run>/transfer/<mode>-<labels>-<time>/.

For each number of labels per class and each mode, train the classifier on the encoder
run's training split and score it on its test split:
  scratch   random encoder, everything trained
  frozen    pretrained encoder, only the head trained
  finetune  pretrained encoder, everything trained
"""

from __future__ import annotations

import time
from pathlib import Path

from mnistmax.config import RunConfig, validate_config
from mnistmax.config.load import apply_overrides, parse_override
from mnistmax.data.datamodule import clean_images, load_splits
from mnistmax.errors import MnistmaxError
from mnistmax.eval.classification import accuracy
from mnistmax.registry import count_parameters
from mnistmax.runs import create_unique_dir, load_run, write_atomic, write_json

MODES = ("scratch", "frozen", "finetune")
MIN_STEPS = 400  # small label sets still get enough optimiser steps
# A randomly initialised encoder needs longer: simple_cnn from scratch on all 4,050 embedded digits
# plateaus on validation after about 1,000 steps (95.6% val, 97.0% test at 1,200 steps; 77.6% test
# at 400), so the scratch baseline gets 1,200 and never stands for a cut-short training.
SCRATCH_MIN_STEPS = 1200
RECIPE = {"epochs": 15, "lr": 2e-3, "patience": None, "max_time_minutes": None, "ema": True}  # configs/models/classifier.yaml


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


def train_classifier(cfg: RunConfig, mode: str, encoder: dict, run_dir: Path) -> dict:
    """Train `cfg` in the new directory `run_dir` through the project's trainer (EMA, precision
    and accelerator as configured), the encoder initialised from `encoder` (frozen or
    fine-tuned) unless mode is scratch; scored on the test split with the best checkpoint."""
    from mnistmax.training import train

    def setup(task) -> None:
        if mode in ("frozen", "finetune"):
            task.net.encoder.load_state_dict(encoder)
        if mode == "frozen":
            task.freeze_encoder()

    start = time.perf_counter()
    train(cfg, echo=lambda message: None, run_dir=run_dir, task_setup=setup)
    seconds = time.perf_counter() - start
    run = load_run(run_dir, "best")
    images, labels = run.splits.test
    trainable = count_parameters(run.task.net) if mode != "frozen" else count_parameters(run.task.net.head)
    return {"mode": mode, "labels_per_class": "all" if cfg.data.limit_train is None else cfg.data.limit_train // 10,
            "n_train": len(run.splits.train[0]), "epochs": cfg.train.epochs,
            "test_acc": accuracy(run.task.net, clean_images(images, cfg), labels),
            "train_seconds": round(seconds, 1), "trainable_params": trainable, "run_dir": str(run_dir)}


def encoder_state(run_dir: Path) -> tuple[dict, dict, RunConfig]:
    """(the classifier's model section, the encoder's weights, the run's config) of an encoder run."""
    run = load_run(run_dir)
    model, state = run.task.transfer_source()
    return model, state, run.cfg


def run_transfer(encoder_run: Path, modes: list[str], labels_per_class: list[int | None], overrides: list[str],
                 echo=print) -> list[dict]:
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise MnistmaxError(f"unknown transfer mode {bad[0]!r}; valid: {', '.join(MODES)}, all")
    model, encoder, base = encoder_state(encoder_run)
    rows = []
    for n in labels_per_class:
        for mode in modes:
            cfg = classifier_config(base, model, None if n is None else n * 10, overrides=overrides,
                                    min_steps=SCRATCH_MIN_STEPS if mode == "scratch" else MIN_STEPS)
            run_dir = create_unique_dir(Path(encoder_run) / "transfer", f"{mode}-{n or 'all'}")
            run_dir.rmdir()  # train() makes it anew: it never trains into an existing directory
            row = train_classifier(cfg, mode, encoder, run_dir)
            echo(f"{mode:>8}, {row['labels_per_class']} labels/class: test accuracy {100 * row['test_acc']:.2f}% "
                 f"({row['train_seconds']} s, {row['trainable_params']:,} trainable parameters)")
            rows.append(row)
    out = encoder_run / "eval"
    write_json(out / "transfer.json", rows)
    write_atomic(out / "transfer.md", transfer_markdown(rows))
    return rows


def transfer_markdown(rows: list[dict]) -> str:
    lines = ["| labels/class | mode | test accuracy | train time (s) | trainable params |", "|---|---|---|---|---|"]
    lines += [f"| {r['labels_per_class']} | {r['mode']} | {100 * r['test_acc']:.2f}% | {r['train_seconds']} | "
              f"{r['trainable_params']:,} |" for r in rows]
    return "\n".join(lines) + "\n"


def parse_labels(text: str) -> list[int | None]:
    """'10,100,all' -> [10, 100, None]."""
    out: list[int | None] = []
    for part in text.split(","):
        part = part.strip()
        if part == "all":
            out.append(None)
        elif part.isdigit() and int(part) > 0:
            out.append(int(part))
        else:
            raise MnistmaxError(f"--labels-per-class: {part!r} is not a positive number or 'all' (e.g. 10,100,all)")
    return out
