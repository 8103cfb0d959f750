"""Pure, batched, seedable noise functions.

Every function takes `images` (B, 1, H, W) in [0, 1] on any device, a `level` in [0, 1]
(a float, or a (B,) tensor for one level per image) and an optional `torch.Generator` on
the images' device, and returns a new tensor; level 0 returns the input unchanged and
level 1 is the strongest corruption of that kind.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

Level = float | torch.Tensor

MAX_LINES = 6
MAX_BLOCKS = 5


def _per_image(level: Level, images: torch.Tensor) -> torch.Tensor:
    """Level as a (B, 1, 1, 1) tensor on the images' device."""
    level = torch.as_tensor(level, dtype=images.dtype, device=images.device)
    return level.expand(images.shape[0]).reshape(-1, 1, 1, 1)


def _rand(shape, images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=images.device, dtype=images.dtype)


def add_gaussian_noise(images, level: Level, generator=None, clip: bool = True) -> torch.Tensor:
    """x + N(0, σ²) with σ = level on the [0, 1] pixel scale; clipped to [0, 1] unless clip=False."""
    noise = torch.randn(images.shape, generator=generator, device=images.device, dtype=images.dtype)
    noisy = images + _per_image(level, images) * noise
    return noisy.clamp(0.0, 1.0) if clip else noisy


def add_salt_pepper_noise(images, level: Level, generator=None, clip: bool = True) -> torch.Tensor:
    """Each pixel, with probability `level`, becomes 0 or 1 (equally likely)."""
    hit = _rand(images.shape, images, generator) < _per_image(level, images)
    salt = (_rand(images.shape, images, generator) < 0.5).to(images.dtype)
    return torch.where(hit, salt, images)


def flip_pixels(images, level: Level, generator=None, clip: bool = True) -> torch.Tensor:
    """Each pixel, with probability level / 2, becomes 1 - x. At level 1 half the pixels are
    inverted, which leaves no information about a binary image (flipping all would not)."""
    hit = _rand(images.shape, images, generator) < 0.5 * _per_image(level, images)
    return torch.where(hit, 1.0 - images, images)


def _pixel_grid(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    h, w = images.shape[-2:]
    ys = torch.arange(h, device=images.device, dtype=images.dtype).view(1, 1, h, 1)
    xs = torch.arange(w, device=images.device, dtype=images.dtype).view(1, 1, 1, w)
    return ys, xs


def _count_mask(level: Level, images: torch.Tensor, maximum: int) -> torch.Tensor:
    """(B, maximum, 1, 1) mask keeping the first ceil(level * maximum) shapes of each image:
    any level above 0 draws at least one shape, and every step of 1/maximum adds one."""
    count = torch.ceil(_per_image(level, images).view(-1, 1) * maximum - 1e-6)  # (B, 1)
    index = torch.arange(maximum, device=images.device, dtype=images.dtype).view(1, -1)
    return (index < count).view(-1, maximum, 1, 1)


def draw_lines(images, level: Level, generator=None, clip: bool = True) -> torch.Tensor:
    """Up to MAX_LINES straight strokes (random angle, position, width 1-2 px, intensity 0.6-1)
    drawn across the image; ceil(level * MAX_LINES) of them."""
    b, h, w = images.shape[0], *images.shape[-2:]
    ys, xs = _pixel_grid(images)
    params = _rand((b, MAX_LINES, 4), images, generator)
    theta = (params[..., 0] * math.pi).view(b, MAX_LINES, 1, 1)
    offset = ((params[..., 1] - 0.5) * 0.8 * min(h, w)).view(b, MAX_LINES, 1, 1)
    half_width = (0.5 + 0.5 * params[..., 2]).view(b, MAX_LINES, 1, 1)
    value = (0.6 + 0.4 * params[..., 3]).view(b, MAX_LINES, 1, 1)
    dist = ((xs - (w - 1) / 2) * torch.cos(theta) + (ys - (h - 1) / 2) * torch.sin(theta) - offset).abs()
    strokes = (dist <= half_width) & _count_mask(level, images, MAX_LINES)  # (B, L, H, W)
    ink = (strokes.to(images.dtype) * value).amax(dim=1, keepdim=True)
    return torch.maximum(images, ink)


def draw_blocks(images, level: Level, generator=None, clip: bool = True) -> torch.Tensor:
    """Up to MAX_BLOCKS rectangles (4-10 px sides) filled with black or white, ceil(level *
    MAX_BLOCKS) of them: occlusions that erase strokes or cover background."""
    b, h, w = images.shape[0], *images.shape[-2:]
    ys, xs = _pixel_grid(images)
    params = _rand((b, MAX_BLOCKS, 5), images, generator)
    size_h = (4 + params[..., 0] * 6).view(b, MAX_BLOCKS, 1, 1)
    size_w = (4 + params[..., 1] * 6).view(b, MAX_BLOCKS, 1, 1)
    top = (params[..., 2].view(b, MAX_BLOCKS, 1, 1) * (h - size_h)).floor()
    left = (params[..., 3].view(b, MAX_BLOCKS, 1, 1) * (w - size_w)).floor()
    fill = (params[..., 4] < 0.5).to(images.dtype).view(b, MAX_BLOCKS, 1, 1)
    inside = (ys >= top) & (ys < top + size_h) & (xs >= left) & (xs < left + size_w)
    inside = inside & _count_mask(level, images, MAX_BLOCKS)  # (B, K, H, W)
    out = images
    for k in range(MAX_BLOCKS):  # later blocks paint over earlier ones
        out = torch.where(inside[:, k : k + 1], fill[:, k : k + 1], out)
    return out


def add_mixed_noise(images, level: Level, generator=None, clip: bool = True) -> torch.Tensor:
    """Each image gets one of the other kinds, chosen at random, at its level."""
    kinds = [NOISE_FUNCTIONS[k] for k in NOISE_FUNCTIONS if k != "mixed"]
    choice = torch.randint(len(kinds), (images.shape[0],), generator=generator, device=images.device)
    out = images.clone()
    for i, fn in enumerate(kinds):
        noisy = fn(images, level, generator=generator, clip=clip)
        out = torch.where((choice == i).view(-1, 1, 1, 1), noisy, out)
    return out


NOISE_FUNCTIONS: dict[str, Callable[..., torch.Tensor]] = {
    "gaussian": add_gaussian_noise,
    "salt_pepper": add_salt_pepper_noise,
    "pixel_flip": flip_pixels,
    "lines": draw_lines,
    "blocks": draw_blocks,
    "mixed": add_mixed_noise,
}


def apply_noise(kind: str, images: torch.Tensor, level: Level, generator=None, clip: bool = True) -> torch.Tensor:
    try:
        fn = NOISE_FUNCTIONS[kind]
    except KeyError:
        raise ValueError(f"unknown noise kind {kind!r}; valid: {', '.join(NOISE_FUNCTIONS)}") from None
    return fn(images, level, generator=generator, clip=clip)


def sample_levels(
    n: int,
    choices: list[float] | None = None,
    level_range: tuple[float, float] | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """One training level per image: uniform in `level_range` when given, else drawn from `choices`."""
    if level_range is not None:
        low, high = level_range
        return low + (high - low) * torch.rand(n, generator=generator, device=device)
    table = torch.tensor(choices, device=device, dtype=torch.float32)
    index = torch.randint(len(choices), (n,), generator=generator, device=device)
    return table[index]
