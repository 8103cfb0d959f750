"""Destructive noise kinds: pixels may be added, removed or changed.

Every function takes `images` (B, 1, H, W) in [0, 1] on any device, a `level` in [0, 1]
(a float, or a (B,) tensor for one level per image) and an optional `torch.Generator` on
the images' device, and returns a new tensor; level 0 returns the input unchanged and
level 1 is the strongest corruption of that kind. Keyword-only arguments after `clip` are
the kind's parameters (`noise.params.<kind>` in a config), validated against these annotations.
"""

from __future__ import annotations

import torch

from mnistmax.data.noise.masks import (
    KindList,
    Level,
    Probability,
    ShapeCount,
    Span,
    UnitSpan,
    count_mask,
    line_masks,
    mix,
    per_image,
    rect_masks,
    uniform,
)

MAX_LINES = 6
MAX_BLOCKS = 5
MIX = ("gaussian", "salt_pepper", "pixel_flip", "lines", "blocks")  # what `mixed` draws from


def add_gaussian_noise(images, level: Level, generator=None, clip: bool = True) -> torch.Tensor:
    """x + N(0, σ²) with σ = level on the [0, 1] pixel scale; clipped to [0, 1] unless clip=False."""
    noise = torch.randn(images.shape, generator=generator, device=images.device, dtype=images.dtype)
    noisy = images + per_image(level, images) * noise
    return noisy.clamp(0.0, 1.0) if clip else noisy


def add_salt_pepper_noise(images, level: Level, generator=None, clip: bool = True, *,
                          salt_prob: Probability = 0.5) -> torch.Tensor:
    """Each pixel, with probability `level`, becomes 1 (salt, probability `salt_prob`) or 0 (pepper)."""
    hit = uniform(images.shape, images, generator) < per_image(level, images)
    salt = (uniform(images.shape, images, generator) < salt_prob).to(images.dtype)
    return torch.where(hit, salt, images)


def flip_pixels(images, level: Level, generator=None, clip: bool = True, *,
                max_fraction: Probability = 0.5) -> torch.Tensor:
    """Each pixel, with probability level * max_fraction, becomes 1 - x. At level 1 (and the default
    0.5) half the pixels are inverted, which leaves no information about a binary image (flipping
    all would not)."""
    hit = uniform(images.shape, images, generator) < max_fraction * per_image(level, images)
    return torch.where(hit, 1.0 - images, images)


def draw_lines(images, level: Level, generator=None, clip: bool = True, *, max_lines: ShapeCount = MAX_LINES,
               width: Span = (1.0, 2.0), intensity: UnitSpan = (0.6, 1.0)) -> torch.Tensor:
    """Up to `max_lines` straight strokes (random angle and position, `width` px wide, `intensity`)
    drawn across the image; ceil(level * max_lines) of them."""
    strokes = line_masks(images, max_lines, generator, width) & count_mask(level, images, max_lines)  # (B, L, H, W)
    low, high = intensity
    value = low + (high - low) * uniform((images.shape[0], max_lines, 1, 1), images, generator)
    ink = (strokes.to(images.dtype) * value).amax(dim=1, keepdim=True)
    return torch.maximum(images, ink)


def draw_blocks(images, level: Level, generator=None, clip: bool = True, *, max_blocks: ShapeCount = MAX_BLOCKS,
                size_range: Span = (4.0, 10.0), ink_prob: Probability = 0.5) -> torch.Tensor:
    """Up to `max_blocks` rectangles (sides in `size_range` px) filled with ink (probability
    `ink_prob`) or background, ceil(level * max_blocks) of them: occlusions that erase strokes
    or cover background."""
    inside = rect_masks(images, max_blocks, generator, *size_range) & count_mask(level, images, max_blocks)
    fill = (uniform((images.shape[0], max_blocks, 1, 1), images, generator) < ink_prob).to(images.dtype)
    out = images
    for k in range(max_blocks):  # later blocks paint over earlier ones
        out = torch.where(inside[:, k : k + 1], fill[:, k : k + 1], out)
    return out


def add_mixed_noise(images, level: Level, generator=None, clip: bool = True, *, kinds: KindList = MIX) -> torch.Tensor:
    """Each image gets one of `kinds` (gaussian, salt_pepper, pixel_flip, lines, blocks) at its level;
    `apply_noise` also composes several per image (noise.kinds_per_image) with each kind's params."""
    return mix([DESTRUCTIVE_FUNCTIONS[k] for k in kinds], images, level, generator, clip)


DESTRUCTIVE_FUNCTIONS = {
    "gaussian": add_gaussian_noise,
    "salt_pepper": add_salt_pepper_noise,
    "pixel_flip": flip_pixels,
    "lines": draw_lines,
    "blocks": draw_blocks,
    "mixed": add_mixed_noise,
}
