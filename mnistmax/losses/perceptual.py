"""Perceptual losses: distances between a frozen network's features of the prediction and
of the target, so that a denoiser is scored on what a digit reader sees (strokes, edges)
rather than on pixels alone; plain L2 rewards the blurry mean of the plausible digits.

`perceptual_loss` matches the features of a digit classifier that mnistmax trains itself
(the judge of `compare limitations`; offline). `perceptual_lpips_loss` is LPIPS, whose
AlexNet weights are downloaded at run time. The feature network is never trained: it is
held outside the task's modules (no parameters in its optimizer, no keys in its
checkpoint), in eval mode, with requires_grad off; gradients flow through it to the
prediction only.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

Features = Callable[[torch.Tensor], list[torch.Tensor]]


class FrozenFeatures:
    """`net.features(x)` of a frozen copy of `net`, moved to the input's device on first use.
    Not an nn.Module on purpose: a task holding it does not register its weights."""

    def __init__(self, net: nn.Module):
        self.net = net.eval()
        for p in self.net.parameters():
            p.requires_grad_(False)

    def __call__(self, x: torch.Tensor) -> list[torch.Tensor]:
        first = next(self.net.parameters())
        if first.device != x.device:
            self.net.to(x.device)
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self.net.features(x.float())


def _unit(f: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Features scaled to unit length over channels at each position (LPIPS' normalisation)."""
    return f / (f.pow(2).sum(1, keepdim=True).sqrt() + eps)


def feature_distance(pred_features: list[torch.Tensor], target_features: list[torch.Tensor]) -> torch.Tensor:
    """Mean over layers of the squared distance between channel-normalised features, averaged over
    positions and images: 0 for equal features, at most 4 per layer."""
    terms = [(_unit(a) - _unit(b)).pow(2).sum(1).mean() for a, b in zip(pred_features, target_features)]
    return torch.stack(terms).mean()


def perceptual_loss(pred: torch.Tensor, target: torch.Tensor, features: Features | None = None) -> torch.Tensor:
    """Feature matching under a frozen digit classifier (`features`: FrozenFeatures of the judge)."""
    if features is None:
        raise ValueError("train.loss perceptual needs a feature network (the judge classifier); "
                         "build it with FrozenFeatures")
    with torch.no_grad():
        wanted = features(target)
    return feature_distance(features(pred), wanted)


def perceptual_lpips_loss(pred: torch.Tensor, target: torch.Tensor, lpips=None) -> torch.Tensor:
    """LPIPS (AlexNet) distance, differentiable in `pred`; `lpips(pred, target) -> (B,)`."""
    if lpips is None:
        raise ValueError("train.loss perceptual_lpips needs the LPIPS network (eval.metrics.make_lpips)")
    return lpips(pred, target).mean()
