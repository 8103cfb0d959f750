"""Reconstruction losses for images in [0, 1]: (prediction, target) -> scalar, computed in float32."""

from __future__ import annotations

import torch
import torch.nn.functional as F


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
