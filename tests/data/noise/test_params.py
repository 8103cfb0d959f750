"""Each noise kind's own parameters (noise.params), mixtures composing several kinds per
image (noise.kinds_per_image), and the named presets (noise.preset)."""

import pytest
import torch

from mnistmax.data.datamodule import noisy_batch
from mnistmax.data.noise import NOISE_KINDS, PRESETS, apply_noise, noise_params
from mnistmax.errors import ConfigError
from mnistmax.tasks import load_config
from tests.helpers import ROOT, tiny_config


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def blank():
    return torch.zeros(64, 1, 28, 28)


@pytest.mark.parametrize("kind", NOISE_KINDS)
def test_the_defaults_are_the_kinds_own_behaviour(kind, digits):
    spelled_out = {kind: noise_params(kind)}
    assert torch.equal(apply_noise(kind, digits, 0.6, gen()), apply_noise(kind, digits, 0.6, gen(), params=spelled_out))


def test_salt_prob_sets_the_share_of_white_hits():
    gray = torch.full((32, 1, 28, 28), 0.5)
    for salt_prob in (0.1, 0.9):
        out = apply_noise("salt_pepper", gray, 1.0, gen(), params={"salt_pepper": {"salt_prob": salt_prob}})
        assert (out == 1).float().mean().item() == pytest.approx(salt_prob, abs=0.01)


def test_block_size_range_bounds_the_covered_area(blank):
    params = {"add_blocks": {"max_blocks": 1, "size_range": [3.0, 3.0]}}
    out = apply_noise("add_blocks", blank, 1.0, gen(), params=params)
    assert (out.flatten(1).sum(1) == 9).all()  # one 3x3 block in every image
    big = apply_noise("add_blocks", blank, 1.0, gen(), params={"add_blocks": {"max_blocks": 1, "size_range": [7, 7]}})
    assert (big.flatten(1).sum(1) == 49).all()


def test_line_width_and_count_change_the_ink(blank):
    thin = apply_noise("add_lines", blank, 1.0, gen(), params={"add_lines": {"width": [1.0, 1.0]}}).mean()
    wide = apply_noise("add_lines", blank, 1.0, gen(), params={"add_lines": {"width": [3.0, 3.0]}}).mean()
    assert wide > 2 * thin
    one = apply_noise("lines", blank, 1.0, gen(), params={"lines": {"max_lines": 1}}).mean()
    assert one < apply_noise("lines", blank, 1.0, gen()).mean() / 3  # 6 lines by default


def test_pixel_fraction_and_border_depth(blank):
    specks = apply_noise("add_pixels", blank, 1.0, gen(), params={"add_pixels": {"max_fraction": 0.05}})
    assert specks.mean().item() == pytest.approx(0.05, abs=0.005)
    border = apply_noise("add_border", blank, 1.0, gen(), params={"add_border": {"depth_range": [2, 2]}})
    assert (border[..., :2, :] == 1).all() and (border[..., 2:-2, 2:-2] == 0).all()  # all four sides, 2 px deep


def test_a_mixture_uses_its_kinds_params_and_kind_subset(blank):
    params = {"add_mixed": {"kinds": ["add_border"]}, "add_border": {"depth_range": [1, 1]}}
    only_border = apply_noise("add_mixed", blank, 1.0, gen(), params=params)
    assert (only_border[..., 0, :] == 1).all() and (only_border[..., 1:-1, 1:-1] == 0).all()


def test_kinds_per_image_composes_that_many_kinds(blank):
    params = {"add_mixed": {"kinds": ["add_pixels", "add_border"]}, "add_border": {"depth_range": [1, 1]}}
    one = apply_noise("add_mixed", blank, 1.0, gen(), params=params)
    two = apply_noise("add_mixed", blank, 1.0, gen(), params=params, kinds_per_image=2)
    framed = lambda x: (x[..., 0, :] == 1).flatten(1).all(1)  # noqa: E731  the top row is all ink
    specked = lambda x: x[..., 1:-1, 1:-1].flatten(1).sum(1) > 0  # noqa: E731
    assert (framed(two) & specked(two)).all()  # both kinds in every image
    assert not (framed(one) & specked(one)).any() and (framed(one) | specked(one)).all()  # exactly one


def test_training_batches_and_eval_use_the_params(digits):
    images = (digits * 255).to(torch.uint8).squeeze(1)
    plain = noisy_batch(images, torch.zeros(len(images)), tiny_config("noise.kind=salt_pepper"), gen(), True)
    salty = noisy_batch(images, torch.zeros(len(images)), tiny_config(
        "noise.kind=salt_pepper", "noise.params={salt_pepper: {salt_prob: 1.0}}"), gen(), True)
    hit = plain["noisy"] != plain["clean"]
    assert (salty["noisy"] == 0).sum() < (plain["noisy"] == 0).sum() and hit.any()


@pytest.mark.parametrize("override, message", [
    ("noise.params={blocks: {size_range: [3, 5]}}", r"noise\.params\.blocks: this run draws no blocks noise"),
    ("noise.params={salt_pepper: {salt: 0.3}}", r"noise\.params\.salt_pepper\.salt: salt_pepper has no such parameter; "
                                                r"valid: salt_prob"),
    ("noise.params={salt_pepper: {salt_prob: 2}}", r"noise\.params\.salt_pepper\.salt_prob"),
    ("noise.params={fog: {}}", r"noise\.params: unknown noise kind 'fog'"),
    ("noise.kinds_per_image=2", r"noise\.kinds_per_image: not used by task denoise \(no mixture kind"),
    ("noise.preset=wild", r"noise\.preset: must be one of 'mild', 'default' or 'aggressive'"),
])
def test_bad_noise_settings_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        tiny_config("noise.eval_kinds=[gaussian, salt_pepper]", override)


def test_a_preset_fills_what_the_config_leaves_out():
    cfg = load_config(ROOT / "configs" / "mnist.yaml", ["noise.preset=aggressive", "noise.kind=mixed"])
    assert cfg.noise.train_sigma_range == (0.3, 1.0) and cfg.noise.kinds_per_image == 2  # over the file's [0, 1]
    assert cfg.noise.params["blocks"]["size_range"] == (5.0, 12.0)
    assert "add_blocks" not in cfg.noise.params  # the preset's parameters only for the kinds this run draws
    mine = load_config(ROOT / "configs" / "mnist.yaml", ["noise.preset=mild", "noise.test_sigmas=[0.25]"])
    assert mine.noise.test_sigmas == [0.25] and mine.noise.train_sigma_range == (0.0, 0.4)  # an explicit key wins


def test_the_docs_print_the_preset_table():
    readme = (ROOT / "docs" / "configuration.md").read_text()
    for name, values in PRESETS.items():
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{name}` |"))
        assert str(values["train_sigma_range"]) in row and str(values["test_sigmas"]) in row, row
        assert f"| {values['kinds_per_image']} |" in row
