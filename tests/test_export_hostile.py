"""Hostile export folders (issue 33): a damaged model.json is one line naming the file and the key;
one model.json describes one checkpoint."""

from __future__ import annotations

import json
import shutil

import pytest

import mnistmax
from mnistmax.exported import ExportError, load_export, read_export
from mnistmax.tasks import build_task
from tests.helpers import fake_run, invoke, one_error_line, tiny_config


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile_export")
    cfg = tiny_config()
    run = fake_run(tmp, {"state_dict": build_task(cfg).state_dict()}, cfg=cfg)
    result = invoke("export", run, "--format", "safetensors")
    assert result.exit_code == 0, result.output
    return run / "export"


def damaged(tmp_path, exported, change):
    folder = tmp_path / "export"
    shutil.copytree(exported, folder)
    meta = json.loads((folder / "model.json").read_text())
    text = change(meta)
    (folder / "model.json").write_text(text if isinstance(text, str) else json.dumps(meta))
    return folder


@pytest.mark.parametrize("change, words", [
    (lambda m: m.pop("config"), "key 'config' (the run's config, an object) is missing"),
    (lambda m: m.update(config="quick"), "key 'config' (the run's config, an object) is a JSON str"),
    (lambda m: m.update(threshold="0.5"), "key 'threshold' is '0.5'"),
    (lambda m: m.update(threshold=7), "key 'threshold' is 7"),
    (lambda m: m.update(threshold=True), "key 'threshold' is True"),
    (lambda m: m.update(files=[1]), "key 'files' is a JSON list"),
    (lambda m: "[1, 2]", "holds a JSON list, not an object"),
    (lambda m: "{not json", "unreadable model.json"),
    (lambda m: "null", "holds a JSON NoneType"),
])
def test_a_damaged_model_json_is_one_line_naming_the_file_and_key(tmp_path, exported, change, words):
    folder = damaged(tmp_path, exported, change)
    with pytest.raises(ExportError, match="model.json") as exc:
        load_export(folder)
    assert words in str(exc.value) and "\n" not in str(exc.value)
    result = invoke("denoise", folder, exported.parent / "config.yaml", "-o", tmp_path / "out")  # any input
    assert result.exit_code == 2 and words in one_error_line(result)
    assert not (tmp_path / "out").exists()


def test_missing_weights_and_folder(tmp_path, exported):
    folder = damaged(tmp_path, exported, lambda m: None)
    (folder / "model.safetensors").unlink()
    with pytest.raises(ExportError, match="has no model.safetensors"):
        load_export(folder)
    with pytest.raises(ExportError, match="has no model.json"):
        read_export(tmp_path)


def test_a_good_threshold_loads_as_a_float(tmp_path, exported):
    folder = damaged(tmp_path, exported, lambda m: m.update(threshold=0.25))
    assert load_export(folder)[2] == 0.25
    assert mnistmax.load(folder) is not None


def test_formats_from_two_checkpoints_do_not_share_one_model_json(tmp_path):
    cfg = tiny_config()
    run = fake_run(tmp_path, {"state_dict": build_task(cfg).state_dict()}, cfg=cfg)
    shutil.copy(run / "checkpoints" / "best.ckpt", run / "checkpoints" / "last.ckpt")
    assert invoke("export", run, "--format", "onnx", "--checkpoint", "best").exit_code == 0
    mixed = invoke("export", run, "--format", "safetensors", "--checkpoint", "last")
    line = one_error_line(mixed)
    assert mixed.exit_code == 2 and "model.onnx exported from" in line and "--force" in line
    assert not (run / "export" / "model.safetensors").exists()
    assert json.loads((run / "export" / "model.json").read_text())["checkpoint"] == "best"
    forced = invoke("export", run, "--format", "safetensors", "--checkpoint", "last", "--force")
    assert forced.exit_code == 0, forced.output
    meta = json.loads((run / "export" / "model.json").read_text())
    assert meta["checkpoint"] == "last" and set(meta["files"]) == {"model.safetensors"}
    assert not (run / "export" / "model.onnx").exists()
    again = invoke("export", run, "--format", "onnx", "--checkpoint", "last")  # same checkpoint: formats add up
    assert again.exit_code == 0, again.output
    assert {"model.onnx", "model.safetensors"} <= set(json.loads((run / "export" / "model.json").read_text())["files"])
