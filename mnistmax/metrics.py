"""Image-quality metrics (torchmetrics first). Images are (B, 1, H, W) in [0, 1]."""

from __future__ import annotations

import contextlib
import io

import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

MAX_PSNR = 100.0  # dB reported for an exact reconstruction (MSE 0)


def per_image_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred.float() - target.float()).pow(2).flatten(1).mean(dim=1)


def per_image_psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """PSNR of each image, data range 1, capped at MAX_PSNR for exact matches. (B,)"""
    psnr = peak_signal_noise_ratio(
        pred.float(), target.float(), data_range=1.0, reduction="none", dim=(1, 2, 3)
    )
    return psnr.clamp(max=MAX_PSNR)


def per_image_ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SSIM of each image (Gaussian window 11, σ 1.5, data range 1). (B,)"""
    return structural_similarity_index_measure(pred.float(), target.float(), data_range=1.0, reduction="none")


def image_metrics(pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-image MSE, PSNR and SSIM, each a (B,) tensor."""
    return {"mse": per_image_mse(pred, target), "psnr": per_image_psnr(pred, target), "ssim": per_image_ssim(pred, target)}


class LPIPSUnavailable(RuntimeError):
    """LPIPS could not be set up (its backbone weights are downloaded at run time)."""


def make_lpips(device: torch.device | str = "cpu"):
    """A function (pred, target) -> (B,) LPIPS distances, or LPIPSUnavailable with one line."""
    try:
        from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

        with contextlib.redirect_stderr(io.StringIO()):  # torch.hub's "Downloading: ..." line
            metric = LearnedPerceptualImagePatchSimilarity(net_type="alex", reduction="mean", normalize=True)
        metric = metric.to(device)
    except Exception as exc:  # weights download fails offline, or the lpips package is missing
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LPIPSUnavailable(
            f"LPIPS unavailable: its AlexNet backbone weights could not be loaded ({reason[:160]}); "
            "run once while online to cache them, or leave --lpips off"
        ) from None
    net = metric.net

    def lpips(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        to3 = lambda x: x.float().expand(-1, 3, -1, -1) * 2 - 1  # noqa: E731  [0,1] gray -> [-1,1] RGB
        with torch.no_grad():
            return net(to3(pred), to3(target)).flatten()

    return lpips
