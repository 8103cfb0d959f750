"""`mnistmax.train(config, **overrides)` and `mnistmax.evaluate(run)`: the documented Python entry points."""

import json

import pytest

import mnistmax
from mnistmax.config import keyword_overrides, parse_override
from mnistmax.errors import ConfigError
from tests.helpers import TINY, tiny_config


def test_keyword_overrides_become_checked_key_value_strings():
    out = keyword_overrides({"train__epochs": 3, "model": {"name": "conv_dae", "base_ch": 8},
                             "noise": {"levels": [0.1, 0.5]}, "data__root": "a b: c", "logging__mlflow": False})
    assert out == ["train.epochs=3", 'model.name="conv_dae"', "model.base_ch=8", "noise.levels=[0.1, 0.5]",
                   'data.root="a b: c"', "logging.mlflow=false"]
    assert [parse_override(o)[1] for o in out] == [3, "conv_dae", 8, [0.1, 0.5], "a b: c", False]
    with pytest.raises(ConfigError, match="train.lr: object is not a config value"):
        keyword_overrides({"train": {"lr": object()}})


def test_train_then_evaluate_from_python(tmp_path):
    out = tmp_path / "outputs"
    run = mnistmax.train("quick", TINY, train__epochs=1, logging={"output_dir": str(out)}, echo=lambda m: None)
    assert run.status == "completed" and run.epochs_completed == 1
    assert run.run_dir.parent == out / "runs"
    saved = (run.run_dir / "config.yaml").read_text()
    assert "epochs: 1" in saved and str(out) in saved  # what was configured is what ran
    assert json.loads((run.run_dir / "meta.json").read_text())["status"] == "completed"
    result = mnistmax.evaluate(run.run_dir)
    assert result.files[0].is_file() and result.rows
    assert 0 < result.rows[0]["psnr"] < 60


def test_a_key_the_run_does_not_use_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ConfigError, match="contrastive"):
        mnistmax.train("quick", contrastive__temperature=0.5, logging__output_dir=str(tmp_path / "o"))
    with pytest.raises(ConfigError, match="train.epochs"):
        mnistmax.train("quick", train__epochs="many", logging__output_dir=str(tmp_path / "o"))
    assert not (tmp_path / "o").exists()


def test_config_object_resume_and_missing_config():
    with pytest.raises(ConfigError, match="leave out --config and overrides"):
        mnistmax.train("quick", resume="somewhere")
    with pytest.raises(ConfigError, match="a RunConfig is used as it is"):
        mnistmax.train(tiny_config(), train__epochs=1)
    with pytest.raises(ConfigError, match="train needs --config"):
        mnistmax.train()
