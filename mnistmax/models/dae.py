"""Plain convolutional denoisers: `conv_dae` (encoder-decoder, no skips) and `resnet_dae`.

Each maps a noisy (B, 1, 28, 28) image in [0, 1] to a clean estimate in [0, 1].
"""

from __future__ import annotations

import torch
import torch.nn as nn

from mnistmax.models._registry import register_model
from mnistmax.models.layers import ConvBlock, Count, Depth, LatentDim, ResBlock, Width, pad_to_multiple


@register_model("conv_dae")
class ConvDAE(nn.Module):
    """Conv encoder with `num_downs` stride-2 stages, a mirrored transposed-conv decoder."""

    def __init__(self, base_ch: Width = 32, num_downs: Depth = 2):
        super().__init__()
        self.num_downs = num_downs
        chs = [base_ch * 2**i for i in range(num_downs + 1)]
        self.stem = ConvBlock(1, chs[0])
        self.down = nn.ModuleList(
            nn.Sequential(nn.Conv2d(chs[i], chs[i + 1], 3, stride=2, padding=1), nn.BatchNorm2d(chs[i + 1]), nn.SiLU())
            for i in range(num_downs)
        )
        self.up = nn.ModuleList(
            nn.Sequential(nn.ConvTranspose2d(chs[i + 1], chs[i], 2, stride=2), nn.BatchNorm2d(chs[i]), nn.SiLU())
            for i in reversed(range(num_downs))
        )
        self.head = nn.Conv2d(chs[0], 1, 3, padding=1)
        nn.init.constant_(self.head.bias, -2.0)  # start near the mostly-black digit background

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(x, 2**self.num_downs)
        z = self.stem(x)  # (B, c, H, W)
        for layer in self.down:
            z = layer(z)  # (B, 2c, H/2, W/2) ...
        for layer in self.up:
            z = layer(z)
        return torch.sigmoid(self.head(z))[..., :h, :w]


@register_model("cdae")
class DenseLatentDAE(ConvDAE):
    """conv_dae with a dense bottleneck (the classic convolutional denoising autoencoder): the
    encoder's feature map is flattened to `latent_dim` numbers and expanded back before the
    decoder, so `latent_dim` decides how much of the input can pass."""

    def __init__(self, base_ch: Width = 32, num_downs: Depth = 2, latent_dim: LatentDim = 128):
        super().__init__(base_ch, num_downs)
        self.latent_dim = latent_dim
        side = -(-28 // 2**num_downs)  # 28 padded to a multiple of 2^depth, then halved num_downs times
        self.shape = (base_ch * 2**num_downs, side, side)
        flat = self.shape[0] * side * side
        self.to_latent = nn.Linear(flat, latent_dim)
        self.from_latent = nn.Sequential(nn.Linear(latent_dim, flat), nn.SiLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != (28, 28):
            raise ValueError(f"cdae's dense latent takes 28x28 images, not {tuple(x.shape[-2:])}")
        x, (h, w) = pad_to_multiple(x, 2**self.num_downs)
        z = self.stem(x)
        for layer in self.down:
            z = layer(z)
        z = self.from_latent(self.to_latent(z.flatten(1))).view(-1, *self.shape)  # (B, latent_dim) in between
        for layer in self.up:
            z = layer(z)
        return torch.sigmoid(self.head(z))[..., :h, :w]


@register_model("resnet_dae")
class ResNetDAE(nn.Module):
    """Stem, `num_downs` stride-2 stages with residual blocks, upsampling back with a
    long skip from the stem; `num_blocks` residual blocks at the lowest resolution."""

    def __init__(self, base_ch: Width = 32, num_downs: Depth = 1, num_blocks: Count = 4):
        super().__init__()
        self.num_downs = num_downs
        ch = base_ch * 2**num_downs
        self.stem = nn.Sequential(nn.Conv2d(1, base_ch, 3, padding=1), nn.SiLU())
        self.down = nn.Sequential(
            *[
                nn.Sequential(nn.Conv2d(base_ch * 2**i, base_ch * 2 ** (i + 1), 3, stride=2, padding=1),
                              ResBlock(base_ch * 2 ** (i + 1)))
                for i in range(num_downs)
            ]
        )
        self.blocks = nn.Sequential(*[ResBlock(ch) for _ in range(num_blocks)])
        self.up = nn.Sequential(
            *[
                nn.Sequential(nn.ConvTranspose2d(base_ch * 2 ** (i + 1), base_ch * 2**i, 2, stride=2), nn.SiLU())
                for i in reversed(range(num_downs))
            ]
        )
        self.head = nn.Sequential(ConvBlock(2 * base_ch, base_ch), nn.Conv2d(base_ch, 1, 1))
        nn.init.constant_(self.head[-1].bias, -2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(x, 2**self.num_downs)
        s = self.stem(x)  # (B, c, H, W)
        z = self.up(self.blocks(self.down(s)))  # (B, c, H, W)
        return torch.sigmoid(self.head(torch.cat([z, s], dim=1)))[..., :h, :w]
