"""mnistmax.data.noise: every kind is batched, seedable, bounded and monotone in its level."""

from __future__ import annotations

import pytest
import torch

from mnistmax.data.noise import NOISE_FUNCTIONS, NOISE_KINDS, apply_noise, sample_levels
from mnistmax.data.noise.destructive import MAX_BLOCKS, MAX_LINES

KINDS = list(NOISE_FUNCTIONS)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def gray(b: int = 16, value: float = 0.5) -> torch.Tensor:
    return torch.full((b, 1, 28, 28), value)


def test_noise_kinds_match_config():
    assert set(NOISE_FUNCTIONS) == set(NOISE_KINDS)


# ---------------------------------------------------------------- every kind


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("level", [0.3, 1.0])
def test_shape_dtype_and_range(kind, dtype, level, digits):
    images = digits.to(dtype)
    out = apply_noise(kind, images, level, generator=gen(0))
    assert out.shape == images.shape
    assert out.dtype == dtype
    assert torch.isfinite(out).all()
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert not torch.equal(out, images)  # something was corrupted


@pytest.mark.parametrize("kind", KINDS)
def test_input_is_not_modified(kind, digits):
    before = digits.clone()
    out = apply_noise(kind, digits, 1.0, generator=gen(0))
    assert torch.equal(digits, before)
    assert out is not digits


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("level", [0.0, "tensor"])
def test_level_zero_is_exact_identity(kind, level, digits):
    if level == "tensor":
        level = torch.zeros(len(digits))
    out = apply_noise(kind, digits, level, generator=gen(3))
    assert torch.equal(out, digits)


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_noise_different_seed_different_noise(kind, digits):
    a = apply_noise(kind, digits, 1.0, generator=gen(7))
    b = apply_noise(kind, digits, 1.0, generator=gen(7))
    c = apply_noise(kind, digits, 1.0, generator=gen(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("kind", KINDS)
def test_global_rng_not_used_when_generator_given(kind, digits):
    torch.manual_seed(1)
    a = apply_noise(kind, digits, 0.7, generator=gen(5))
    torch.manual_seed(2)
    b = apply_noise(kind, digits, 0.7, generator=gen(5))
    assert torch.equal(a, b)


@pytest.mark.parametrize("kind", KINDS)
def test_per_image_levels_match_scalar_levels(kind, digits):
    """A (B,) level tensor gives image i exactly what the scalar level[i] gives it."""
    choices = torch.tensor([0.0, 0.2, 0.5, 1.0])
    levels = choices[torch.arange(len(digits)) % len(choices)]
    out = apply_noise(kind, digits, levels, generator=gen(11))
    assert out.shape == digits.shape
    for value in choices.tolist():
        rows = levels == value
        ref = apply_noise(kind, digits, value, generator=gen(11))
        assert torch.equal(out[rows], ref[rows]), f"level {value}"
    assert torch.equal(out[levels == 0], digits[levels == 0])
    assert not torch.equal(out[levels == 1], digits[levels == 1])


@pytest.mark.parametrize("kind", KINDS)
def test_higher_level_more_corruption(kind, digits):
    errors = []
    for level in (0.2, 0.5, 1.0):
        noisy = apply_noise(kind, digits, level, generator=gen(21))
        errors.append((noisy - digits).abs().mean().item())
    assert 0 < errors[0] < errors[1] < errors[2], errors


# ---------------------------------------------------------------- gaussian


def test_gaussian_unclipped_leaves_unit_range_and_clipped_is_its_clamp(digits):
    raw = apply_noise("gaussian", digits, 0.5, generator=gen(1), clip=False)
    clipped = apply_noise("gaussian", digits, 0.5, generator=gen(1), clip=True)
    assert raw.min() < 0.0 and raw.max() > 1.0
    assert torch.equal(clipped, raw.clamp(0.0, 1.0))


@pytest.mark.parametrize("sigma", [0.05, 0.1, 0.2, 0.4])
def test_gaussian_std_matches_sigma_on_gray_image(sigma):
    images = gray(16)
    noisy = apply_noise("gaussian", images, sigma, generator=gen(2), clip=False)
    residual = noisy - images
    assert residual.mean().abs() < 0.05 * sigma
    assert residual.std().item() == pytest.approx(sigma, rel=0.03)


def test_gaussian_per_image_sigma():
    levels = torch.tensor([0.05, 0.1, 0.2, 0.3] * 4)
    images = gray(len(levels))
    noisy = apply_noise("gaussian", images, levels, generator=gen(4), clip=False)
    per_image_std = (noisy - images).flatten(1).std(dim=1)
    torch.testing.assert_close(per_image_std, levels, rtol=0.1, atol=0.0)


def test_gaussian_clipped_at_small_sigma_still_has_std_sigma():
    images = gray(16)
    noisy = apply_noise("gaussian", images, 0.1, generator=gen(2), clip=True)
    assert (noisy - images).std().item() == pytest.approx(0.1, rel=0.03)


# ---------------------------------------------------------------- salt and pepper, pixel flip


@pytest.mark.parametrize("level", [0.1, 0.3, 0.7, 1.0])
def test_salt_pepper_fraction_of_changed_pixels(level):
    images = gray(16)
    noisy = apply_noise("salt_pepper", images, level, generator=gen(5))
    changed = noisy != images
    assert changed.float().mean().item() == pytest.approx(level, abs=0.015)
    values = noisy[changed]
    assert ((values == 0) | (values == 1)).all()
    assert (values == 1).float().mean().item() == pytest.approx(0.5, abs=0.03)


@pytest.mark.parametrize("level", [0.2, 0.6, 1.0])
def test_pixel_flip_inverts_level_over_two_of_the_pixels(level):
    images = (torch.rand(16, 1, 28, 28, generator=gen(0)) < 0.3).float()
    noisy = apply_noise("pixel_flip", images, level, generator=gen(6))
    changed = noisy != images
    assert changed.float().mean().item() == pytest.approx(level / 2, abs=0.015)
    assert torch.equal(noisy[changed], 1.0 - images[changed])


# ---------------------------------------------------------------- lines and blocks


def test_lines_only_add_ink_and_count_scales_with_level():
    images = torch.zeros(32, 1, 28, 28)
    previous = None
    for k in range(1, MAX_LINES + 1):
        noisy = apply_noise("lines", images, k / MAX_LINES, generator=gen(9))
        assert (noisy >= images).all()
        ink = noisy[noisy > 0]
        assert ink.min() >= 0.6 - 1e-6 and ink.max() <= 1.0
        if previous is not None:  # same seed: the first k-1 strokes are still there
            assert (noisy >= previous).all()
            assert (noisy > previous).any()
        previous = noisy


def test_blocks_paint_black_or_white_rectangles(digits):
    noisy = apply_noise("blocks", digits, 1.0, generator=gen(10))
    changed = noisy != digits
    values = noisy[changed]
    assert ((values == 0) | (values == 1)).all()
    # Up to MAX_BLOCKS rectangles of at most 10x10 px each.
    per_image = changed.flatten(1).sum(dim=1)
    assert per_image.max() <= MAX_BLOCKS * 100
    # On a mid-gray image every block pixel changes: each of the 5 blocks covers >= 16 px.
    on_gray = apply_noise("blocks", gray(16), 1.0, generator=gen(10))
    assert ((on_gray != 0.5).flatten(1).sum(dim=1) >= 16).all()


def test_blocks_any_positive_level_corrupts():
    images = gray(16)
    noisy = apply_noise("blocks", images, 0.1, generator=gen(0))
    assert not torch.equal(noisy, images)


# ---------------------------------------------------------------- mixed


def test_mixed_uses_every_other_kind():
    """On a 0.5 gray image at level 1 each kind leaves a distinct signature."""
    images = gray(100)
    noisy = apply_noise("mixed", images, 1.0, generator=gen(12))

    def signature(img: torch.Tensor) -> str:
        if torch.equal(img, torch.full_like(img, 0.5)):
            return "pixel_flip"  # 1 - 0.5 == 0.5
        if ((img == 0) | (img == 1)).all():
            return "salt_pepper"  # every pixel hit at level 1
        if ((img == 0) | (img == 0.5) | (img == 1)).all():
            return "blocks"
        if (img >= 0.5).all():
            return "lines"
        return "gaussian"

    seen = {signature(img) for img in noisy}
    assert seen == {"gaussian", "salt_pepper", "pixel_flip", "lines", "blocks"}  # additive kinds: add_mixed


# ---------------------------------------------------------------- apply_noise, sample_levels


def test_apply_noise_unknown_kind_names_valid_kinds(digits):
    with pytest.raises(ValueError) as info:
        apply_noise("speckle", digits, 0.5)
    message = str(info.value)
    assert "speckle" in message
    for kind in NOISE_FUNCTIONS:
        assert kind in message


def test_sample_levels_from_range():
    levels = sample_levels(5000, level_range=(0.2, 0.6), generator=gen(0))
    assert levels.shape == (5000,) and levels.dtype == torch.float32
    assert levels.min() >= 0.2 and levels.max() <= 0.6
    assert levels.mean().item() == pytest.approx(0.4, abs=0.01)
    assert levels.min() < 0.21 and levels.max() > 0.59


def test_sample_levels_range_wins_over_choices():
    levels = sample_levels(200, choices=[0.9], level_range=(0.0, 0.1), generator=gen(0))
    assert levels.max() <= 0.1


def test_sample_levels_from_choices():
    choices = [0.1, 0.3, 0.9]
    levels = sample_levels(3000, choices=choices, generator=gen(0))
    assert levels.shape == (3000,) and levels.dtype == torch.float32
    values, counts = torch.unique(levels, return_counts=True)
    torch.testing.assert_close(values, torch.tensor(choices))
    assert (counts > 900).all()  # roughly uniform over the choices


def test_sample_levels_deterministic_under_generator():
    a = sample_levels(50, choices=[0.1, 0.5, 0.9], generator=gen(3))
    b = sample_levels(50, choices=[0.1, 0.5, 0.9], generator=gen(3))
    c = sample_levels(50, choices=[0.1, 0.5, 0.9], generator=gen(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    r1 = sample_levels(50, level_range=(0.0, 1.0), generator=gen(3))
    r2 = sample_levels(50, level_range=(0.0, 1.0), generator=gen(3))
    assert torch.equal(r1, r2)
