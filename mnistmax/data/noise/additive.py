"""Additive-only noise: ink is added, never removed.

Every function returns max(images, ink) with ink in {0, 1}, so `noisy >= clean` holds for
every pixel, and a binarized image stays binary with its on-pixels a superset of the
clean ones. Same signature as the other kinds: (images, level, generator, clip).
"""

from __future__ import annotations

import torch

from mnistmax.data.noise.masks import (
    KindList,
    Level,
    Probability,
    ShapeCount,
    Span,
    blob_masks,
    count_mask,
    line_masks,
    mix,
    per_image,
    rect_masks,
    uniform,
)

MAX_ADDED_LINES = 5
MAX_ADDED_BLOCKS = 4
MAX_BLOBS = 6
MAX_PIXEL_FRACTION = 0.2
ADD_MIX = ("add_pixels", "add_lines", "add_blocks", "add_blobs", "add_border")  # what `add_mixed` draws from


def _add(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """max(images, any(masks)) for (B, K, H, W) masks."""
    return torch.maximum(images, masks.any(dim=1, keepdim=True).to(images.dtype))


def add_pixels(images, level: Level, generator=None, clip: bool = True, *,
               max_fraction: Probability = MAX_PIXEL_FRACTION) -> torch.Tensor:
    """Each pixel turns on with probability max_fraction * level (isolated specks)."""
    return _add(images, uniform(images.shape, images, generator) < max_fraction * per_image(level, images))


def add_lines(images, level: Level, generator=None, clip: bool = True, *, max_lines: ShapeCount = MAX_ADDED_LINES,
              width: Span = (1.0, 2.0)) -> torch.Tensor:
    """ceil(max_lines * level) straight lines, `width` px wide, across the image."""
    return _add(images, line_masks(images, max_lines, generator, width) & count_mask(level, images, max_lines))


def add_blocks(images, level: Level, generator=None, clip: bool = True, *, max_blocks: ShapeCount = MAX_ADDED_BLOCKS,
               size_range: Span = (3.0, 7.0)) -> torch.Tensor:
    """ceil(max_blocks * level) filled rectangles with sides in `size_range` px."""
    masks = rect_masks(images, max_blocks, generator, *size_range)
    return _add(images, masks & count_mask(level, images, max_blocks))


def add_blobs(images, level: Level, generator=None, clip: bool = True, *, max_blobs: ShapeCount = MAX_BLOBS,
              radius_range: Span = (1.2, 3.0)) -> torch.Tensor:
    """ceil(max_blobs * level) ink blots (filled ellipses, radii in `radius_range` px)."""
    masks = blob_masks(images, max_blobs, generator, *radius_range)
    return _add(images, masks & count_mask(level, images, max_blobs))


def add_border(images, level: Level, generator=None, clip: bool = True, *,
               depth_range: Span = (1.0, 3.0)) -> torch.Tensor:
    """Scanner-edge artefacts: ceil(4 * level) of the four sides get a solid band `depth_range` px deep
    (whole pixels)."""
    b, h, w = images.shape[0], *images.shape[-2:]
    ys = torch.arange(h, device=images.device, dtype=images.dtype).view(1, 1, h, 1)
    xs = torch.arange(w, device=images.device, dtype=images.dtype).view(1, 1, 1, w)
    low, high = int(depth_range[0]), int(depth_range[1])
    depth = low + (uniform((b, 4, 1, 1), images, generator) * (high - low + 1)).floor()  # (B, 4, 1, 1)
    bands = torch.cat(
        [
            (ys < depth[:, 0:1]).expand(b, 1, h, w),  # top
            (ys >= h - depth[:, 1:2]).expand(b, 1, h, w),  # bottom
            (xs < depth[:, 2:3]).expand(b, 1, h, w),  # left
            (xs >= w - depth[:, 3:4]).expand(b, 1, h, w),  # right
        ],
        dim=1,
    )
    rank = torch.argsort(torch.argsort(uniform((b, 4), images, generator), dim=1), dim=1)  # random order of sides
    chosen = rank.view(b, 4, 1, 1) < torch.ceil(per_image(level, images) * 4 - 1e-6)
    return _add(images, bands & chosen)


def add_mixed(images, level: Level, generator=None, clip: bool = True, *, kinds: KindList = ADD_MIX) -> torch.Tensor:
    """Each image gets one of `kinds` (the additive kinds above) at its level."""
    return mix([ADDITIVE_FUNCTIONS[k] for k in kinds], images, level, generator, clip)


ADDITIVE_FUNCTIONS = {
    "add_pixels": add_pixels,
    "add_lines": add_lines,
    "add_blocks": add_blocks,
    "add_blobs": add_blobs,
    "add_border": add_border,
    "add_mixed": add_mixed,
}
