"""Model -> picture helpers shared by the training callbacks and `mnistmax viz ...`.

Every noisy image here comes from a fixed seed, so the same digits get the same noise in
every epoch's grid and in every command."""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from mnistmax.config import RunConfig
from mnistmax.data.datamodule import clean_images, to_float
from mnistmax.data.noise import apply_noise
from mnistmax.metrics import per_image_psnr
from mnistmax.viz import figures

VIZ_SEED = 20240


def select_digits(labels: torch.Tensor, n: int) -> torch.Tensor:
    """Indices of n items cycling through the classes: the first 0, the first 1, ..., then
    the second 0, and so on."""
    per_class = [torch.nonzero(labels == c).flatten().tolist() for c in sorted(set(labels.tolist()))]
    rounds = max(len(p) for p in per_class)
    order = [p[r] for r in range(rounds) for p in per_class if r < len(p)]
    return torch.tensor(order[:n], dtype=torch.long)


def fixed_noise(clean: torch.Tensor, kind: str, sigma: float, clip: bool = True, seed: int = VIZ_SEED) -> torch.Tensor:
    generator = torch.Generator(device=clean.device).manual_seed(seed + int(round(sigma * 1000)))
    return apply_noise(kind, clean, sigma, generator=generator, clip=clip)


def denoise(task, noisy: torch.Tensor) -> torch.Tensor:
    """The task's clean estimate in eval mode, restoring its train/eval state afterwards."""
    was_training = task.training
    task.eval()
    try:
        device = next(task.parameters()).device
        return task.reconstruct(noisy.to(device)).float().cpu()
    finally:
        task.train(was_training)


def render_recon_grid(task, cfg: RunConfig, clean: torch.Tensor, path: Path, title: str) -> Path:
    noisy = fixed_noise(clean, cfg.noise.kind, cfg.viz.sigma, cfg.noise.clip)
    out = denoise(task, noisy)
    title = f"{title}\n{cfg.noise.kind} σ={cfg.viz.sigma:g}, mean PSNR {per_image_psnr(out, clean).mean():.2f} dB"
    return figures.recon_grid(clean, noisy, out, path, title=title, psnr=per_image_psnr(out, clean))


def render_ablation_map(task, cfg: RunConfig, clean: torch.Tensor, path: Path, title: str) -> Path:
    noisy = fixed_noise(clean, cfg.noise.kind, cfg.viz.sigma, cfg.noise.clip)
    out = denoise(task, noisy)
    return figures.ablation_map(clean, noisy, out, path, title=f"{title}\n{cfg.noise.kind} at {cfg.viz.sigma:g}",
                                threshold=cfg.data.threshold)


def render_sigma_panel(task, cfg: RunConfig, clean: torch.Tensor, path: Path, title: str) -> Path:
    sigmas = cfg.viz.panel_sigmas
    noisy = [fixed_noise(clean, cfg.noise.kind, s, cfg.noise.clip) for s in sigmas]
    outs = [denoise(task, x) for x in noisy]
    psnr = [per_image_psnr(o, clean) for o in outs]
    return figures.sigma_panel(noisy, outs, clean, sigmas, psnr, path, title=f"{title}  ({cfg.noise.kind} noise)")


def render_cases(task, cfg: RunConfig, images: torch.Tensor, path: Path, k: int = 6, title: str = "") -> Path:
    """The k best and k worst test digits by PSNR at viz.sigma."""
    clean = clean_images(images, cfg)
    noisy = fixed_noise(clean, cfg.noise.kind, cfg.viz.sigma, cfg.noise.clip)
    out = torch.cat([denoise(task, noisy[i : i + 1000]) for i in range(0, len(noisy), 1000)])
    psnr = per_image_psnr(out, clean)
    order = torch.argsort(psnr, descending=True)
    k = min(k, len(order) // 2) or 1
    pick = torch.cat([order[:k], order[-k:]])
    labels = [f"best {i + 1}" for i in range(k)] + [f"worst {k - i}" for i in range(k)]
    title = title or f"best and worst test digits by PSNR ({cfg.noise.kind} σ={cfg.viz.sigma:g})"
    return figures.case_grid(clean[pick], noisy[pick], out[pick], psnr[pick], labels, path, title=title)


def read_history(metrics_csv: Path) -> dict[str, list[tuple[int, float]]]:
    """{metric: [(epoch, value), ...]} from a Lightning CSVLogger metrics.csv (rows may hold
    different metrics for the same epoch)."""
    history: dict[str, dict[int, float]] = {}
    with open(metrics_csv, newline="") as f:
        for row in csv.DictReader(f):
            if not row.get("epoch"):
                continue
            epoch = int(float(row["epoch"]))
            for key, value in row.items():
                if key not in ("epoch", "step") and value not in ("", None):
                    history.setdefault(key, {})[epoch] = float(value)
    return {k: sorted(v.items()) for k, v in history.items()}


def render_curves(run_dir: Path, path: Path, title: str = "") -> Path:
    metrics = run_dir / "metrics.csv"
    if not metrics.is_file():
        from mnistmax.errors import RunError

        raise RunError(f"{metrics} not found; curves need a run that finished at least one epoch")
    return figures.training_curves(read_history(metrics), path, title=title or f"training curves: {run_dir.name}")


def render_noise_gallery(images: torch.Tensor, kinds: list[str], levels: list[float], png: Path, gif: Path,
                         gif_steps: int = 21) -> tuple[Path, Path]:
    """Six digits under every noise kind and level: a PNG grid and a GIF sweeping the level."""
    from mnistmax.viz.animate import gif_from_images

    clean = to_float(images)
    grid = {k: [fixed_noise(clean, k, lv) for lv in levels] for k in kinds}
    figures.noise_gallery(grid, levels, png, title="noise kinds × levels (same six digits, fixed seed)")
    frames = []
    for step in range(gif_steps):
        level = step / (gif_steps - 1)
        images_by_kind = {k: [fixed_noise(clean, k, level)] for k in kinds}
        frames.append(figures.noise_gallery_frame(images_by_kind, level))
    return png, gif_from_images(frames, gif, ms_per_frame=250)
