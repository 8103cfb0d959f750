"""Model -> picture helpers shared by the training callbacks and `mnistmax viz ...`: they run
the model and hand the tensors to the pure figure functions in `figures`.

Every noisy image here comes from a fixed seed, so the same digits get the same noise in
every epoch's grid and in every command."""

from __future__ import annotations

from pathlib import Path

import torch

from mnistmax.config import RunConfig
from mnistmax.data.datamodule import clean_images, to_float
from mnistmax.data.noise import fixed_noise
from mnistmax.eval.metrics import per_image_mse, per_image_psnr
from mnistmax.files import read_history
from mnistmax.inference import batched
from mnistmax.viz import figures


def denoise(task, noisy: torch.Tensor) -> torch.Tensor:
    """The task's clean estimate (eval mode, on its device, in chunks), on the CPU."""
    return batched(task.reconstruct, noisy, 1000, module=task)


def render_recon_grid(task, cfg: RunConfig, clean: torch.Tensor, path: Path, title: str) -> Path:
    noisy = fixed_noise(clean, cfg.noise.kind, cfg.viz.sigma, cfg.noise.clip, **cfg.noise.options())
    out = denoise(task, noisy)
    title = f"{title}\n{cfg.noise.kind} σ={cfg.viz.sigma:g}, mean PSNR {per_image_psnr(out, clean).mean():.2f} dB"
    return figures.recon_grid(clean, noisy, out, path, title=title, psnr=per_image_psnr(out, clean))


def render_reconstructions(task, clean: torch.Tensor, path: Path, title: str) -> Path:
    """An autoencoder's grid: clean test digits, what it makes of them, |error|, each digit's MSE."""
    out = batched(task.reconstruct, clean, 1000, module=task)
    mse, psnr = per_image_mse(out, clean), per_image_psnr(out, clean)
    title = f"{title}\nmean MSE {mse.mean():.4f}, mean PSNR {psnr.mean():.2f} dB"
    return figures.reconstruction_grid(clean, out, path, title=title, mse=mse)


def render_ablation_map(task, cfg: RunConfig, clean: torch.Tensor, path: Path, title: str) -> Path:
    noisy = fixed_noise(clean, cfg.noise.kind, cfg.viz.sigma, cfg.noise.clip, **cfg.noise.options())
    out = denoise(task, noisy)
    return figures.ablation_map(clean, noisy, out, path, title=f"{title}\n{cfg.noise.kind} at {cfg.viz.sigma:g}",
                                threshold=cfg.eval.threshold)


def draws_ablation_map(binarize: bool, kind: str) -> bool:
    """Whether a run's pictures include the ablation map: bitmaps, or additive-only noise
    (noise that only turns pixels on, which a denoiser has to turn off again)."""
    from mnistmax.data.noise import ADDITIVE_KINDS

    return bool(binarize) or kind in ADDITIVE_KINDS


def render_sigma_panel(task, cfg: RunConfig, clean: torch.Tensor, path: Path, title: str) -> Path:
    sigmas = cfg.viz.panel_sigmas
    noisy = [fixed_noise(clean, cfg.noise.kind, s, cfg.noise.clip, **cfg.noise.options()) for s in sigmas]
    outs = [denoise(task, x) for x in noisy]
    psnr = [per_image_psnr(o, clean) for o in outs]
    return figures.sigma_panel(noisy, outs, clean, sigmas, psnr, path, title=f"{title}  ({cfg.noise.kind} noise)")


def render_cases(task, cfg: RunConfig, images: torch.Tensor, path: Path, k: int = 6, title: str = "") -> Path:
    """The k best and k worst test digits by PSNR at viz.sigma."""
    clean = clean_images(images, cfg)
    noisy = fixed_noise(clean, cfg.noise.kind, cfg.viz.sigma, cfg.noise.clip, **cfg.noise.options())
    out = denoise(task, noisy)
    psnr = per_image_psnr(out, clean)
    order = torch.argsort(psnr, descending=True)
    k = min(k, len(order) // 2) or 1
    pick = torch.cat([order[:k], order[-k:]])
    labels = [f"best {i + 1}" for i in range(k)] + [f"worst {k - i}" for i in range(k)]
    title = title or f"best and worst test digits by PSNR ({cfg.noise.kind} σ={cfg.viz.sigma:g})"
    return figures.case_grid(clean[pick], noisy[pick], out[pick], psnr[pick], labels, path, title=title)


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
