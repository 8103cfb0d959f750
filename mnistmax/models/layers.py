"""Building blocks shared by the networks. Shapes in comments are (B, C, H, W).

The argument types below carry their valid ranges: the registry checks a config's model
options against them (they are plain ints to Python)."""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn as nn
import torch.nn.functional as F
from pydantic import Field

Width = Annotated[int, Field(gt=0, le=512)]  # channels of the first stage
Depth = Annotated[int, Field(ge=1, le=3)]  # stride-2 stages on 28x28 inputs
UNetDepth = Annotated[int, Field(ge=1, le=4)]  # U-Nets pad 28x28 to a multiple of 2^depth and crop back
Dim = Annotated[int, Field(gt=0, le=4096)]  # embedding size
LatentDim = Annotated[int, Field(gt=0, le=1024)]
Channels = Annotated[int, Field(ge=1, le=16)]  # image channels in or out (the data itself has 1)
Count = Annotated[int, Field(gt=0, le=64)]  # blocks, layers, heads


class ConvBlock(nn.Sequential):
    """(conv 3x3 -> BatchNorm -> SiLU) x 2."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__(
            nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.SiLU(inplace=True),
            nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.SiLU(inplace=True),
        )


class ResBlock(nn.Module):
    """x + conv(act(bn(conv(act(bn(x))))))  (pre-activation residual block)."""

    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(ch),
            nn.SiLU(),
            nn.Conv2d(ch, ch, 3, padding=1, bias=False),
            nn.BatchNorm2d(ch),
            nn.SiLU(),
            nn.Conv2d(ch, ch, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SelfAttention2d(nn.Module):
    """Multi-head self-attention over the H*W positions of a feature map, with a residual."""

    def __init__(self, ch: int, heads: int = 4):
        super().__init__()
        self.norm = nn.GroupNorm(1, ch)
        self.attn = nn.MultiheadAttention(ch, heads, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        tokens = self.norm(x).flatten(2).transpose(1, 2)  # (B, HW, C)
        out, _ = self.attn(tokens, tokens, tokens, need_weights=False)
        return x + out.transpose(1, 2).reshape(b, c, h, w)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Zero-pad H and W up to a multiple (bottom/right); returns the original size to crop back."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    return (F.pad(x, (0, pw, 0, ph)) if ph or pw else x), (h, w)
