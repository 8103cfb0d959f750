"""What you configure is what runs: model options checked against the network, keys a task
does not use refused (or, when a base config brings them, named in one warning line)."""

from pathlib import Path

import pytest

from mnistmax.config import RunConfig, flat_keys, read_config_file
from mnistmax.errors import ConfigError
from mnistmax.models import count_parameters
from mnistmax.tasks import build_task, dump_yaml, load_config, read_run_config, unused_keys

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(p for p in (ROOT / "configs").rglob("*.yaml") if p.parent.name not in ("grid", "search"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_key_a_shipped_config_sets_is_used(path):
    warnings = []
    cfg = load_config(path, warn=warnings.append)
    assert warnings == []
    assert unused_keys(cfg, flat_keys(read_config_file(path))) == []  # its own keys and those it extends


@pytest.mark.parametrize("override, message", [
    ("model.latent_dim=256", "model.latent_dim: conv_dae has no such argument; valid: name, base_ch, num_downs"),
    ("model.in_ch=3", "model.in_ch: conv_dae has no such argument"),
    ("model.base_ch=0", "model.base_ch: Input should be greater than 0 (got 0)"),
    ("model.num_downs=9", "model.num_downs: Input should be less than or equal to 3 (got 9)"),
])
def test_model_options_are_the_networks_arguments(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(ROOT / "configs/models/conv_dae.yaml", [override])


def test_model_option_is_a_real_argument():
    small = build_task(load_config(ROOT / "configs/models/conv_ae.yaml", ["model.latent_dim=12"]))
    large = build_task(load_config(ROOT / "configs/models/conv_ae.yaml", ["model.latent_dim=256"]))
    assert count_parameters(large.net) > count_parameters(small.net)
    with pytest.raises(ConfigError, match="model.num_downs: conv_ae has no such argument; valid: name, latent_dim"):
        load_config(ROOT / "configs/models/conv_ae.yaml", ["model.num_downs=3"])


def test_model_section_shows_every_argument_it_builds_with():
    cfg = load_config(ROOT / "configs/models/resnet_dae.yaml")
    assert cfg.model.options() == {"base_ch": 16, "num_downs": 1, "num_blocks": 4}
    assert "num_blocks: 4" in dump_yaml(cfg)


@pytest.mark.parametrize("config, override, key", [
    ("models/vae.yaml", "train.loss=l1", "train.loss"),
    ("models/simclr.yaml", "noise.kind=lines", "noise.kind"),
    ("models/conv_ae.yaml", "contrastive.temperature=0.5", "contrastive.temperature"),
    ("models/classifier.yaml", "viz.sigma=0.3", "viz.sigma"),
    ("mnist.yaml", "train.fp_weight=3", "train.fp_weight"),
    ("mnist.yaml", "data.threshold=0.3", "data.threshold"),
    ("models/triplet.yaml", "contrastive.temperature=0.3", "contrastive.temperature"),
    ("models/simclr.yaml", "contrastive.margin=0.3", "contrastive.margin"),
    ("models/classifier.yaml", "augment.rotation=10", "augment.rotation"),
])
def test_a_key_the_task_does_not_use_is_refused(config, override, key):
    with pytest.raises(ConfigError, match=rf"{key}: not used by task \w+ \(.+\); remove (it|them)"):
        load_config(ROOT / "configs" / config, [override])


def test_unused_keys_from_a_base_config_are_one_warning(tmp_path):
    (tmp_path / "base.yaml").write_text("noise: {kind: lines}\ntrain: {loss: l1, epochs: 3}\n")
    (tmp_path / "run.yaml").write_text("extends: base.yaml\ntask: vae\nmodel: {name: vae_conv}\n")
    warnings = []
    cfg = load_config(tmp_path / "run.yaml", warn=warnings.append)
    assert cfg.train.epochs == 3
    assert len(warnings) == 1
    assert "noise.kind, train.loss (brought in by the config it extends) do not apply to this vae run" in warnings[0]
    with pytest.raises(ConfigError, match="train.loss: not used by task vae"):
        load_config(tmp_path / "run.yaml", ["train.loss=l2"])


def test_a_key_an_override_turns_off_is_one_warning():
    warnings = []
    cfg = load_config(ROOT / "configs/quick.yaml", ["train.ema=false"], warn=warnings.append)
    assert not cfg.train.ema
    assert warnings == [f"{ROOT / 'configs/quick.yaml'}: train.ema_decay (turned off by overrides) do not apply to "
                        "this denoise run; they are not used"]


def test_a_file_that_sets_a_key_it_does_not_use_is_refused(tmp_path):
    (tmp_path / "bad.yaml").write_text("task: contrastive\nmodel: {name: simple_cnn}\nnoise: {kind: lines}\n")
    with pytest.raises(ConfigError,
                       match="noise.kind: not used by task contrastive .it trains on clean digits.; remove it"):
        load_config(tmp_path / "bad.yaml", ["train.epochs=2"])


def test_run_config_holds_only_what_the_task_uses():
    text = dump_yaml(load_config(ROOT / "configs/models/simclr.yaml"))
    assert "noise:" not in text and "vae:" not in text and "contrastive:" in text


def test_a_config_from_before_strict_models_still_loads():
    """Runs written before the model section was strict carry every model key; the ones the
    network never took are dropped when the run is read, not when a user writes them."""
    raw = RunConfig.model_validate({"task": "autoencoder", "model": {"name": "conv_ae"}}).model_dump(mode="json")
    raw["model"] |= {"base_ch": 32, "num_downs": 2, "embedding_dim": 128, "latent_dim": 12}
    cfg = read_run_config(raw, "old run")
    assert cfg.model.options() == {"latent_dim": 12}
    with pytest.raises(ConfigError, match="model.base_ch: conv_ae has no such argument"):  # a user's config
        load_config(None, ["task=autoencoder", "model.name=conv_ae", "model.base_ch=32"])
