"""Additive-only noise: ink is added, never removed.

Every function returns max(images, ink) with ink in {0, 1}, so `noisy >= clean` holds for
every pixel, and a binarized image stays binary with its on-pixels a superset of the
clean ones. Same signature as the other kinds: (images, level, generator, clip).
"""

from __future__ import annotations

import torch

from mnistmax.data.noise.masks import Level, blob_masks, count_mask, line_masks, mix, per_image, rect_masks, uniform

MAX_ADDED_LINES = 5
MAX_ADDED_BLOCKS = 4
MAX_BLOBS = 6
MAX_PIXEL_FRACTION = 0.2


def _add(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """max(images, any(masks)) for (B, K, H, W) masks."""
    return torch.maximum(images, masks.any(dim=1, keepdim=True).to(images.dtype))


def add_pixels(images, level: Level, generator=None, clip: bool = True) -> torch.Tensor:
    """Each pixel turns on with probability 0.2 * level (isolated specks)."""
    return _add(images, uniform(images.shape, images, generator) < MAX_PIXEL_FRACTION * per_image(level, images))


def add_lines(images, level: Level, generator=None, clip: bool = True) -> torch.Tensor:
    """ceil(5 * level) straight lines, 1-2 px wide, across the image."""
    return _add(images, line_masks(images, MAX_ADDED_LINES, generator) & count_mask(level, images, MAX_ADDED_LINES))


def add_blocks(images, level: Level, generator=None, clip: bool = True) -> torch.Tensor:
    """ceil(4 * level) filled rectangles with sides of 3-7 px."""
    masks = rect_masks(images, MAX_ADDED_BLOCKS, generator, 3, 7)
    return _add(images, masks & count_mask(level, images, MAX_ADDED_BLOCKS))


def add_blobs(images, level: Level, generator=None, clip: bool = True) -> torch.Tensor:
    """ceil(6 * level) ink blots (filled ellipses, radii 1.2-3 px)."""
    return _add(images, blob_masks(images, MAX_BLOBS, generator) & count_mask(level, images, MAX_BLOBS))


def add_border(images, level: Level, generator=None, clip: bool = True) -> torch.Tensor:
    """Scanner-edge artefacts: ceil(4 * level) of the four sides get a solid band 1-3 px deep."""
    b, h, w = images.shape[0], *images.shape[-2:]
    ys = torch.arange(h, device=images.device, dtype=images.dtype).view(1, 1, h, 1)
    xs = torch.arange(w, device=images.device, dtype=images.dtype).view(1, 1, 1, w)
    depth = 1 + (uniform((b, 4, 1, 1), images, generator) * 3).floor()  # (B, 4, 1, 1) in {1, 2, 3}
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


def add_mixed(images, level: Level, generator=None, clip: bool = True) -> torch.Tensor:
    """Each image gets one of the additive kinds above, at its level."""
    return mix([add_pixels, add_lines, add_blocks, add_blobs, add_border], images, level, generator, clip)


ADDITIVE_FUNCTIONS = {
    "add_pixels": add_pixels,
    "add_lines": add_lines,
    "add_blocks": add_blocks,
    "add_blobs": add_blobs,
    "add_border": add_border,
    "add_mixed": add_mixed,
}
