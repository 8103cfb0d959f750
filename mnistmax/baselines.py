"""Classical denoisers to compare against: pure functions (B, 1, H, W) -> (B, 1, H, W)."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F


def identity(noisy: torch.Tensor) -> torch.Tensor:
    """The noisy input itself: what doing nothing scores."""
    return noisy


def gaussian_kernel(sigma: float, radius: int | None = None) -> torch.Tensor:
    radius = radius if radius is not None else max(1, int(round(2 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-(x**2) / (2 * sigma**2))
    return k / k.sum()


def gaussian_filter(noisy: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """Separable Gaussian blur (reflect padding), default σ = 1 px (5x5 support)."""
    k = gaussian_kernel(sigma).to(noisy.device, noisy.dtype)
    r = len(k) // 2
    x = F.pad(noisy, (r, r, r, r), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    return F.conv2d(x, k.view(1, 1, -1, 1))


def median_filter(noisy: torch.Tensor, size: int = 3) -> torch.Tensor:
    """Median over a size x size window (reflect padding)."""
    r = size // 2
    x = F.pad(noisy, (r, r, r, r), mode="reflect")
    patches = x.unfold(2, size, 1).unfold(3, size, 1)  # (B, 1, H, W, size, size)
    return patches.flatten(-2).median(dim=-1).values


BASELINES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "identity": identity,
    "gaussian_filter": gaussian_filter,
    "median_filter": median_filter,
}
