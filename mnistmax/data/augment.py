"""Batched MNIST augmentations (contrastive views; augment.enabled for the other tasks), run on the batch's device.

One call draws per-image parameters (or one shared set when `consistent=True`) and applies
a random affine warp (rotation, translation, scale), optional elastic jitter, random
erasing and a brightness scale. Shapes stay (B, 1, H, W) and values stay in [0, 1].
Named strengths (`augment.preset`) are one table here, AUGMENT_PRESETS.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, field_validator

from mnistmax.data.noise.masks import rect_masks


class AugmentParams(BaseModel):
    """The augmentation's parameters, with their valid ranges; the config's `augment:`
    section is this plus its switches."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)
    rotation: float = Field(15.0, ge=0, le=180)  # degrees, ±
    translate: float = Field(0.12, ge=0, le=0.5)  # fraction of the image size, ±
    scale: tuple[float, float] = (0.85, 1.15)  # zoom factor range: 0 < low <= high <= 4
    elastic: float = Field(0.0, ge=0, le=5)  # displacement in pixels (0 = off)
    erase_prob: float = Field(0.25, ge=0, le=1)
    brightness: tuple[float, float] = (0.7, 1.0)  # ink factor range: 0 <= low <= high <= 1

    @field_validator("scale")
    @classmethod
    def _scale(cls, value):
        low, high = value
        if not 0 < low <= high <= 4:
            raise ValueError(f"scale {list(value)}: use [low, high] with 0 < low <= high <= 4 (a zoom factor; 0 "
                             "would divide by zero)")
        return value

    @field_validator("brightness")
    @classmethod
    def _brightness(cls, value):
        low, high = value
        if not 0 <= low <= high <= 1:
            raise ValueError(f"brightness {list(value)}: use [low, high] with 0 <= low <= high <= 1")
        return value


# Named augmentation strengths (augment.preset): one table, printed in docs/configuration.md. A preset
# fills the augment keys a config leaves out; keys the config sets win. `default` is AugmentParams' defaults.
AUGMENT_PRESETS: dict[str, dict[str, Any]] = {
    "light": {"rotation": 8.0, "translate": 0.06, "scale": [0.93, 1.07], "elastic": 0.0, "erase_prob": 0.0,
              "brightness": [0.85, 1.0]},
    "default": AugmentParams().model_dump(mode="json"),
    "strong": {"rotation": 25.0, "translate": 0.18, "scale": [0.75, 1.25], "elastic": 1.5, "erase_prob": 0.5,
               "brightness": [0.5, 1.0]},
}


def _uniform(n: int, low: float, high: float, generator, device) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, device=device)


def augment(images: torch.Tensor, params: AugmentParams = AugmentParams(), generator=None,
            consistent: bool = False) -> torch.Tensor:
    """A random view of each image. With `consistent`, every image in the batch gets the
    same warp, erasing box and brightness."""
    b, device = images.shape[0], images.device
    n = 1 if consistent else b
    angle = _uniform(n, -params.rotation, params.rotation, generator, device) * math.pi / 180
    scale = _uniform(n, *params.scale, generator, device)
    shift = _uniform(2 * n, -params.translate, params.translate, generator, device).view(n, 2) * 2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.expand(b, 2, 3), list(images.shape), align_corners=False)  # (B, H, W, 2)
    if params.elastic > 0:
        h, w = images.shape[-2:]
        field = torch.randn((n, 2, 3, 3), generator=generator, device=device)  # smooth: 3x3 control points
        field = F.interpolate(field, size=(h, w), mode="bicubic", align_corners=False)
        grid = grid + (field.permute(0, 2, 3, 1) * params.elastic * 2 / h).expand(b, h, w, 2)
    out = F.grid_sample(images, grid.to(images.dtype), mode="bilinear", padding_mode="zeros", align_corners=False)
    if params.erase_prob > 0:
        boxes = rect_masks(out[:n], 1, generator, 4, 10)[:, :1]  # (n, 1, H, W)
        hit = (torch.rand(n, generator=generator, device=device) < params.erase_prob).view(n, 1, 1, 1)
        out = out.masked_fill((boxes & hit).expand(b, 1, *out.shape[-2:]), 0.0)
    bright = _uniform(n, *params.brightness, generator, device).view(n, 1, 1, 1)
    return (out * bright).clamp(0.0, 1.0)
