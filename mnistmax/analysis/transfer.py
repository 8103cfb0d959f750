"""Transfer learning: does a pretrained conv_ae encoder help a classifier?

For each number of labels per class and each mode, train `cnn_classifier` on the encoder
run's training split and score it on its test split:
  scratch   random encoder, everything trained
  frozen    pretrained encoder, only the head trained
  finetune  pretrained encoder, everything trained
"""

from __future__ import annotations

import time
from pathlib import Path

import lightning as L
import torch

from mnistmax.config import config_to_dict, load_config, validate_config
from mnistmax.data.datamodule import MNISTDataModule, clean_images
from mnistmax.errors import MnistmaxError, RunError
from mnistmax.registry import count_parameters
from mnistmax.runs import load_checkpoint, find_checkpoint, load_task, write_atomic, write_json
from mnistmax.tasks import build_task

MODES = ("scratch", "frozen", "finetune")
MIN_STEPS = 400  # small label sets still get enough optimiser steps


def encoder_state(run_dir: Path) -> tuple[dict, int]:
    """The `encoder.*` weights of a conv_ae (or vae_conv) run and its latent size."""
    cfg, _ = load_task(run_dir)
    if cfg.model.name != "conv_ae":
        raise RunError(f"{run_dir} trained {cfg.model.name!r}; transfer needs a conv_ae run (its encoder feeds cnn_classifier)")
    state = load_checkpoint(find_checkpoint(run_dir))["state_dict"]
    return {k.removeprefix("net.encoder."): v for k, v in state.items() if k.startswith("net.encoder.")}, cfg.model.latent_dim


CLASSIFIER_DEFAULTS = {  # the same recipe as configs/models/classifier.yaml
    "task": "classify", "model": {"name": "cnn_classifier"}, "viz": {"enabled": False},
    "train": {"epochs": 15, "lr": 2e-3, "patience": None, "max_time_minutes": None, "ema": True},
}


def classifier_config(encoder_run: Path, latent_dim: int, n_labels: int | None, overrides: list[str]):
    """The encoder run's config (same data, splits and seed) turned into a classifier run."""
    from mnistmax.config import apply_overrides, deep_merge

    raw = deep_merge(config_to_dict(load_config(encoder_run / "config.yaml")), CLASSIFIER_DEFAULTS)
    raw["model"]["latent_dim"] = latent_dim
    raw["data"]["limit_train"] = None if n_labels is None else n_labels * 10
    return validate_config(apply_overrides(raw, overrides), source="transfer")


def train_classifier(cfg, mode: str, encoder: dict) -> tuple[dict, "L.LightningModule"]:
    L.seed_everything(cfg.seed, verbose=False)
    data = MNISTDataModule(cfg)
    data.setup()
    n_train = len(data.splits.train[0])
    cfg.data.batch_size = min(cfg.data.batch_size, max(8, n_train // 4))
    steps_per_epoch = max(1, n_train // cfg.data.batch_size)
    cfg.train.epochs = max(cfg.train.epochs, -(-MIN_STEPS // steps_per_epoch))
    task = build_task(cfg)
    if mode in ("frozen", "finetune"):
        task.net.encoder.load_state_dict(encoder)
    if mode == "frozen":
        task.freeze_encoder()
    trainer = L.Trainer(max_epochs=cfg.train.epochs, accelerator="auto", devices=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0, limit_val_batches=0, gradient_clip_val=cfg.train.grad_clip)
    start = time.perf_counter()
    trainer.fit(task, datamodule=data)
    seconds = time.perf_counter() - start
    task.eval()
    images, labels = data.splits.test
    with torch.no_grad():
        pred = torch.cat([task.net(clean_images(images[i : i + 1000], cfg)).argmax(1) for i in range(0, len(images), 1000)])
    return {"mode": mode, "labels_per_class": "all" if cfg.data.limit_train is None else cfg.data.limit_train // 10,
            "n_train": n_train, "epochs": cfg.train.epochs, "test_acc": (pred == labels).float().mean().item(),
            "train_seconds": round(seconds, 1), "trainable_params": count_parameters(task.net, trainable_only=True)}, task


def run_transfer(encoder_run: Path, modes: list[str], labels_per_class: list[int | None], overrides: list[str],
                 echo=print) -> list[dict]:
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise MnistmaxError(f"unknown transfer mode {bad[0]!r}; valid: {', '.join(MODES)}, all")
    encoder, latent_dim = encoder_state(encoder_run)
    rows = []
    for n in labels_per_class:
        for mode in modes:
            row, _ = train_classifier(classifier_config(encoder_run, latent_dim, n, overrides), mode, encoder)
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
