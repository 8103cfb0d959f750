"""`conv_ae`: the 12-dim convolutional autoencoder (784 -> 12, about 65x compression), and
`cnn_classifier`: the same encoder with a classification head, so a trained conv_ae
encoder can be loaded into it for transfer learning."""

from __future__ import annotations

import torch
import torch.nn as nn

from mnistmax.models._registry import register_model
from mnistmax.models.layers import LatentDim


def _conv(conv: nn.Module, channels: int) -> list[nn.Module]:
    return [conv, nn.BatchNorm2d(channels), nn.SiLU(inplace=True)]


def conv_encoder(out_dim: int) -> nn.Sequential:
    """Conv(1->16, s2) -> Conv(16->32, s2) -> Conv(32->64, s2) -> Linear(1024 -> out_dim), each
    conv followed by BatchNorm and SiLU (test MSE 0.0122 vs 0.0147 with plain ReLU at 60 epochs)."""
    return nn.Sequential(
        *_conv(nn.Conv2d(1, 16, 3, stride=2, padding=1), 16),  # (B, 16, 14, 14)
        *_conv(nn.Conv2d(16, 32, 3, stride=2, padding=1), 32),  # (B, 32, 7, 7)
        *_conv(nn.Conv2d(32, 64, 3, stride=2, padding=1), 64),  # (B, 64, 4, 4)
        nn.Flatten(), nn.Linear(1024, out_dim),
    )


def conv_decoder(latent_dim: int) -> nn.Sequential:
    """The mirror: Linear(latent -> 1024) -> ConvT 64->32 (7x7) -> 32->16 (14x14) -> 16->1 (28x28).
    Outputs logits."""
    return nn.Sequential(
        nn.Linear(latent_dim, 1024), nn.SiLU(inplace=True), nn.Unflatten(1, (64, 4, 4)),
        *_conv(nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1), 32),  # (B, 32, 7, 7)
        *_conv(nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1), 16),  # (B, 16, 14, 14)
        nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1),  # (B, 1, 28, 28)
    )


@register_model("conv_ae", family="autoencoder")
class ConvAE(nn.Module):
    def __init__(self, latent_dim: LatentDim = 12):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = conv_encoder(latent_dim)
        self.decoder = conv_decoder(latent_dim)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)  # (B, latent_dim)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z))  # (B, 1, 28, 28) in [0, 1]

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    forward = reconstruct


@register_model("cnn_classifier", family="classifier")
class CNNClassifier(nn.Module):
    """conv_ae's encoder (Conv16-Conv32-Conv64-Linear(latent)) + ReLU + Linear(latent -> 128)
    + ReLU + Dropout + Linear(128 -> classes)."""

    def __init__(self, latent_dim: LatentDim = 12, num_classes: int = 10, dropout: float = 0.2):
        super().__init__()
        self.encoder = conv_encoder(latent_dim)
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(latent_dim, 128), nn.ReLU(inplace=True), nn.Dropout(dropout),
                                  nn.Linear(128, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The activations after each conv block (16x14x14, 32x7x7, 64x4x4) and the latent:
        what a perceptual loss compares."""
        out = []
        for i, layer in enumerate(self.encoder):
            x = layer(x)
            if isinstance(layer, nn.SiLU) or i == len(self.encoder) - 1:
                out.append(x)
        return out
