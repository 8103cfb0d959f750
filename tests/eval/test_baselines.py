"""mnistmax.baselines: classical denoisers used as reference rows in evaluation."""

from __future__ import annotations

import pytest
import torch

from mnistmax.data.noise import apply_noise
from mnistmax.eval.baselines import BASELINES, gaussian_filter, gaussian_kernel, identity, median_filter
from mnistmax.eval.metrics import per_image_psnr


@pytest.mark.parametrize("name", list(BASELINES))
@pytest.mark.parametrize("shape", [(3, 1, 28, 28), (1, 1, 9, 13)])
def test_shape_and_dtype_preserved(name, shape):
    x = torch.rand(shape)
    out = BASELINES[name](x)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= 0 and out.max() <= 1  # averages and medians stay in the input range


def test_identity_returns_input(digits):
    assert identity(digits) is digits


def test_gaussian_kernel():
    k = gaussian_kernel(1.0)
    assert k.shape == (5,)
    assert k.sum().item() == pytest.approx(1.0, abs=1e-6)
    torch.testing.assert_close(k, k.flip(0))
    x = torch.arange(-2, 3, dtype=torch.float32)
    expected = torch.exp(-(x**2) / 2)
    torch.testing.assert_close(k, expected / expected.sum())
    assert gaussian_kernel(0.2).shape == (3,)  # radius at least 1
    assert gaussian_kernel(2.0, radius=6).shape == (13,)


@pytest.mark.parametrize("value", [0.0, 0.37, 1.0])
@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0])
def test_gaussian_filter_keeps_constant_images(value, sigma):
    x = torch.full((2, 1, 28, 28), value)
    torch.testing.assert_close(gaussian_filter(x, sigma), x, rtol=0, atol=1e-6)


def test_gaussian_filter_impulse_response_is_the_kernel():
    x = torch.zeros(1, 1, 15, 15)
    x[0, 0, 7, 7] = 1.0
    out = gaussian_filter(x)
    k = gaussian_kernel(1.0)
    expected = torch.zeros(15, 15)
    expected[5:10, 5:10] = torch.outer(k, k)
    torch.testing.assert_close(out[0, 0], expected, rtol=0, atol=1e-7)
    assert out.sum().item() == pytest.approx(1.0, abs=1e-6)


def test_gaussian_filter_reduces_noise_by_kernel_energy():
    """White noise of std s leaves a separable blur with std s * sum(k^2)."""
    x = 0.5 + 0.1 * torch.randn(8, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    out = gaussian_filter(x)
    energy = gaussian_kernel(1.0).pow(2).sum().item()
    interior = out[..., 4:-4, 4:-4]
    assert interior.std().item() == pytest.approx(0.1 * energy, rel=0.05)
    assert interior.mean().item() == pytest.approx(0.5, abs=0.005)


@pytest.mark.parametrize("where", [(0, 0), (13, 13), (27, 5)])
def test_median_filter_removes_isolated_salt_pixel(where):
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, where[0], where[1]] = 1.0
    assert torch.equal(median_filter(x), torch.zeros_like(x))


def test_median_filter_keeps_edges_and_constants():
    step = torch.zeros(1, 1, 10, 10)
    step[..., :, 5:] = 1.0
    assert torch.equal(median_filter(step), step)
    gray = torch.full((2, 1, 6, 6), 0.4)
    assert torch.equal(median_filter(gray), gray)


def test_median_filter_by_hand():
    x = torch.arange(9, dtype=torch.float32).view(1, 1, 3, 3)
    # Centre: median of 0..8 is 4.  Corner (0, 0), reflect padding: window
    # [[4,3,4],[1,0,1],[4,3,4]] -> sorted 0,1,1,3,3,4,4,4,4 -> median 3.
    out = median_filter(x)
    assert out[0, 0, 1, 1].item() == 4.0
    assert out[0, 0, 0, 0].item() == 3.0


def test_classical_filters_beat_doing_nothing(digits):
    """Median filtering cleans light salt-and-pepper noise; blurring cleans strong Gaussian noise."""
    g = torch.Generator().manual_seed(0)
    salted = apply_noise("salt_pepper", digits, 0.1, generator=g)
    assert per_image_psnr(median_filter(salted), digits).mean() > per_image_psnr(identity(salted), digits).mean() + 3
    noisy = apply_noise("gaussian", digits, 0.5, generator=g)
    assert per_image_psnr(gaussian_filter(noisy), digits).mean() > per_image_psnr(noisy, digits).mean() + 2
