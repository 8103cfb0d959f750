"""train.loss=perceptual: feature matching under a frozen digit classifier (the judge).
Zero for identical images, positive otherwise, gradients reach the prediction and never the
judge, which stays out of the task's optimizer and checkpoint; LPIPS offline is one line."""

import csv

import pytest
import torch

import mnistmax.analysis.judge as judge_module
import mnistmax.training as training
from mnistmax.analysis.judge import Judge
from mnistmax.losses import get_loss, weighted_loss
from mnistmax.losses.perceptual import FrozenFeatures, feature_distance
from mnistmax.models import create_model
from tests.helpers import TINY, invoke, one_error_line, tiny_config


def classifier(seed=0):
    torch.manual_seed(seed)
    return create_model("cnn_classifier", latent_dim=16)


def test_zero_for_identical_images_and_positive_otherwise(digits):
    loss = get_loss("perceptual", features=FrozenFeatures(classifier()))
    assert loss(digits, digits.clone()).item() == pytest.approx(0.0, abs=1e-7)
    noisy = (digits + 0.3 * torch.randn_like(digits)).clamp(0, 1)
    assert loss(noisy, digits).item() > 1e-3
    assert loss(noisy, digits).item() == pytest.approx(loss(noisy, digits).item())  # frozen: deterministic (eval mode)


def test_feature_distance_is_scale_invariant_per_position():
    a = [torch.randn(2, 8, 3, 3)]
    assert feature_distance(a, [3.0 * a[0]]).item() == pytest.approx(0.0, abs=1e-6)
    assert feature_distance(a, [-a[0]]).item() == pytest.approx(4.0, rel=1e-5)  # opposite directions: the maximum


def test_gradients_reach_the_prediction_and_never_the_network(digits):
    net = classifier()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    loss = get_loss("perceptual", features=FrozenFeatures(net))
    pred = (digits * 0.7).requires_grad_(True)
    loss(pred, digits).backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in net.parameters())
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # BatchNorm statistics too (eval mode)


def test_weighted_terms_add_up(digits):
    pred = digits * 0.5
    features = FrozenFeatures(classifier())
    total, terms = weighted_loss({"l2": 1.0, "perceptual": 0.25}, features=features)(pred, digits)
    assert set(terms) == {"l2", "perceptual"}
    assert total.item() == pytest.approx(terms["l2"].item() + 0.25 * terms["perceptual"].item(), rel=1e-6)


@pytest.mark.parametrize("override, key", [
    ("train.loss_weights={huber: 1.0}", "train.loss_weights"),
    ("train.loss_weights={l1: -1.0}", "train.loss_weights"),
    ("train.loss_weights={l2: 0.0}", "train.loss_weights"),
])
def test_bad_weights_are_refused_naming_the_key(override, key):
    from mnistmax.errors import ConfigError

    with pytest.raises(ConfigError, match=key):
        tiny_config(override)


def test_a_perceptual_run_keeps_the_judge_out_of_its_weights(tmp_path, monkeypatch):
    net = classifier(3)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    asked = []

    def fake_judge(cfg, echo=print, train=None):
        asked.append(cfg.data.source)
        return Judge(net, 0.9, "test")

    monkeypatch.setattr(judge_module, "judge_for", fake_judge)
    cfg = tiny_config("train.epochs=1", "viz.enabled=false", "logging.progress=none", f"logging.output_dir={tmp_path}",
                      "train.loss_weights={perceptual: 0.5}")
    run_dir = training.train(cfg, echo=lambda m: None).run_dir
    assert asked  # prepared before training (and bound when the loss was first used)
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert all(k.startswith("net.") for k in state) and len(state) == len(create_model(
        "unet_dae", **cfg.model.options()).state_dict())
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    row = next(r for r in csv.DictReader(open(run_dir / "metrics.csv")) if r.get("val/loss_perceptual"))
    assert float(row["val/loss_perceptual"]) > 0 and float(row["val/loss_l2"]) > 0
    assert float(row["val/loss"]) == pytest.approx(float(row["val/loss_l2"]) + 0.5 * float(row["val/loss_perceptual"]),
                                                   rel=1e-4)


def test_lpips_loss_offline_is_one_line_and_leaves_no_run(tmp_path):
    from mnistmax.eval.metrics import LPIPSUnavailable, make_lpips

    try:
        make_lpips()
        pytest.skip("LPIPS weights are cached on this machine")
    except LPIPSUnavailable:
        pass
    result = invoke("train", "-c", "configs/quick.yaml", *TINY, "train.loss=perceptual_lpips",
                    f"logging.output_dir={tmp_path}")
    assert result.exit_code != 0 and "LPIPS unavailable" in one_error_line(result)
    assert not (tmp_path / "runs").exists()
