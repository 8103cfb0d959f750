"""Pure loss functions on tensors: (prediction, target) -> scalar. Computed in float32."""

from __future__ import annotations

import functools
from typing import Callable

import torch
import torch.nn.functional as F

from mnistmax.registry import accepted_options


def l2_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(pred.float(), target.float())


def l1_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(pred.float(), target.float())


def charbonnier_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """mean(sqrt((pred - target)^2 + eps^2)): L1-like, but smooth at zero."""
    diff = pred.float() - target.float()
    return torch.sqrt(diff * diff + eps * eps).mean()


def bce_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Binary cross-entropy of probabilities in [0, 1] against targets in [0, 1]."""
    with torch.autocast(device_type=pred.device.type, enabled=False):
        return F.binary_cross_entropy(pred.float().clamp(eps, 1 - eps), target.float())


def weighted_bce_loss(pred: torch.Tensor, target: torch.Tensor, pos_weight: float = 3.0, eps: float = 1e-6):
    """BCE with on-pixels (ink) weighted `pos_weight` times: counters the mostly-empty background."""
    weight = 1.0 + (pos_weight - 1.0) * target.float()
    with torch.autocast(device_type=pred.device.type, enabled=False):
        return F.binary_cross_entropy(pred.float().clamp(eps, 1 - eps), target.float(), weight=weight)


def precision_bce_loss(pred: torch.Tensor, target: torch.Tensor, fp_weight: float = 5.0, eps: float = 1e-6):
    """BCE with off-pixels weighted `fp_weight` times: a pixel left on where the clean image
    is empty (a false positive) costs more than a missed stroke pixel."""
    weight = 1.0 + (fp_weight - 1.0) * (1.0 - target.float())
    with torch.autocast(device_type=pred.device.type, enabled=False):
        return F.binary_cross_entropy(pred.float().clamp(eps, 1 - eps), target.float(), weight=weight)


def dice_loss(pred: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 - soft Dice per image, averaged: 1 - (2|P∩T| + s) / (|P| + |T| + s)."""
    p, t = pred.float().flatten(1), target.float().flatten(1)
    dice = (2 * (p * t).sum(1) + smooth) / (p.sum(1) + t.sum(1) + smooth)
    return (1 - dice).mean()


def false_positive_penalty(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean intensity the prediction puts where the target is empty."""
    return (pred.float() * (1.0 - target.float())).mean()


def combined_loss(pred: torch.Tensor, target: torch.Tensor, fp_weight: float = 5.0) -> torch.Tensor:
    """precision BCE + Dice + 10 x false-positive penalty (all three terms in [0, ~1])."""
    return precision_bce_loss(pred, target, fp_weight) + dice_loss(pred, target) + 10 * false_positive_penalty(pred, target)


RECONSTRUCTION_LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "l2": l2_loss,
    "l1": l1_loss,
    "charbonnier": charbonnier_loss,
    "bce": bce_loss,
    "weighted_bce": weighted_bce_loss,
    "precision_bce": precision_bce_loss,
    "dice": dice_loss,
    "fp_penalty": false_positive_penalty,
    "combined": combined_loss,
}


def get_loss(name: str, **options):
    """The loss called `name`, with those of `options` it takes bound (e.g. fp_weight)."""
    try:
        loss = RECONSTRUCTION_LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; valid: {', '.join(RECONSTRUCTION_LOSSES)}") from None
    accepted = accepted_options(loss, options)
    return functools.partial(loss, **accepted) if accepted else loss
