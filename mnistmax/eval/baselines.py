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


def binary_opening(noisy: torch.Tensor, size: int = 2, threshold: float = 0.5) -> torch.Tensor:
    """Morphological opening (erosion, then dilation) of the thresholded image with a
    size x size square: removes specks and lines thinner than the square; never adds a pixel."""
    x = (noisy > threshold).to(noisy.dtype)
    lo, hi = (size - 1) // 2, size // 2
    eroded = -F.max_pool2d(F.pad(-x, (lo, hi, lo, hi), value=-1.0), size, stride=1)
    return F.max_pool2d(F.pad(eroded, (hi, lo, hi, lo), value=0.0), size, stride=1)


def component_filter(noisy: torch.Tensor, min_size: int = 12, threshold: float = 0.5) -> torch.Tensor:
    """Keep 8-connected components of the thresholded image with at least `min_size` pixels
    (scipy.ndimage.label on the CPU); never adds a pixel."""
    import numpy as np
    from scipy import ndimage

    on = (noisy > threshold).detach().cpu().numpy()
    out = np.zeros_like(on)
    structure = np.ones((3, 3), dtype=bool)
    for i in range(on.shape[0]):
        labels, n = ndimage.label(on[i, 0], structure=structure)
        if n:
            sizes = np.bincount(labels.ravel())
            keep = sizes >= min_size
            keep[0] = False
            out[i, 0] = keep[labels]
    return torch.from_numpy(out).to(noisy.device, noisy.dtype)


BITMAP_BASELINES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "opening": binary_opening,
    "component_filter": component_filter,
}
