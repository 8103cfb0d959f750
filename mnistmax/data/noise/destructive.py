"""Destructive noise kinds: pixels may be added, removed or changed.

Every function takes `images` (B, 1, H, W) in [0, 1] on any device, a `level` in [0, 1]
(a float, or a (B,) tensor for one level per image) and an optional `torch.Generator` on
the images' device, and returns a new tensor; level 0 returns the input unchanged and
level 1 is the strongest corruption of that kind.
"""

from __future__ import annotations

import torch

from mnistmax.data.noise.masks import Level, count_mask, line_masks, mix, per_image, rect_masks, uniform

MAX_LINES = 6
MAX_BLOCKS = 5


def add_gaussian_noise(images, level: Level, generator=None, clip: bool = True) -> torch.Tensor:
    """x + N(0, σ²) with σ = level on the [0, 1] pixel scale; clipped to [0, 1] unless clip=False."""
    noise = torch.randn(images.shape, generator=generator, device=images.device, dtype=images.dtype)
    noisy = images + per_image(level, images) * noise
    return noisy.clamp(0.0, 1.0) if clip else noisy


def add_salt_pepper_noise(images, level: Level, generator=None, clip: bool = True) -> torch.Tensor:
    """Each pixel, with probability `level`, becomes 0 or 1 (equally likely)."""
    hit = uniform(images.shape, images, generator) < per_image(level, images)
    salt = (uniform(images.shape, images, generator) < 0.5).to(images.dtype)
    return torch.where(hit, salt, images)


def flip_pixels(images, level: Level, generator=None, clip: bool = True) -> torch.Tensor:
    """Each pixel, with probability level / 2, becomes 1 - x. At level 1 half the pixels are
    inverted, which leaves no information about a binary image (flipping all would not)."""
    hit = uniform(images.shape, images, generator) < 0.5 * per_image(level, images)
    return torch.where(hit, 1.0 - images, images)


def draw_lines(images, level: Level, generator=None, clip: bool = True) -> torch.Tensor:
    """Up to MAX_LINES straight strokes (random angle, position, width 1-2 px, intensity
    0.6-1) drawn across the image; ceil(level * MAX_LINES) of them."""
    strokes = line_masks(images, MAX_LINES, generator) & count_mask(level, images, MAX_LINES)  # (B, L, H, W)
    value = 0.6 + 0.4 * uniform((images.shape[0], MAX_LINES, 1, 1), images, generator)
    ink = (strokes.to(images.dtype) * value).amax(dim=1, keepdim=True)
    return torch.maximum(images, ink)


def draw_blocks(images, level: Level, generator=None, clip: bool = True) -> torch.Tensor:
    """Up to MAX_BLOCKS rectangles (4-10 px sides) filled with black or white, ceil(level *
    MAX_BLOCKS) of them: occlusions that erase strokes or cover background."""
    inside = rect_masks(images, MAX_BLOCKS, generator, 4, 10) & count_mask(level, images, MAX_BLOCKS)
    fill = (uniform((images.shape[0], MAX_BLOCKS, 1, 1), images, generator) < 0.5).to(images.dtype)
    out = images
    for k in range(MAX_BLOCKS):  # later blocks paint over earlier ones
        out = torch.where(inside[:, k : k + 1], fill[:, k : k + 1], out)
    return out


def add_mixed_noise(images, level: Level, generator=None, clip: bool = True) -> torch.Tensor:
    """Each image gets one of gaussian, salt_pepper, pixel_flip, lines, blocks at its level."""
    kinds = [add_gaussian_noise, add_salt_pepper_noise, flip_pixels, draw_lines, draw_blocks]
    return mix(kinds, images, level, generator, clip)


DESTRUCTIVE_FUNCTIONS = {
    "gaussian": add_gaussian_noise,
    "salt_pepper": add_salt_pepper_noise,
    "pixel_flip": flip_pixels,
    "lines": draw_lines,
    "blocks": draw_blocks,
    "mixed": add_mixed_noise,
}
