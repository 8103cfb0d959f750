"""U-Net denoisers: `unet_dae` and `attention_dae` (self-attention at the bottleneck)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from mnistmax.models._registry import register_model
from mnistmax.models.layers import Channels, ConvBlock, SelfAttention2d, UNetDepth, Width, pad_to_multiple


class UNet(nn.Module):
    """Encoder of `num_downs` max-pool stages (channels base_ch * 2^i), a bottleneck, and a
    decoder of transposed convs with skip connections; a 1x1 head and a sigmoid.
    (B, in_ch, H, W) -> (B, out_ch, H, W) for any H, W: padded to a multiple of 2^num_downs
    and cropped back."""

    def __init__(self, base_ch: int = 32, num_downs: int = 2, attention: bool = False, in_ch: int = 1,
                 out_ch: int = 1):
        super().__init__()
        self.num_downs = num_downs
        chs = [base_ch * 2**i for i in range(num_downs + 1)]
        self.enc = nn.ModuleList([ConvBlock(in_ch, chs[0])] + [ConvBlock(chs[i], chs[i + 1]) for i in range(num_downs)])
        self.attn = SelfAttention2d(chs[-1]) if attention else nn.Identity()
        self.up = nn.ModuleList(nn.ConvTranspose2d(chs[i + 1], chs[i], 2, stride=2) for i in reversed(range(num_downs)))
        self.dec = nn.ModuleList(ConvBlock(2 * chs[i], chs[i]) for i in reversed(range(num_downs)))
        self.head = nn.Conv2d(chs[0], out_ch, 1)
        nn.init.constant_(self.head.bias, -2.0)  # start near the mostly-black digit background

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(x, 2**self.num_downs)
        skips = []
        z = x
        for i, block in enumerate(self.enc):
            z = block(z if i == 0 else F.max_pool2d(z, 2))  # (B, c*2^i, H/2^i, W/2^i)
            skips.append(z)
        z = self.attn(skips.pop())
        for up, dec in zip(self.up, self.dec):
            z = dec(torch.cat([up(z), skips.pop()], dim=1))
        return torch.sigmoid(self.head(z))[..., :h, :w]


@register_model("unet_dae")
def unet_dae(base_ch: Width = 32, num_downs: UNetDepth = 2, in_ch: Channels = 1, out_ch: Channels = 1) -> UNet:
    return UNet(base_ch, num_downs, in_ch=in_ch, out_ch=out_ch)


@register_model("attention_dae")
def attention_dae(base_ch: Width = 32, num_downs: UNetDepth = 2, in_ch: Channels = 1, out_ch: Channels = 1) -> UNet:
    return UNet(base_ch, num_downs, attention=True, in_ch=in_ch, out_ch=out_ch)
