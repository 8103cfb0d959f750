"""Losses for 0/1 bitmaps (ablation-gated denoising): (prediction, target) -> scalar in float32.
`fp_weight` is what a false positive (ink left on where the clean image is empty) costs
against a miss. The penalties (`fp_penalty`, `conservation_penalty`, `recall_penalty`) are terms
to add to a loss by weight (train.loss_weights: {recall_penalty: 0.5})."""

from __future__ import annotations

import torch
import torch.nn.functional as F


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


def conservation_penalty(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Ink mass not conserved: per image, the ink the prediction holds beyond the target's, as a share
    of the target's ink (relu(sum pred - sum target) / max(sum target, 1)), averaged over images."""
    p, t = pred.float().flatten(1).sum(1), target.float().flatten(1).sum(1)
    return (F.relu(p - t) / t.clamp(min=1.0)).mean()


def recall_penalty(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Missed ink: the share of the target's ink the prediction leaves out, sum(target * (1 - pred)) /
    sum(target) over the batch (0 for a batch without ink)."""
    p, t = pred.float(), target.float()
    return (t * (1.0 - p)).sum() / t.sum().clamp(min=1.0)


def combined_loss(pred: torch.Tensor, target: torch.Tensor, fp_weight: float = 5.0) -> torch.Tensor:
    """precision BCE + Dice + 10 x false-positive penalty (all three terms in [0, ~1])."""
    return (precision_bce_loss(pred, target, fp_weight) + dice_loss(pred, target)
            + 10 * false_positive_penalty(pred, target))
