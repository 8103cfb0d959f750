"""mnistmax.losses: reconstruction losses on (prediction, target) pairs."""

from __future__ import annotations

import math

import pytest
import torch

from mnistmax.losses import (
    LOSSES,
    bce_loss,
    charbonnier_loss,
    get_loss,
    l1_loss,
    l2_loss,
    needs,
)
from mnistmax.losses.perceptual import FrozenFeatures
from mnistmax.models import create_model

# LPIPS downloads its weights: tests/losses/test_perceptual.py
NAMES = [name for name in LOSSES if name != "perceptual_lpips"]


def make(name: str):
    """The loss with the networks it needs: perceptual gets a (seeded, untrained) digit classifier's features."""
    if needs(name) == ["features"]:
        torch.manual_seed(0)
        return get_loss(name, features=FrozenFeatures(create_model("cnn_classifier", latent_dim=16)))
    return get_loss(name)


def test_loss_names_match_config():
    for name in LOSSES:
        assert get_loss(name) is LOSSES[name]


def test_fp_weight_is_bound_only_where_the_loss_takes_it():
    assert get_loss("l2", fp_weight=3.0) is LOSSES["l2"]
    pred, target = torch.full((2, 1, 4, 4), 0.5), torch.zeros(2, 1, 4, 4)
    target[1] = 1.0  # half the pixels ink, half empty; every prediction 0.5
    for name in ("precision_bce", "combined"):
        assert get_loss(name, fp_weight=5.0)(pred, target).item() == pytest.approx(make(name)(pred, target).item())
    # -log(0.5) per pixel, empty pixels weighted w: mean weight (1 + w) / 2
    assert get_loss("precision_bce", fp_weight=3.0)(pred, target).item() == pytest.approx(2 * math.log(2), rel=1e-5)
    assert get_loss("precision_bce", fp_weight=1.0)(pred, target).item() == pytest.approx(
        get_loss("bce")(pred, target).item(), rel=1e-6)


def test_unknown_loss_names_valid_ones():
    with pytest.raises(ValueError) as info:
        get_loss("huber")
    assert "huber" in str(info.value)
    for name in NAMES:
        assert name in str(info.value)


@pytest.mark.parametrize("name", NAMES)
def test_identical_binary_inputs_give_minimal_loss(name, digits):
    target = (digits > 0.5).float()
    loss = make(name)(target, target.clone())
    assert loss.shape == () and loss.dtype == torch.float32
    if name == "charbonnier":  # sqrt(0 + eps^2) = eps: its minimum is eps, not 0
        assert loss.item() == pytest.approx(1e-3, rel=1e-4)
    else:  # BCE-based losses clamp to [1e-6, 1 - 1e-6]; weighted ones scale that floor up to 5x
        assert loss.item() == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("name", ["l2", "l1", "charbonnier"])
def test_identical_gray_inputs_give_zero_distance(name, digits):
    loss = make(name)(digits, digits.clone()).item()
    assert loss == pytest.approx(1e-3 if name == "charbonnier" else 0.0, abs=1e-7)


@pytest.mark.parametrize("name", NAMES)
def test_positive_and_growing_with_error(name, digits):
    fn = make(name)
    target = (digits > 0.5).float()
    at_identity = fn(target, target).item()
    previous = at_identity
    for alpha in (0.1, 0.3, 0.6):
        pred = (1 - alpha) * target + alpha * (1 - target)  # move every pixel towards the wrong end
        loss = fn(pred, target).item()
        assert math.isfinite(loss)
        assert loss > previous, (alpha, loss, previous)
        previous = loss


def test_l2_and_l1_by_hand():
    pred = torch.tensor([[0.0, 0.5], [1.0, 0.25]])
    target = torch.tensor([[0.5, 0.5], [0.0, 0.0]])
    assert l2_loss(pred, target).item() == pytest.approx((0.25 + 0 + 1 + 0.0625) / 4)
    assert l1_loss(pred, target).item() == pytest.approx((0.5 + 0 + 1 + 0.25) / 4)


def test_charbonnier_close_to_l1_for_large_errors(digits):
    target = (digits > 0.5).float()
    pred = (target + 0.4).remainder(1.0)  # every error is 0.4 or 0.6 in size
    charb, l1 = charbonnier_loss(pred, target).item(), l1_loss(pred, target).item()
    assert charb > l1
    assert charb == pytest.approx(l1, rel=1e-5)


def test_charbonnier_is_smooth_at_zero():
    pred = torch.full((2, 1, 4, 4), 0.3, requires_grad=True)
    charbonnier_loss(pred, torch.full((2, 1, 4, 4), 0.3)).backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().max() == 0
    small = torch.tensor([1e-4])
    assert charbonnier_loss(small, torch.zeros(1)).item() == pytest.approx(math.sqrt(1e-8 + 1e-6), rel=1e-4)


def test_bce_finite_for_hard_predictions():
    target = torch.tensor([0.0, 1.0, 0.0, 1.0])
    pred = torch.tensor([1.0, 0.0, 0.0, 1.0], requires_grad=True)  # two completely wrong, two exact
    loss = bce_loss(pred, target)
    assert torch.isfinite(loss)
    assert loss.item() == pytest.approx(-2 * math.log(1e-6) / 4, rel=1e-3)
    loss.backward()
    assert torch.isfinite(pred.grad).all()


def test_bce_by_hand_and_minimised_at_soft_target():
    target = torch.tensor([0.2, 0.7])
    pred = torch.tensor([0.4, 0.9])
    expected = -(0.2 * math.log(0.4) + 0.8 * math.log(0.6) + 0.7 * math.log(0.9) + 0.3 * math.log(0.1)) / 2
    assert bce_loss(pred, target).item() == pytest.approx(expected, rel=1e-5)
    at_target = bce_loss(target, target).item()
    for shift in (-0.1, 0.1):
        assert bce_loss(target + shift, target).item() > at_target


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_inputs_computed_in_float32(name, dtype, digits):
    target = (digits > 0.5).float()
    pred = (0.8 * target + 0.1).to(dtype)
    loss = make(name)(pred, target.to(dtype))
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(make(name)(pred.float(), target).item(), rel=1e-6)
