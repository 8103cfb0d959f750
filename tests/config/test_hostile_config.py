"""Configs that would loop, divide by zero or change a trained model under eval: one line each."""

import pytest

from mnistmax.config import parse_override
from mnistmax.errors import ConfigError
from mnistmax.tasks import load_config
from tests.helpers import fake_run, invoke, one_error_line, real_checkpoint_bytes


def test_a_mapping_that_contains_itself_is_one_line_in_a_file_and_an_override(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("extends: quick\ntrain: &t {lr: 0.001, x: *t}\n")
    result = invoke("config", "show", "-c", path)
    assert result.exit_code == 2 and "train.x contains itself" in one_error_line(result)
    with pytest.raises(ConfigError, match="contains itself"):
        parse_override("train=&t {lr: 0.001, x: *t}")
    result = invoke("train", "-c", "quick", "noise=&n [1, *n]")
    assert result.exit_code == 2 and "contains itself" in one_error_line(result)


def test_shared_aliases_that_do_not_loop_are_fine(tmp_path):
    path = tmp_path / "shared.yaml"
    path.write_text("extends: quick\ntrain: &t {lr: 0.001}\neval: {batch_size: 64}\n")
    assert load_config(path).train.lr == 0.001
    assert parse_override("noise.test_sigmas=[0.1, 0.5]")[1] == [0.1, 0.5]


@pytest.mark.parametrize("override, message", [
    ("augment.scale=[0, 0]", "0 < low <= high <= 4"),
    ("augment.scale=[1.2, 0.8]", "0 < low <= high <= 4"),
    ("augment.brightness=[0.5, 1.5]", "0 <= low <= high <= 1"),
])
def test_augmentation_ranges_that_cannot_work_are_refused(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("quick", ["augment.enabled=true", override])


def test_eval_takes_data_noise_and_eval_keys_only(tmp_path):
    run = fake_run(tmp_path, real_checkpoint_bytes(tmp_path))
    for key in ("model.name=attention_dae", "train.epochs=3", "seed=1"):
        result = invoke("eval", run, key)
        line = one_error_line(result)
        assert result.exit_code == 2 and "evaluated under data, noise, eval keys only" in line, line
    assert not (run / "eval").exists()


@pytest.mark.parametrize("override, message", [
    ("train.accelerator=mps", "MPSAccelerator"),
    ("train.strategy=deepspeed", "DeepSpeed"),
    ("train.strategy=no_such_strategy", "no_such_strategy"),
])
def test_trainer_settings_the_machine_cannot_honour_are_refused_before_a_run_directory(tmp_path, override,
                                                                                       message):
    result = invoke("train", "-c", "quick", override, "train.epochs=1", "--output-dir", tmp_path / "out")
    line = one_error_line(result)
    assert result.exit_code == 2 and message in line, line
    assert not (tmp_path / "out").exists()


def test_an_os_error_is_one_line_naming_the_path(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = invoke("train", "-c", "quick", "train.epochs=1", "--output-dir", blocker / "out")
    line = one_error_line(result)
    assert result.exit_code == 1 and str(blocker) in line and "Not a directory" in line, line
