"""mnistmax.losses: reconstruction losses on (prediction, target) pairs."""

from __future__ import annotations

import math

import pytest
import torch

from mnistmax.errors import ConfigError
from mnistmax.losses import (
    LOSSES,
    bce_loss,
    charbonnier_loss,
    conservation_penalty,
    get_loss,
    l1_loss,
    l2_loss,
    needs,
    recall_penalty,
    weighted_loss,
)
from mnistmax.losses.perceptual import FrozenFeatures
from mnistmax.models import create_model
from tests.helpers import tiny_config

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


# ---------------------------------------------------------------- precision-focused penalties


def two_images(pred_ink: list[list[float]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(pred, target) of two 2x2 images whose first row is ink in the target; `pred_ink`: each image's 4 pixels."""
    target = torch.tensor([[1.0, 1.0], [0.0, 0.0]]).expand(2, 1, 2, 2)
    return torch.tensor(pred_ink).view(2, 1, 2, 2), target


def test_conservation_penalty_by_hand():
    pred, target = two_images([[1.0, 1.0, 0.5, 0.5], [0.5, 0.5, 0.25, 0.25]])
    # image 0: ink 3 against the target's 2, an excess of half its ink; image 1: less ink than the target, no excess
    assert conservation_penalty(pred, target).item() == pytest.approx((0.5 + 0.0) / 2)
    assert conservation_penalty(target, target).item() == 0.0
    empty = torch.zeros(1, 1, 2, 2)
    assert conservation_penalty(torch.full((1, 1, 2, 2), 0.5), empty).item() == pytest.approx(2.0)  # per pixel


def test_recall_penalty_by_hand():
    pred, target = two_images([[1.0, 0.5, 1.0, 1.0], [0.0, 0.75, 0.0, 0.0]])
    # the target's ink: 4 pixels, predicted 1, 0.5, 0, 0.75: missed 0 + 0.5 + 1 + 0.25 of 4; ink added elsewhere is free
    assert recall_penalty(pred, target).item() == pytest.approx(1.75 / 4)
    assert recall_penalty(torch.ones(2, 1, 2, 2), target).item() == 0.0
    assert recall_penalty(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)).item() == 0.0  # no ink to miss


@pytest.mark.parametrize("penalty", ["conservation_penalty", "recall_penalty"])
def test_a_penalty_adds_its_weighted_term_to_the_bitmap_loss(penalty, digits):
    target = (digits > 0.5).float()
    pred = (0.7 * target + 0.2 * torch.rand(target.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    base = get_loss("combined", fp_weight=5.0)(pred, target)
    total, terms = weighted_loss({"combined": 1.0, penalty: 0.5}, fp_weight=5.0)(pred, target)
    assert terms[penalty].item() > 0
    assert total.item() == pytest.approx(base.item() + 0.5 * LOSSES[penalty](pred, target).item(), rel=1e-6)
    cfg = tiny_config("data.binarize=true", "train.loss=combined", f"train.loss_weights={{{penalty}: 0.5}}")
    assert cfg.train.loss_terms() == {"combined": 1.0, penalty: 0.5}


def test_penalty_weights_are_validated():
    with pytest.raises(ConfigError, match=r"train\.loss_weights\.recall_penalty: weight -0\.5 is negative"):
        tiny_config("train.loss=combined", "train.loss_weights={recall_penalty: -0.5}")
    with pytest.raises(ConfigError) as caught:
        tiny_config("train.loss=combined", "train.loss_weights={recal_penalty: 0.5}")
    assert "recal_penalty" in str(caught.value)
    assert "conservation_penalty" in str(caught.value) and "recall_penalty" in str(caught.value)
