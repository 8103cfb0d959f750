"""`vae_conv`: a convolutional VAE with a Bernoulli likelihood on [0, 1] pixels.

The encoder is conv_ae's conv stack with two heads (mu, log-variance); the decoder is its
mirror and outputs Bernoulli logits."""

from __future__ import annotations

import torch
import torch.nn as nn

from mnistmax.models._registry import register_model
from mnistmax.models.autoencoder import conv_decoder, conv_encoder
from mnistmax.models.layers import LatentDim


@register_model("vae_conv", family="vae")
class ConvVAE(nn.Module):
    def __init__(self, latent_dim: LatentDim = 16):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = conv_encoder(2 * latent_dim)
        self.decoder = conv_decoder(latent_dim)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar.clamp(-12, 8)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x)[0])

    forward = reconstruct

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = next(self.parameters()).device
        return self.decode(torch.randn(n, self.latent_dim, generator=generator, device=device))
