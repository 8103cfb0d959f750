"""Evaluation of a denoiser over noise kinds x levels, with classical baselines in the same table.

Noise is drawn from `eval.seed` so the numbers repeat run after run. Rows are plain dicts
`{method, noise, sigma, n, mse, psnr, ssim[, lpips]}` written as eval.json, eval.csv, eval.md.
"""

from __future__ import annotations

from typing import Callable

import torch

from mnistmax.config import RunConfig
from mnistmax.data.datamodule import clean_images, test_images
from mnistmax.data.noise import apply_noise
from mnistmax.eval.baselines import BASELINES, BITMAP_BASELINES
from mnistmax.eval.metrics import COUNT_KEYS, METRIC_KEYS, binary_counts, binary_scores, image_metrics
from mnistmax.models.gated import AblationGate

CPU_FORWARD_CHUNK = 250  # images per forward pass on the CPU (docs/PERFORMANCE.md, Evaluation)


def in_chunks(method: Callable[[torch.Tensor], torch.Tensor], chunk: int | None) -> Callable:
    """`method` applied to slices of at most `chunk` images, outputs concatenated. On the CPU a
    large batch is slower than a few smaller ones: activations above glibc's 32 MB reuse limit
    are mapped afresh every layer. Noise and metrics keep eval.batch_size, so the numbers do
    not depend on the chunk."""
    if chunk is None:
        return method
    return lambda x: torch.cat([method(part) for part in x.split(chunk)]) if len(x) > chunk else method(x)


def noisy_test_batches(images: torch.Tensor, kind: str, sigma: float, cfg: RunConfig, device):
    """Yield (noisy, clean) batches; the noise depends only on (eval.seed, kind, sigma, batch)."""
    bs = cfg.eval.batch_size
    for i in range(0, len(images), bs):
        clean = clean_images(images[i : i + bs], cfg).to(device)
        seed = _seed(cfg.eval.seed, kind, sigma, i)
        generator = torch.Generator(device=device).manual_seed(seed)
        yield apply_noise(kind, clean, sigma, generator=generator, clip=cfg.noise.clip, **cfg.noise.options()), clean


def _seed(base: int, kind: str, sigma: float, offset: int) -> int:
    kind_id = sum((i + 1) * ord(c) for i, c in enumerate(kind))
    return (base * 1_000_003 + kind_id * 10_007 + int(round(sigma * 1000)) * 101 + offset) % 2**62


def evaluate_methods(
    methods: dict[str, Callable[[torch.Tensor], torch.Tensor]],
    images: torch.Tensor,
    cfg: RunConfig,
    device: torch.device | str = "cpu",
    lpips: Callable | None = None,
) -> list[dict]:
    """One row per (method, kind, sigma): mean per-image MSE, PSNR, SSIM (and LPIPS); with
    data.binarize also bitmap and ablation scores pooled over all test pixels."""
    rows = []
    bitmap = cfg.data.binarize
    chunk = CPU_FORWARD_CHUNK if torch.device(device).type == "cpu" else None
    methods = {name: in_chunks(method, chunk) for name, method in methods.items()}
    for kind in cfg.noise.kinds_to_evaluate():
        for sigma in cfg.noise.levels_to_evaluate():
            sums = {name: dict.fromkeys((*METRIC_KEYS, "lpips"), 0.0) for name in methods}
            counts = {name: dict.fromkeys(COUNT_KEYS, 0) for name in methods}
            for noisy, clean in noisy_test_batches(images, kind, sigma, cfg, device):
                for name, method in methods.items():
                    with torch.no_grad():
                        out = method(noisy).float().clamp(0, 1)
                    for key, values in image_metrics(out, clean).items():
                        sums[name][key] += values.sum().item()
                    if lpips is not None:
                        sums[name]["lpips"] += lpips(out, clean).sum().item()
                    if bitmap:
                        batch = binary_counts(out, noisy, clean, cfg.data.threshold)
                        counts[name] = {k: counts[name][k] + batch[k] for k in COUNT_KEYS}
            n = len(images)
            for name in methods:
                row = {"method": name, "noise": kind, "sigma": sigma, "n": n}
                row |= {k: sums[name][k] / n for k in METRIC_KEYS}
                if lpips is not None:
                    row["lpips"] = sums[name]["lpips"] / n
                if bitmap:
                    row |= binary_scores(counts[name], n)
                rows.append(row)
    return rows


def methods_for(cfg: RunConfig, task) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """The model, its ungated network when it is gated, and the classical baselines."""
    methods = {cfg.model.name: task.reconstruct}
    if isinstance(task.net, AblationGate):
        methods[f"{cfg.model.name.removeprefix('ablation_')} (ungated)"] = task.net.ungated
    if cfg.eval.baselines:
        methods |= BASELINES
        if cfg.data.binarize:
            methods |= BITMAP_BASELINES
    return methods


def evaluate_run(cfg: RunConfig, task, use_lpips: bool = False, warn=print) -> list[dict]:
    """Evaluate a loaded task (and the baselines) on the test split of `cfg`'s data."""
    device = next(task.parameters()).device
    methods = methods_for(cfg, task)
    lpips = None
    if use_lpips:
        from mnistmax.eval.metrics import LPIPSUnavailable, make_lpips

        try:
            lpips = make_lpips(device)
        except LPIPSUnavailable as exc:
            warn(str(exc))
    return evaluate_methods(methods, test_images(cfg), cfg, device, lpips)
