"""`mnistmax data stats`: the numbers match a hand computation on the embedded digits, split as
training splits them; unlabelled data has no class columns and says so; a bad source, a bad key or
a key that is not data is one line, exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mnistmax.data.datamodule import load_splits
from mnistmax.data.stats import INK, data_stats, default_folder
from mnistmax.tasks import load_config
from tests.helpers import assert_picture, invoke, one_error_line


@pytest.fixture(scope="module")
def embedded_stats():
    cfg = load_config(None, ["data.source=embedded"])
    return cfg, data_stats(cfg)


def test_the_numbers_match_a_hand_computation(embedded_stats, embedded):
    cfg, stats = embedded_stats
    splits = load_splits(cfg)
    assert stats.labelled and stats.classes == [str(d) for d in range(10)]
    for name in ("train", "val", "test"):
        images, labels = getattr(splits, name)
        s = stats.splits[name]
        assert s.images == len(images) and sum(s.class_counts) == len(images)
        assert s.class_counts == torch.bincount(labels, minlength=10).tolist()
        x = images.double() / 255
        assert s.mean == pytest.approx(float(x.mean()), abs=1e-9)
        assert s.std == pytest.approx(float(x.std(unbiased=False)), abs=1e-9)
        assert s.ink_fraction == pytest.approx(float((x > INK).double().mean()), abs=1e-12)
        for c in range(10):
            assert s.class_mean[c] == pytest.approx(float(x[labels == c].mean()), abs=1e-9)
    assert stats.splits["all"].images == 5000 and stats.splits["all"].class_counts == [500] * 10
    for c in range(10):  # the mean digit: every embedded image of the class, averaged
        hand = embedded.train_images[embedded.train_labels == c].double().mean(0) / 255
        assert torch.allclose(stats.mean_digits[c].double(), hand, atol=1e-6)


def test_the_command_prints_tables_and_writes_json_and_a_picture(tmp_path):
    result = invoke("data", "stats", "data.source=embedded", "data.limit_train=300", "--output-dir", tmp_path)
    assert result.exit_code == 0, result.output
    folder, text = tmp_path / "data-stats" / "embedded-mnist", " ".join(result.output.split())
    assert "class balance per split" in text and f"wrote {folder / 'stats.json'}" in text
    written = json.loads((folder / "stats.json").read_text())
    assert written["labelled"] and written["splits"]["train"]["images"] == 300
    assert sum(written["splits"]["train"]["class_counts"].values()) == 300
    assert set(written["splits"]) == {"train", "val", "test", "all"}
    assert_picture(folder / "stats.png", min_size=(400, 300))


def test_unlabelled_data_has_no_class_columns_and_says_so(tmp_path, embedded):
    x = embedded.train_images[:200].numpy()
    np.save(tmp_path / "mine.npy", x)
    result = invoke("data", "stats", "data.source=npz", f"data.root={tmp_path / 'mine.npy'}", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "unlabelled data: no class columns" in text and "class balance per split" not in text
    written = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert not written["labelled"] and written["classes"] is None
    assert all("class_counts" not in s for s in written["splits"].values())
    assert written["splits"]["all"]["images"] == 200
    assert written["splits"]["all"]["pixel_mean"] == pytest.approx(float(x.mean() / 255), abs=1e-9)
    assert_picture(tmp_path / "out" / "stats.png")


def test_the_default_folder_is_named_after_the_source(embedded_stats, tmp_path):
    _, stats = embedded_stats
    assert default_folder(stats, tmp_path, "data") == tmp_path / "data-stats" / "embedded-mnist"


@pytest.mark.parametrize("args, words", [
    (["data.source=nope"], "data.source"),
    (["data.source=npz", "data.root=/no/such/file.npz"], "/no/such/file.npz"),
    (["data.source=embedded", "model.name=conv_dae"], "data stats reads data.* keys and seed only"),
    (["data.source=embedded", "data.limit_train=0"], "data.limit_train"),
], ids=["unknown source", "missing file", "not a data key", "bad value"])
def test_a_bad_source_or_key_is_one_line_exit_2(tmp_path, args, words):
    result = invoke("data", "stats", *args, "--output-dir", tmp_path)
    assert result.exit_code == 2, result.output
    assert words in one_error_line(result)
    assert not (tmp_path / "data-stats").exists()


def test_a_file_name_for_the_output_folder_is_refused(tmp_path):
    result = invoke("data", "stats", "data.source=embedded", "-o", tmp_path / "stats.png")
    assert result.exit_code == 2 and "-o/--output is a folder" in one_error_line(result)
