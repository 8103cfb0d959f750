"""Evaluation of a classifier: accuracy (with its 95 % bootstrap interval over the test digits) and
cross-entropy on the clean test digits."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mnistmax.config import RunConfig
from mnistmax.data.datamodule import clean_images, load_splits
from mnistmax.eval.metrics import with_ci
from mnistmax.inference import batched


def evaluate_classifier(cfg: RunConfig, task) -> list[dict]:
    images, labels = load_splits(cfg).test
    logits = batched(task.net, clean_images(images, cfg), cfg.eval.batch_size)
    correct = (logits.argmax(1) == labels).float()
    row = {"method": cfg.model.name, "noise": "none", "sigma": 0.0, "n": len(labels), "classes": logits.shape[1],
           "accuracy": correct.mean().item(), "cross_entropy": F.cross_entropy(logits.float(), labels).item()}
    return [with_ci(row, "accuracy", correct, cfg.eval.seed)]


def accuracy(net: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    """Share of `images` (clean, (N, 1, 28, 28)) that `net` classifies as `labels`."""
    return (batched(net, images, batch_size).argmax(1) == labels).float().mean().item()
