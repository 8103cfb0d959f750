"""Every registered network: shapes, range, gradients, knobs; and the registry itself."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn as nn

from mnistmax.config.load import PACKAGED
from mnistmax.losses import l2_loss
from mnistmax.models import count_parameters, create_model, get_entry, list_models, register_model
from mnistmax.models.layers import pad_to_multiple

# the conv denoisers (encoders: tests/models/test_encoders.py; VAE denoisers: tests/tasks/test_vae_denoise.py)
MODELS = [m for m in list_models("denoise") if "base_ch" in get_entry(m).accepted_kwargs()]


def test_registry_holds_the_denoisers():
    assert {"conv_dae", "resnet_dae", "unet_dae", "attention_dae"} <= set(MODELS)
    assert MODELS == sorted(MODELS)
    assert set(list_models("denoise")) - set(MODELS) == {"ablation_vae_conv"}
    assert list_models("no-such-family") == []


def check_forward_backward(model: nn.Module, x: torch.Tensor) -> None:
    model.train()
    out = model(x)
    assert out.shape == x.shape
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert out.min() >= 0.0 and out.max() <= 1.0
    loss = l2_loss(out, torch.rand_like(x))
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
    grad_norm = sum(p.grad.abs().sum() for p in model.parameters())
    assert grad_norm > 0


@pytest.mark.parametrize("name", MODELS)
def test_default_model_forward_backward(name):
    model = create_model(name)
    assert count_parameters(model) > 1000
    check_forward_backward(model, torch.rand(4, 1, 28, 28))


@pytest.mark.parametrize("num_downs", [1, 3])
@pytest.mark.parametrize("name", MODELS)
def test_num_downs(name, num_downs):
    if "num_downs" not in get_entry(name).accepted_kwargs():
        pytest.skip(f"{name} has no num_downs")
    model = create_model(name, base_ch=8, num_downs=num_downs)
    check_forward_backward(model, torch.rand(4, 1, 28, 28))
    assert getattr(model, "num_downs", num_downs) == num_downs


@pytest.mark.parametrize("name", ["unet_dae", "attention_dae", "ablation_unet_dae"])
def test_unet_depth_four_pads_and_crops_back_to_28(name):
    model = create_model(name, base_ch=8, num_downs=4)  # 28 -> padded to 32 -> 16 -> 8 -> 4 -> 2
    x = torch.rand(3, 1, 28, 28)
    assert model(x).shape == (3, 1, 28, 28)
    check_forward_backward(model, x)
    assert count_parameters(model) > count_parameters(create_model(name, base_ch=8, num_downs=3))


@pytest.mark.parametrize("name", MODELS)
def test_num_downs_changes_the_network(name):
    if "num_downs" not in get_entry(name).accepted_kwargs():
        pytest.skip(f"{name} has no num_downs")
    small = count_parameters(create_model(name, base_ch=8, num_downs=1))
    large = count_parameters(create_model(name, base_ch=8, num_downs=3))
    if name.endswith("cdae"):  # the dense layers dominate, and a deeper encoder flattens a smaller map
        assert large < small
        return
    assert large > small


@pytest.mark.parametrize("name", MODELS)
def test_base_ch_scales_parameters(name):
    assert count_parameters(create_model(name, base_ch=16)) > count_parameters(create_model(name, base_ch=8))


@pytest.mark.parametrize("name", MODELS)
def test_unknown_kwargs_are_refused_with_the_valid_ones(name):
    with pytest.raises(ValueError, match=r"model\.not_a_knob: .* no such argument; valid: name, base_ch, num_downs"):
        create_model(name, base_ch=8, not_a_knob=123)


@pytest.mark.parametrize("name", MODELS)
def test_bad_values_name_the_argument(name):
    with pytest.raises(ValueError, match=r"model\.base_ch: .*greater than 0"):
        create_model(name, base_ch=0)
    with pytest.raises(ValueError, match=r"model\.num_downs"):
        create_model(name, num_downs="deep")


@pytest.mark.parametrize("name", MODELS)
def test_eval_mode_images_are_independent_and_deterministic(name):
    """In eval mode an image's output does not depend on the rest of its batch."""
    model = create_model(name, base_ch=8).eval()
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        full = model(x)
        part = model(x[:2])
        again = model(x)
    torch.testing.assert_close(full[:2], part, rtol=1e-4, atol=1e-5)
    assert torch.equal(full, again)
    assert (full[0] - full[2]).abs().max() > 0  # the output depends on the input


@pytest.mark.parametrize("name", MODELS)
def test_other_image_sizes_are_padded_and_cropped(name):
    if name.endswith("cdae"):  # a dense latent is sized for 28x28 inputs
        with pytest.raises(ValueError, match="28x28"):
            create_model(name, base_ch=8)(torch.rand(2, 1, 30, 22))
        return
    model = create_model(name, base_ch=8).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 1, 30, 22))
    assert out.shape == (2, 1, 30, 22)


@pytest.mark.parametrize("name", MODELS)
def test_a_few_steps_fit_a_small_batch(name, digits):
    """Thirty Adam steps on 8 clean digits cut the reconstruction loss by at least a quarter
    (0.07-0.61 of the start over torch seeds 0-5)."""
    model = create_model(name, base_ch=8)
    x = digits[::5]
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = l2_loss(model(x), x)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert min(losses[-5:]) < 0.75 * losses[0], losses


