"""mnistmax.metrics: per-image MSE, PSNR (capped) and SSIM."""

from __future__ import annotations

import math

import pytest
import torch

from mnistmax.data.noise import apply_noise
from mnistmax.eval.metrics import MAX_PSNR, image_metrics, per_image_mse, per_image_psnr, per_image_ssim


def noisy_copy(images: torch.Tensor, sigma: float, seed: int = 0, clip: bool = True) -> torch.Tensor:
    return apply_noise("gaussian", images, sigma, generator=torch.Generator().manual_seed(seed), clip=clip)


def test_mse_by_hand():
    pred = torch.zeros(2, 1, 2, 2)
    target = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.5, 0.5]]).view(2, 1, 2, 2)
    torch.testing.assert_close(per_image_mse(pred, target), torch.tensor([0.25, 0.25]))


@pytest.mark.parametrize("clip", [True, False])
def test_psnr_matches_definition_per_image(digits, clip):
    pred = noisy_copy(digits, 0.2, clip=clip)
    mse = (pred.double() - digits.double()).pow(2).flatten(1).mean(dim=1)
    expected = 10 * torch.log10(1.0 / mse)
    psnr = per_image_psnr(pred, digits)
    assert psnr.shape == (len(digits),) and psnr.dtype == torch.float32
    torch.testing.assert_close(psnr.double(), expected, rtol=1e-5, atol=1e-4)
    # Per image, not a batch average: images with different errors get different PSNRs.
    assert psnr.std() > 0


def test_psnr_known_values():
    target = torch.zeros(3, 1, 4, 4)
    pred = torch.stack([torch.full((1, 4, 4), v) for v in (0.1, 0.01, 1.0)])  # MSE 1e-2, 1e-4, 1
    torch.testing.assert_close(per_image_psnr(pred, target), torch.tensor([20.0, 40.0, 0.0]), rtol=1e-5, atol=1e-4)


def test_psnr_capped_for_identical_images(digits):
    psnr = per_image_psnr(digits, digits.clone())
    assert torch.equal(psnr, torch.full((len(digits),), MAX_PSNR))
    # One exact image in a batch does not affect the others.
    pred = noisy_copy(digits, 0.1)
    pred[0] = digits[0]
    psnr = per_image_psnr(pred, digits)
    assert psnr[0] == MAX_PSNR and (psnr[1:] < 40).all()


def test_psnr_decreases_with_noise(digits):
    means = [per_image_psnr(noisy_copy(digits, s), digits).mean().item() for s in (0.05, 0.1, 0.3)]
    assert means[0] > means[1] > means[2]


def test_ssim_one_for_identical_images(digits):
    ssim = per_image_ssim(digits, digits.clone())
    assert ssim.shape == (len(digits),)
    torch.testing.assert_close(ssim, torch.ones(len(digits)), rtol=0, atol=1e-5)


def test_ssim_lower_for_noisy_and_decreasing(digits):
    values = [per_image_ssim(noisy_copy(digits, s), digits) for s in (0.05, 0.2, 0.5)]
    assert (values[0] < 0.999).all()
    assert (values[0] > values[1]).all() and (values[1] > values[2]).all()
    assert values[2].mean() < 0.5
    assert (values[2] >= -1).all() and (values[0] <= 1).all()


def test_image_metrics_bundle(digits):
    pred = noisy_copy(digits, 0.2)
    out = image_metrics(pred, digits)
    assert set(out) == {"mse", "psnr", "ssim"}
    for value in out.values():
        assert value.shape == (len(digits),)
    torch.testing.assert_close(out["psnr"], 10 * torch.log10(1 / out["mse"]), rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(out["ssim"], per_image_ssim(pred, digits))


def test_metrics_accept_other_dtypes(digits):
    pred = noisy_copy(digits, 0.2)
    torch.testing.assert_close(per_image_psnr(pred.double(), digits.double()), per_image_psnr(pred, digits))
    assert math.isfinite(per_image_ssim(pred.half(), digits.half()).mean().item())
