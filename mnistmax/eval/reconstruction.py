"""Evaluation of an autoencoder or VAE: reconstruction of the clean test digits."""

from __future__ import annotations

import torch

from mnistmax.config import RunConfig
from mnistmax.data.datamodule import clean_images, test_images
from mnistmax.eval.metrics import METRIC_KEYS, image_metrics, with_ci
from mnistmax.losses.vae import elbo_terms, importance_weighted_bound


def evaluate_reconstruction(cfg: RunConfig, task, iw_samples: int | None = None) -> list[dict]:
    """Reconstruction of the clean test digits (MSE, PSNR, SSIM); with `iw_samples` (a VAE)
    also the negative ELBO and the importance-weighted bound with that many samples (nats
    per image)."""
    images = test_images(cfg)
    device = next(task.parameters()).device
    sums = dict.fromkeys((*METRIC_KEYS, "nelbo", "niwae", "kl"), 0.0)
    per_image = {"mse": [], "nelbo": []}  # for the 95 % intervals
    generator = torch.Generator(device=device).manual_seed(cfg.eval.seed)
    for i in range(0, len(images), cfg.eval.batch_size):
        clean = clean_images(images[i : i + cfg.eval.batch_size], cfg).to(device)
        for key, values in image_metrics(task.reconstruct(clean), clean).items():
            sums[key] += values.sum().item()
            if key == "mse":
                per_image["mse"].append(values.cpu())
        if iw_samples:
            with torch.no_grad():
                log_px, kl = elbo_terms(task.net, clean, generator)
                sums["nelbo"] += (kl - log_px).sum().item()
                per_image["nelbo"].append((kl - log_px).cpu())
                sums["kl"] += kl.sum().item()
                sums["niwae"] -= importance_weighted_bound(task.net, clean, iw_samples, generator).sum().item()
    n = len(images)
    row = {"method": cfg.model.name, "noise": "none", "sigma": 0.0, "n": n, **{k: sums[k] / n for k in METRIC_KEYS}}
    row = with_ci(row, "mse", torch.cat(per_image["mse"]), cfg.eval.seed)
    if iw_samples:
        row |= {"nelbo": sums["nelbo"] / n, "kl": sums["kl"] / n, f"niwae_k{iw_samples}": sums["niwae"] / n}
        row = with_ci(row, "nelbo", torch.cat(per_image["nelbo"]), cfg.eval.seed)
    return [row]
