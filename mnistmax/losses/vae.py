"""VAE objectives as pure functions: Bernoulli log-likelihood, Gaussian KL, the one-sample
ELBO terms and the importance-weighted bound. `vae` is any module with
`encode(x) -> (mu, logvar)` and `decode_logits(z)`."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def bernoulli_log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x | z) per image, summed over pixels (nats). (B,)"""
    return -F.binary_cross_entropy_with_logits(logits.float(), x.float(), reduction="none").flatten(1).sum(1)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) per image (nats), always >= 0. (B,)"""
    return 0.5 * (mu.float().pow(2) + logvar.float().exp() - 1 - logvar.float()).sum(1)


def elbo_terms(vae, x: torch.Tensor, generator=None, target: torch.Tensor | None = None,
               gate=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(reconstruction log-likelihood, KL) per image, one reparameterised sample.

    `target`: what the decoder is scored on (a denoising VAE: q(z | noisy), p(clean | z));
    x itself by default. `gate(logits, x)`: logits a gated denoiser's output obeys."""
    mu, logvar = vae.encode(x)
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    z = mu + eps * (0.5 * logvar).exp()
    logits = vae.decode_logits(z)
    if gate is not None:
        logits = gate(logits, x)
    return bernoulli_log_likelihood(logits, x if target is None else target), gaussian_kl(mu, logvar)


def importance_weighted_bound(vae, x: torch.Tensor, k: int = 100, generator=None) -> torch.Tensor:
    """log p(x) >= log (1/k) sum_i p(x, z_i) / q(z_i | x), z_i ~ q(z | x)  (Burda et al.).
    Tighter than the ELBO for k > 1; per image, nats. (B,)"""
    mu, logvar = vae.encode(x)
    std = (0.5 * logvar).exp()
    log_w = []
    for _ in range(k):
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + eps * std
        log_px_z = bernoulli_log_likelihood(vae.decode_logits(z), x)
        log_pz = (-0.5 * (z.pow(2) + math.log(2 * math.pi))).sum(1)
        log_qz = (-0.5 * (eps.pow(2) + math.log(2 * math.pi)) - (0.5 * logvar)).sum(1)
        log_w.append(log_px_z + log_pz - log_qz)
    return torch.logsumexp(torch.stack(log_w), dim=0) - math.log(k)
