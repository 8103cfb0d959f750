"""Image encoders for representation learning. Each maps (B, 1, 28, 28) to an embedding
(B, embedding_dim) through `embed(x)`; `forward` is `embed`. Projection heads live in the
contrastive task, not here."""

from __future__ import annotations

from typing import Annotated, Any

import torch
import torch.nn as nn
from pydantic import AfterValidator

from mnistmax.models._registry import create_model, register_model
from mnistmax.models.layers import Count, Dim, ResBlock, Width


@register_model("simple_cnn", family="encoder")
class SimpleCNN(nn.Module):
    """Conv32-pool-Conv64-pool-Conv128-GAP-Dense256-Dropout-Dense(embedding_dim).
    158,592 parameters at embedding_dim 128."""

    def __init__(self, embedding_dim: Dim = 128, dropout: float = 0.1):
        super().__init__()
        self.embedding_dim = embedding_dim
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),  # (B, 32, 14, 14)
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),  # (B, 64, 7, 7)
            nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(inplace=True),  # (B, 128, 7, 7)
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # (B, 128)
        )
        self.head = nn.Sequential(nn.Linear(128, 256), nn.ReLU(inplace=True), nn.Dropout(dropout),
                                  nn.Linear(256, embedding_dim))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    forward = embed


@register_model("resnet_enc", family="encoder")
class ResNetEncoder(nn.Module):
    """A small residual network: stem 32 -> [res, down] 64 -> [res, down] 128 -> GAP -> linear."""

    def __init__(self, embedding_dim: Dim = 128, base_ch: Width = 32):
        super().__init__()
        self.embedding_dim = embedding_dim
        c = base_ch
        self.features = nn.Sequential(
            nn.Conv2d(1, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
            ResBlock(c), nn.Conv2d(c, 2 * c, 3, stride=2, padding=1),  # (B, 2c, 14, 14)
            ResBlock(2 * c), nn.Conv2d(2 * c, 4 * c, 3, stride=2, padding=1),  # (B, 4c, 7, 7)
            ResBlock(4 * c), nn.BatchNorm2d(4 * c), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Linear(4 * c, embedding_dim)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    forward = embed


@register_model("vit_enc", family="encoder")
class ViTEncoder(nn.Module):
    """Vision transformer for 28x28: 4x4 patches (49 tokens), a class token, learned
    positions, `depth` pre-norm transformer layers; the class token is the embedding."""

    def __init__(self, embedding_dim: Dim = 128, width: Width = 96, depth: Count = 4, heads: Count = 4, patch: int = 4):
        super().__init__()
        self.embedding_dim = embedding_dim
        self.patchify = nn.Conv2d(1, width, patch, stride=patch)  # (B, width, 7, 7)
        n_tokens = (28 // patch) ** 2
        self.cls = nn.Parameter(torch.zeros(1, 1, width))
        self.pos = nn.Parameter(torch.randn(1, n_tokens + 1, width) * 0.02)
        layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width, dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, embedding_dim)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patchify(x).flatten(2).transpose(1, 2)  # (B, 49, width)
        tokens = torch.cat([self.cls.expand(x.shape[0], -1, -1), tokens],
                           dim=1) + self.pos  # shape[0]: traced as the batch axis
        return self.head(self.norm(self.blocks(tokens)[:, 0]))

    forward = embed


def _an_encoder(name: str) -> str:
    from mnistmax.models._registry import list_models

    valid = list_models("encoder")
    if name not in valid:
        raise ValueError(f"{name!r} is not a registered encoder; valid: {', '.join(valid)}")
    return name


EncoderName = Annotated[str, AfterValidator(_an_encoder)]


@register_model("encoder_classifier", family="classifier")
class EncoderClassifier(nn.Module):
    """Any registered encoder (`encoder`, built with `encoder_options`) and a head on its embedding:
    Linear(embedding_dim -> 128) + ReLU + Dropout + Linear(128 -> classes). Transfer learning
    fine-tunes (or freezes) a contrastive run's encoder in it; `.encoder` is the encoder itself."""

    def __init__(self, encoder: EncoderName = "simple_cnn", encoder_options: dict[str, Any] | None = None,
                 num_classes: int = 10, dropout: float = 0.2):
        super().__init__()
        try:
            self.encoder = create_model(encoder, **(encoder_options or {}))
        except ValueError as exc:  # name the key as the config spells it
            raise ValueError(str(exc).replace("model.", "model.encoder_options.", 1)) from None
        self.head = nn.Sequential(nn.Linear(self.encoder.embedding_dim, 128), nn.ReLU(inplace=True),
                                  nn.Dropout(dropout),
                                  nn.Linear(128, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder.embed(x))
