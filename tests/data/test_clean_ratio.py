"""noise.clean_ratio: that share of every training batch stays clean; eval adds σ = 0."""

import pytest
import torch

from mnistmax.data.datamodule import noisy_batch
from mnistmax.data.sources import load_embedded
from mnistmax.errors import ConfigError
from mnistmax.eval.denoise import evaluate_methods
from tests.helpers import tiny_config


@pytest.fixture(scope="module")
def images():
    return load_embedded().train_images[:32]


@pytest.mark.parametrize("ratio, kept", [(0.25, 8), (0.5, 16), (0.1, 3)])
def test_that_share_of_each_batch_is_left_clean(images, ratio, kept):
    cfg = tiny_config(f"noise.clean_ratio={ratio}", "noise.train_sigma_range=[0.2, 1.0]")
    for seed in range(3):
        b = noisy_batch(images, torch.zeros(32), cfg, torch.Generator().manual_seed(seed), training=True)
        same = (b["noisy"] == b["clean"]).flatten(1).all(1)
        assert int(same.sum()) == kept  # every other image has noise at σ >= 0.2
        assert torch.equal(b["sigma"] == 0, same)


def test_validation_batches_and_the_default_are_unchanged(images):
    g = lambda: torch.Generator().manual_seed(5)  # noqa: E731
    plain = noisy_batch(images, torch.zeros(32), tiny_config(), g(), training=True)
    with_ratio = tiny_config("noise.clean_ratio=0.5")
    val = noisy_batch(images, torch.zeros(32), with_ratio, g(), training=False)
    assert torch.equal(val["noisy"], noisy_batch(images, torch.zeros(32), tiny_config(), g(), training=False)["noisy"])
    assert not (val["noisy"] == val["clean"]).flatten(1).all(1).any()
    assert torch.equal(plain["noisy"], noisy_batch(images, torch.zeros(32), tiny_config("noise.clean_ratio=0"), g(),
                                                   training=True)["noisy"])


@pytest.mark.parametrize("bad", ["1.0", "-0.1", "yes"])
def test_bad_ratio_is_refused_naming_the_key(bad):
    with pytest.raises(ConfigError, match="noise.clean_ratio"):
        tiny_config(f"noise.clean_ratio={bad}")


def test_eval_adds_sigma_zero(images):
    cfg = tiny_config("noise.clean_ratio=0.3", "noise.test_sigmas=[0.5]", "noise.eval_kinds=[gaussian]")
    assert cfg.noise.levels_to_evaluate() == [0.0, 0.5]
    assert tiny_config("noise.test_sigmas=[0.5]").noise.levels_to_evaluate() == [0.5]
    rows = evaluate_methods({"identity": lambda x: x}, images[:8], cfg)
    assert [r["sigma"] for r in rows] == [0.0, 0.5]
    assert rows[0]["psnr"] == 100.0  # the clean input itself: an exact reconstruction