def test_pad_to_multiple():
    x = torch.ones(2, 1, 28, 28)
    same, size = pad_to_multiple(x, 4)
    assert same is x and size == (28, 28)
    padded, size = pad_to_multiple(x, 8)
    assert padded.shape == (2, 1, 32, 32) and size == (28, 28)
    assert padded[..., :28, :28].eq(1).all() and padded[..., 28:, :].eq(0).all() and padded[..., :, 28:].eq(0).all()


# ---------------------------------------------------------------- registry


def test_create_unknown_model_lists_valid_names():
    with pytest.raises(KeyError) as info:
        create_model("transformer_9000")
    message = str(info.value)
    assert "transformer_9000" in message
    for name in MODELS:
        assert name in message


@pytest.fixture
def scratch_registry(monkeypatch):
    """A copy of the registry, so the test's registrations vanish afterwards."""
    from mnistmax.models import MODELS

    monkeypatch.setattr(MODELS, "_items", dict(MODELS._items))
    return MODELS


def test_register_model_twice_warns_and_later_wins(scratch_registry):
    with warnings.catch_warnings():
        warnings.simplefilter("error")

        @register_model("tiny_test_net", family="testing")
        def first(width: int = 2):
            return nn.Conv2d(1, width, 1)

    with pytest.warns(UserWarning, match="tiny_test_net"):

        @register_model("tiny_test_net", family="testing")
        def second(width: int = 2):
            return nn.Conv2d(1, 2 * width, 1)

    assert list_models("testing") == ["tiny_test_net"]
    assert get_entry("tiny_test_net").accepted_kwargs() == {"width"}
    assert create_model("tiny_test_net", width=3).out_channels == 6
    with pytest.raises(ValueError, match="model.ignored: tiny_test_net has no such argument; valid: name, width"):
        create_model("tiny_test_net", width=3, ignored=1)


def test_register_model_returns_factory_unchanged(scratch_registry):
    def factory():
        return nn.Identity()

    assert register_model("identity_test_net", family="testing")(factory) is factory
    assert "identity_test_net" in list_models()
    assert "identity_test_net" not in list_models("denoise")


def test_count_parameters():
    model = nn.Linear(3, 2)  # 6 weights + 2 biases
    assert count_parameters(model) == 8
    model.bias.requires_grad_(False)
    assert count_parameters(model) == 8
    assert count_parameters(model, trainable_only=True) == 6



def test_cdae_latent_dim_is_a_real_bottleneck():
    sizes = [count_parameters(create_model("cdae", base_ch=8, latent_dim=d)) for d in (64, 128, 256)]
    assert sizes[0] < sizes[1] < sizes[2]
    model = create_model("cdae", base_ch=8, latent_dim=16)
    assert model.to_latent.out_features == 16 and model(torch.rand(2, 1, 28, 28)).shape == (2, 1, 28, 28)
    check_forward_backward(model, torch.rand(4, 1, 28, 28))


def test_seed_002_grid_over_latent_dim_validates():
    from mnistmax.experiments.spec import load_grid

    spec, _ = load_grid("grid/cdae")
    assert spec.grid["model.latent_dim"] == [64, 128, 256] and spec.cv.folds == 3


def test_seed_002_own_grid_is_shipped_as_written():
    from mnistmax.experiments.spec import config_for, load_search

    search = load_search(PACKAGED / "grid" / "seed002.yaml", require_grid=True)
    assert search.kind == "grid" and search.trials == 3 * 2 * 3 and search.spec.pruner == "median"
    assert search.spec.grid == {"model.latent_dim": [64, 128, 256], "train.lr": [1e-3, 5e-3],
                                "noise.train_sigmas": [[0.3], [0.5], [0.8]]}
    assert search.spec.cv.folds == 5 and search.validation.levels == [0.3, 0.5, 0.8]  # one protocol for all
    cfg = config_for(search.base, {"noise.train_sigmas": [0.8]})
    assert (cfg.model.name, cfg.train.epochs, cfg.train.patience, cfg.train.max_time_minutes) == ("cdae", 50, 10, None)
    assert cfg.noise.train_sigmas == [0.8] and cfg.noise.train_sigma_range is None


@pytest.mark.parametrize("name", ["unet_dae", "attention_dae"])
def test_unet_channels_in_and_out_are_real_arguments(name):
    model = create_model(name, base_ch=8, in_ch=3, out_ch=1, num_downs=3)
    out = model(torch.rand(2, 3, 28, 28))
    assert out.shape == (2, 1, 28, 28) and 0 <= out.min() and out.max() <= 1
    assert model.enc[0][0].in_channels == 3
    two = create_model(name, base_ch=8, in_ch=1, out_ch=2)
    assert two(torch.rand(2, 1, 28, 28)).shape == (2, 2, 28, 28)
    with pytest.raises(RuntimeError):
        model(torch.rand(2, 1, 28, 28))  # a 3-channel network refuses grayscale: nothing is broadcast silently


def test_channels_other_than_the_datas_are_refused_in_a_run_config():
    from mnistmax.errors import ConfigError
    from tests.helpers import tiny_config

    with pytest.raises(ConfigError, match=r"model\.in_ch: the data has 1 channel"):
        tiny_config("model.in_ch=3")
    with pytest.raises(ConfigError, match=r"model\.out_ch"):
        tiny_config("model.out_ch=2")
    assert tiny_config("model.in_ch=1").model.options()["in_ch"] == 1
