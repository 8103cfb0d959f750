"""Running a network over many images: the one chunked-inference loop."""

from __future__ import annotations

import contextlib
from typing import Callable

import torch


@contextlib.contextmanager
def eval_mode(module: torch.nn.Module):
    """The module in eval mode (BatchNorm statistics, no dropout), its mode restored after."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def module_device(module: torch.nn.Module) -> torch.device:
    return next(module.parameters()).device


def batched(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int = 1000,
            module: torch.nn.Module | None = None, to_cpu: bool = True) -> torch.Tensor:
    """`fn` over slices of at most `batch_size` items of `x`, without gradients, outputs
    concatenated (on the CPU unless `to_cpu=False`). `module` (`fn` itself when it is one,
    or the model a method such as `task.reconstruct` belongs to) runs in eval mode, gets
    its mode back, and the slices go to its device."""
    if module is None and isinstance(fn, torch.nn.Module):
        module = fn
    device = module_device(module) if module is not None else None
    with eval_mode(module) if module is not None else contextlib.nullcontext(), torch.no_grad():
        parts = []
        for part in x.split(batch_size):
            out = fn(part if device is None else part.to(device)).float()
            parts.append(out.cpu() if to_cpu else out)
    return torch.cat(parts) if len(parts) != 1 else parts[0]
