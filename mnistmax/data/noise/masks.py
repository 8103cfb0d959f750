"""Batched random shapes shared by the noise kinds: per-image levels, line, rectangle and
blob masks, and `mix` (one kind per image). Everything is a tensor op on the images' device;
`generator` makes it repeatable."""

from __future__ import annotations

import math
from typing import Annotated, Callable

import torch
from pydantic import AfterValidator, Field

Level = float | torch.Tensor


def _ordered(span: tuple[float, float]) -> tuple[float, float]:
    if span[0] > span[1]:
        raise ValueError(f"low {span[0]} must not exceed high {span[1]}")
    return span


# the annotations of the kinds' parameters (noise.params.<kind>.<name>), checked by pydantic
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
ShapeCount = Annotated[int, Field(ge=1, le=32)]  # shapes drawn at level 1
Span = Annotated[tuple[Annotated[float, Field(gt=0.0, le=28.0)], Annotated[float, Field(gt=0.0, le=28.0)]],
                 AfterValidator(_ordered)]  # [low, high] in pixels
UnitSpan = Annotated[tuple[Probability, Probability], AfterValidator(_ordered)]  # [low, high] in [0, 1]
KindList = Annotated[tuple[str, ...], Field(min_length=1)]  # a mixture's kinds (checked by the noise registry)


def per_image(level: Level, images: torch.Tensor) -> torch.Tensor:
    """Level as a (B, 1, 1, 1) tensor on the images' device."""
    level = torch.as_tensor(level, dtype=images.dtype, device=images.device)
    return level.expand(images.shape[0]).reshape(-1, 1, 1, 1)


def uniform(shape, images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=images.device, dtype=images.dtype)


def pixel_grid(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column coordinates shaped (1, 1, H, 1) and (1, 1, 1, W)."""
    h, w = images.shape[-2:]
    ys = torch.arange(h, device=images.device, dtype=images.dtype).view(1, 1, h, 1)
    xs = torch.arange(w, device=images.device, dtype=images.dtype).view(1, 1, 1, w)
    return ys, xs


def count_mask(level: Level, images: torch.Tensor, maximum: int) -> torch.Tensor:
    """(B, maximum, 1, 1) mask keeping the first ceil(level * maximum) shapes of each image:
    any level above 0 draws at least one shape, and every step of 1/maximum adds one."""
    count = torch.ceil(per_image(level, images).view(-1, 1) * maximum - 1e-6)  # (B, 1)
    index = torch.arange(maximum, device=images.device, dtype=images.dtype).view(1, -1)
    return (index < count).view(-1, maximum, 1, 1)


def line_masks(images: torch.Tensor, n: int, generator, width: tuple[float, float] = (1.0, 2.0)) -> torch.Tensor:
    """(B, n, H, W) masks of straight lines at random angle and offset, `width` px wide (a range)."""
    b, h, w = images.shape[0], *images.shape[-2:]
    ys, xs = pixel_grid(images)
    params = uniform((b, n, 3), images, generator)
    theta = (params[..., 0] * math.pi).view(b, n, 1, 1)
    offset = ((params[..., 1] - 0.5) * 0.8 * min(h, w)).view(b, n, 1, 1)
    half_width = (0.5 * width[0] + 0.5 * (width[1] - width[0]) * params[..., 2]).view(b, n, 1, 1)
    dist = ((xs - (w - 1) / 2) * torch.cos(theta) + (ys - (h - 1) / 2) * torch.sin(theta) - offset).abs()
    return dist <= half_width


def rect_masks(images: torch.Tensor, n: int, generator, min_side: float, max_side: float) -> torch.Tensor:
    """(B, n, H, W) masks of axis-aligned rectangles with sides in [min_side, max_side] px."""
    b, h, w = images.shape[0], *images.shape[-2:]
    ys, xs = pixel_grid(images)
    params = uniform((b, n, 4), images, generator)
    size_h = (min_side + params[..., 0] * (max_side - min_side)).view(b, n, 1, 1)
    size_w = (min_side + params[..., 1] * (max_side - min_side)).view(b, n, 1, 1)
    top = (params[..., 2].view(b, n, 1, 1) * (h - size_h)).floor()
    left = (params[..., 3].view(b, n, 1, 1) * (w - size_w)).floor()
    return (ys >= top) & (ys < top + size_h) & (xs >= left) & (xs < left + size_w)


def blob_masks(images: torch.Tensor, n: int, generator, min_radius: float = 1.2, max_radius: float = 3.0):
    """(B, n, H, W) masks of filled ellipses (ink blots) with radii in [min_radius, max_radius]."""
    b, h, w = images.shape[0], *images.shape[-2:]
    ys, xs = pixel_grid(images)
    params = uniform((b, n, 4), images, generator)
    cy = (2 + params[..., 0] * (h - 5)).view(b, n, 1, 1)
    cx = (2 + params[..., 1] * (w - 5)).view(b, n, 1, 1)
    ry = (min_radius + params[..., 2] * (max_radius - min_radius)).view(b, n, 1, 1)
    rx = (min_radius + params[..., 3] * (max_radius - min_radius)).view(b, n, 1, 1)
    return ((ys - cy) / ry) ** 2 + ((xs - cx) / rx) ** 2 <= 1.0


def mix(kinds: list[Callable], images, level: Level, generator=None, clip: bool = True,
        per_image_kinds: int = 1) -> torch.Tensor:
    """Each image gets `per_image_kinds` distinct kinds of `kinds`, chosen at random, at its level,
    applied one after the other in the order of `kinds`.

    On the CPU each kind is made for its own images only (add_mixed: 5x less work); on an
    accelerator every kind is made for the whole batch and selected with `where`, which needs
    no host sync to learn how many images chose each kind."""
    b = images.shape[0]
    if per_image_kinds == 1:
        choice = torch.randint(len(kinds), (b,), generator=generator, device=images.device)
        chosen = choice.view(-1, 1) == torch.arange(len(kinds), device=images.device).view(1, -1)  # (B, K)
    else:  # the k kinds with the smallest random ranks
        rank = torch.argsort(torch.argsort(uniform((b, len(kinds)), images, generator), dim=1), dim=1)
        chosen = rank < per_image_kinds
    out = images.clone()
    if images.device.type == "cpu":
        levels = per_image(level, images).flatten()
        for i, fn in enumerate(kinds):
            idx = chosen[:, i].nonzero().flatten()
            if len(idx):
                out[idx] = fn(out[idx], levels[idx], generator=generator, clip=clip)
        return out
    for i, fn in enumerate(kinds):
        noisy = fn(out, level, generator=generator, clip=clip)
        out = torch.where(chosen[:, i].view(-1, 1, 1, 1), noisy, out)
    return out
