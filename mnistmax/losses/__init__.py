"""Pure loss functions on tensors, and the one registry of reconstruction losses by name
(the config's `train.loss` is validated against LOSSES)."""

from __future__ import annotations

import functools
from typing import Callable

import torch

from mnistmax.losses.bitmap import (
    combined_loss,
    conservation_penalty,
    dice_loss,
    false_positive_penalty,
    precision_bce_loss,
    recall_penalty,
    weighted_bce_loss,
)
from mnistmax.losses.perceptual import perceptual_loss, perceptual_lpips_loss
from mnistmax.losses.reconstruction import bce_loss, charbonnier_loss, l1_loss, l2_loss
from mnistmax.registry import Registry, accepted_options, keyword_names

_LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "l2": l2_loss,
    "l1": l1_loss,
    "charbonnier": charbonnier_loss,
    "bce": bce_loss,
    "weighted_bce": weighted_bce_loss,
    "precision_bce": precision_bce_loss,
    "dice": dice_loss,
    "fp_penalty": false_positive_penalty,
    "conservation_penalty": conservation_penalty,  # penalties: terms of train.loss_weights beside a loss
    "recall_penalty": recall_penalty,
    "combined": combined_loss,
    "perceptual": perceptual_loss,  # needs `features`: the judge classifier's (tasks bind it)
    "perceptual_lpips": perceptual_lpips_loss,  # needs `lpips`: downloaded AlexNet weights
}
LOSSES: Registry[Callable] = Registry("loss", ordered=True)
for _name, _loss in _LOSSES.items():
    LOSSES.register(_name, _loss)
RESOURCES = ("features", "lpips")  # options that are networks, not config values: a task provides them


def needs(name: str) -> list[str]:
    """The networks (RESOURCES) the loss called `name` needs bound before it can run."""
    return [r for r in RESOURCES if takes_option(name, r)]


def takes_option(name: str, option: str) -> bool:
    """Whether the loss called `name` takes the config option `option` (e.g. fp_weight)."""
    return option in keyword_names(LOSSES[name])


def get_loss(name: str, **options):
    """The loss called `name`, with those of `options` it takes bound (e.g. fp_weight)."""
    loss = LOSSES.get(name)
    accepted = accepted_options(loss, options)
    return functools.partial(loss, **accepted) if accepted else loss


def weighted_loss(weights: dict[str, float], **options):
    """sum(weight * loss) over `weights` ({name: weight}), each loss with its `options` bound;
    returns (pred, target) -> (total, {name: term})."""
    parts = {name: get_loss(name, **options) for name in weights}

    def loss(pred: torch.Tensor, target: torch.Tensor):
        terms = {name: fn(pred, target) for name, fn in parts.items()}
        return sum(weights[name] * term for name, term in terms.items()), terms

    return loss
