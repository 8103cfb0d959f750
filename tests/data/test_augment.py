import pytest
import torch

from mnistmax.data.augment import AUGMENT_PRESETS, AugmentParams, augment
from mnistmax.data.datamodule import balanced_order
from mnistmax.errors import ConfigError
from mnistmax.tasks import load_config
from tests.helpers import ROOT, TINY_ANY, tiny_config


def test_shape_range_and_determinism(digits):
    a = augment(digits, AugmentParams(elastic=1.0), torch.Generator().manual_seed(0))
    b = augment(digits, AugmentParams(elastic=1.0), torch.Generator().manual_seed(0))
    c = augment(digits, AugmentParams(elastic=1.0), torch.Generator().manual_seed(1))
    assert a.shape == digits.shape and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_identity_parameters_keep_the_image(digits):
    still = AugmentParams(rotation=0, translate=0, scale=(1, 1), erase_prob=0, brightness=(1, 1))
    out = augment(digits, still, torch.Generator().manual_seed(0))
    assert torch.allclose(out, digits, atol=1e-5)


def test_consistent_applies_one_transform_to_the_batch(digits):
    same = digits[:1].expand(6, -1, -1, -1)
    out = augment(same, AugmentParams(), torch.Generator().manual_seed(3), consistent=True)
    assert all(torch.equal(out[0], out[i]) for i in range(6))
    varied = augment(same, AugmentParams(), torch.Generator().manual_seed(3), consistent=False)
    assert not all(torch.equal(varied[0], varied[i]) for i in range(6))


def test_balanced_order_gives_every_batch_every_class():
    labels = torch.arange(10).repeat_interleave(50)
    order = balanced_order(labels, torch.Generator().manual_seed(0))
    assert sorted(order.tolist()) == list(range(500))
    for start in range(0, 500, 100):
        counts = torch.bincount(labels[order[start : start + 100]], minlength=10)
        assert counts.min() >= 9 and counts.max() <= 11


# ---------------------------------------------------------------- augment.preset


def strengths(cfg) -> dict:
    return {k: v for k, v in cfg.augment.model_dump(mode="json").items() if k in AugmentParams.model_fields}


@pytest.mark.parametrize("name", list(AUGMENT_PRESETS))
def test_a_preset_sets_its_strengths(name):
    assert strengths(tiny_config("augment.enabled=true", f"augment.preset={name}")) == AUGMENT_PRESETS[name]
    AugmentParams.model_validate(AUGMENT_PRESETS[name])  # every value within its key's range


def test_the_default_preset_is_the_defaults_and_strong_moves_digits_more_than_light(digits):
    assert strengths(tiny_config("augment.enabled=true", "augment.preset=default")) == strengths(tiny_config())
    moved = {name: (augment(digits, AugmentParams.model_validate(AUGMENT_PRESETS[name]),
                            torch.Generator().manual_seed(0)) - digits).abs().mean().item()
             for name in ("light", "strong")}
    assert moved["strong"] > 1.5 * moved["light"] > 0, moved


def test_keys_a_config_sets_win_over_the_preset():
    cfg = tiny_config("augment.enabled=true", "augment.preset=strong", "augment.rotation=3")
    assert cfg.augment.rotation == 3 and cfg.augment.erase_prob == AUGMENT_PRESETS["strong"]["erase_prob"]


def test_a_preset_replaces_what_the_file_it_is_laid_over_sets(tmp_path):
    simclr = ROOT / "configs" / "models" / "simclr.yaml"  # its base, contrastive.yaml, sets every strength
    assert strengths(load_config(simclr, [*TINY_ANY, "augment.preset=light"])) == AUGMENT_PRESETS["light"]
    own = tmp_path / "mine.yaml"
    own.write_text(f"extends: {simclr}\naugment:\n  preset: strong\n  elastic: 0.5\n")
    assert strengths(load_config(own, TINY_ANY)) == {**AUGMENT_PRESETS["strong"], "elastic": 0.5}


def test_an_unknown_preset_is_one_line_naming_the_valid_ones():
    with pytest.raises(ConfigError) as caught:
        tiny_config("augment.enabled=true", "augment.preset=wild")
    assert "augment.preset: must be one of 'light', 'default' or 'strong'" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_preset_without_augmentation_is_refused():
    with pytest.raises(ConfigError, match=r"augment.preset: not used by task denoise \(augment.enabled is off\)"):
        tiny_config("augment.preset=light")
