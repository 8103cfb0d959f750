"""AblationGate: a denoiser that can only turn pixels off.

    output = min(net(x), x)

holds for every input and every weight, not on average: the gate is an element-wise
minimum, so no pixel of the output is brighter than the same pixel of the input. Where the
network's prediction is the smaller value the gradient flows to the network; elsewhere the
input passes through unchanged. Every registered denoiser `<name>` gets `ablation_<name>`, and so
does every VAE (`ablation_vae_conv`: GatedVAE).
"""

from __future__ import annotations

import functools
import inspect

import torch
import torch.nn as nn

from mnistmax.models._registry import ModelEntry, create_model, register_variant


class AblationGate(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def ungated(self, x: torch.Tensor) -> torch.Tensor:
        """The wrapped network's own prediction (for comparison tables)."""
        return self.net(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x is not cast to the prediction's dtype: rounding it to bf16 could exceed x itself
        return torch.minimum(self.net(x), x)


class GatedVAE(AblationGate):
    """A gated VAE denoiser (`ablation_vae_conv`): the posterior-mean reconstruction is gated
    like any denoiser; its Bernoulli logits are gated in logit space (sigmoid is monotone, so
    min(sigmoid(l), x) = sigmoid(min(l, logit x))) for the ELBO; the encoder, the decoder and
    sampling from the prior are the VAE's own (a sample has no input to gate it by)."""

    @property
    def latent_dim(self) -> int:
        return self.net.latent_dim

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net.encode(x)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.net.decode_logits(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.net.decode(z)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.net.sample(n, generator)

    @staticmethod
    def gate_logits(logits: torch.Tensor, x: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
        """Logits whose probabilities never exceed x (x clamped to [eps, 1 - eps]: logit(0) is -inf)."""
        return torch.minimum(logits, torch.logit(x.to(logits.dtype).clamp(eps, 1 - eps)))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self(x)


def gated_factory(entry: ModelEntry):
    """`ablation_<name>`'s factory: <name>'s network inside the gate (GatedVAE for a VAE), with
    <name>'s keyword arguments."""
    gate = GatedVAE if entry.family == "vae" else AblationGate

    @functools.wraps(entry.factory)
    def build(**kwargs) -> AblationGate:
        return gate(create_model(entry.name, **kwargs))

    build.__signature__ = inspect.signature(entry.factory)  # create_model reads the accepted kwargs
    return build


register_variant("ablation_", ("denoise", "vae"), "denoise", gated_factory)  # a VAE denoises too (task denoise)
