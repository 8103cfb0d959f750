"""AblationGate: a denoiser that can only turn pixels off.

    output = min(net(x), x)

holds for every input and every weight, not on average: the gate is an element-wise
minimum, so no pixel of the output is brighter than the same pixel of the input. Where the
network's prediction is the smaller value the gradient flows to the network; elsewhere the
input passes through unchanged. Every registered denoiser `<name>` gets `ablation_<name>`.
"""

from __future__ import annotations

import functools
import inspect

import torch
import torch.nn as nn

from mnistmax.registry import create_model, get_entry, list_models, register_model


class AblationGate(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def ungated(self, x: torch.Tensor) -> torch.Tensor:
        """The wrapped network's own prediction (for comparison tables)."""
        return self.net(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x is not cast to the prediction's dtype: rounding it to bf16 could exceed x itself
        return torch.minimum(self.net(x), x)


def _register_gated(name: str) -> None:
    factory = get_entry(name).factory

    @functools.wraps(factory)
    def build(**kwargs) -> AblationGate:
        return AblationGate(create_model(name, **kwargs))

    build.__signature__ = inspect.signature(factory)  # create_model reads the accepted kwargs
    register_model(f"ablation_{name}", family="denoise")(build)


for _name in list_models("denoise"):
    if not _name.startswith("ablation_"):
        _register_gated(_name)
