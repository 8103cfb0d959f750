import pytest

from mnistmax.config import parse_override
from mnistmax.errors import ConfigError
from mnistmax.tasks import dump_yaml, load_config


def write(tmp_path, text, name="c.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_and_overrides_are_typed():
    cfg = load_config(None, ["train.epochs=3", "model.name=conv_dae", "noise.test_sigmas=[0.1, 0.5]",
                             "train.amp=false"])
    assert cfg.train.epochs == 3 and isinstance(cfg.train.epochs, int)
    assert cfg.model.name == "conv_dae"
    assert cfg.noise.test_sigmas == [0.1, 0.5]
    assert cfg.train.amp == "off"


def test_roundtrip_through_yaml(tmp_path):
    cfg = load_config("configs/mnist.yaml", ["train.lr=0.01"])
    again = load_config(write(tmp_path, dump_yaml(cfg)))
    assert again == cfg


@pytest.mark.parametrize(
    "override, key, hint",
    [
        ("train.epoch=3", "train.epoch", "epochs"),  # unknown key, lists the valid ones
        ("bogus=1", "bogus", "train"),
        ("data.sourc=idx", "data.sourc", "source"),
        ("train.epochs=0", "train.epochs", "greater than 0"),
        ("train.epochs=abc", "train.epochs", "integer"),
        ("data.batch_size=0", "data.batch_size", "greater than 0"),
        ("noise.test_sigmas=[-0.1]", "noise.test_sigmas", "outside [0, 1]"),
        ("noise.train_sigmas=[1.5]", "noise.train_sigmas", "outside [0, 1]"),
        ("model.name=transformer9000", "model.name", "unet_dae"),
        ("noise.kind=fog", "noise.kind", "salt_pepper"),
        ("noise.eval_kinds=[gaussian, fog]", "noise.eval_kinds", "gaussian"),
        ("train.loss=huber", "train.loss", "charbonnier"),
        ("train.lr=-1", "train.lr", "greater than 0"),
        ("train.fp_weight=0", "train.fp_weight", "greater than 0"),
        ("data.source=ftp", "data.source", "embedded"),
        ("train.epochs.x=1", "train.epochs", "not a section"),
        ("noise.train_sigma_range=[0.8, 0.2]", "train_sigma_range", "low must not exceed high"),
    ],
)
def test_bad_overrides_name_the_key(override, key, hint):
    with pytest.raises(ConfigError) as info:
        load_config("configs/quick.yaml", [override])
    message = str(info.value)
    assert key in message and hint in message
    assert "\n" not in message
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    "text, hint",
    [
        ("", "is empty"),
        ("- a\n- b\n", "must hold a mapping"),
        ("train: [1, 2\n", "not valid YAML"),
        ("train:\n  epochs: 2\n  speed: 9\n", "train.speed: unknown key"),
    ],
)
def test_bad_files(tmp_path, text, hint):
    with pytest.raises(ConfigError, match=hint.replace("[", r"\[")):
        load_config(write(tmp_path, text))


def test_missing_file():
    with pytest.raises(ConfigError, match="not found"):
        load_config("does/not/exist.yaml")


def test_override_syntax():
    assert parse_override("a.b=3") == (["a", "b"], 3)
    assert parse_override("a=[1, 2]") == (["a"], [1, 2])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_override("train.epochs")
    with pytest.raises(ConfigError, match="empty key"):
        parse_override("train..epochs=3")


def test_extends_merges_over_parent(tmp_path):
    write(tmp_path, "name: parent\ntrain:\n  epochs: 7\n  lr: 0.01\n", "parent.yaml")
    child = write(tmp_path, "extends: parent.yaml\ntrain:\n  epochs: 2\n", "child.yaml")
    cfg = load_config(child)
    assert (cfg.name, cfg.train.epochs, cfg.train.lr) == ("parent", 2, 0.01)


def test_extends_cycle_is_reported(tmp_path):
    path = write(tmp_path, "extends: c.yaml\n")
    with pytest.raises(ConfigError, match="extends itself"):
        load_config(path)
