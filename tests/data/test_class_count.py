"""The class count comes from the data: IDX sets with 3 and 26 classes train a classifier with
that many outputs (recorded in config.yaml), evaluate, and load; a denoiser trains on them too."""

import json

import pytest
import torch
import yaml

import mnistmax
from mnistmax.data.sources import write_idx
from tests.helpers import TINY_ANY, invoke

SMALL = [*TINY_ANY, "data.limit_train=null", "data.limit_test=null", "train.epochs=1"]


def idx_set(folder, embedded, classes: int, per_class: int = 12):
    """A train and a test split whose labels are `classes` classes (embedded digits relabelled)."""
    n = classes * per_class
    labels = torch.arange(n) % classes
    write_idx(folder / "train-images-idx3-ubyte", embedded.train_images[:n])
    write_idx(folder / "train-labels-idx1-ubyte", labels.to(torch.uint8))
    write_idx(folder / "t10k-images-idx3-ubyte", embedded.train_images[n:2 * n])
    write_idx(folder / "t10k-labels-idx1-ubyte", labels.to(torch.uint8))
    return folder


@pytest.mark.parametrize("classes", [3, 26])
def test_a_classifier_has_as_many_outputs_as_the_data_has_classes(tmp_path, embedded, classes):
    folder = idx_set(tmp_path / "idx", embedded, classes)
    out = tmp_path / "out"
    result = invoke("train", "-c", "models/classifier", *SMALL, "data.source=idx", f"data.root={folder}",
                    f"logging.output_dir={out}")
    assert result.exit_code == 0, result.output
    assert f"model.num_classes: 10 -> {classes} (the classes of the data)" in result.output
    run = next((out / "runs").iterdir())
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["data"]["num_classes"] == classes and saved["model"]["num_classes"] == classes
    assert invoke("eval", run).exit_code == 0
    (row,) = json.loads((run / "eval" / "eval.json").read_text())
    assert row["n"] == classes * 12 and row["classes"] == classes and 0 <= row["accuracy"] <= 1
    assert row["accuracy_ci95_lo"] <= row["accuracy"] <= row["accuracy_ci95_hi"]  # its 95 % bootstrap interval
    model = mnistmax.load(run)
    assert model.classify(torch.rand(4, 1, 28, 28)).all.shape == (4, classes)


def test_a_denoiser_trains_on_26_classes_and_a_too_small_class_count_is_refused(tmp_path, embedded):
    folder = idx_set(tmp_path / "idx", embedded, 26, per_class=4)
    base = ["-c", "quick", *SMALL, "viz.enabled=false", "model.base_ch=4", "data.source=idx", f"data.root={folder}",
            f"logging.output_dir={tmp_path / 'out'}"]
    result = invoke("train", *base)
    assert result.exit_code == 0, result.output
    run = next((tmp_path / "out" / "runs").iterdir())
    assert yaml.safe_load((run / "config.yaml").read_text())["data"]["num_classes"] == 26
    refused = invoke("train", *base, "data.num_classes=10")
    assert refused.exit_code != 0 and "data.num_classes=10, but the labels go up to 25" in refused.output
