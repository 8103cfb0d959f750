"""Unlabelled data: a flat folder of pictures, npz image arrays without label arrays and a lone
.npy array train the tasks that need no labels (denoise, autoencoder, VAE, SimCLR) and evaluate
what can be scored without labels; the tasks that need labels refuse in one line, exit 2, before
any run directory exists; mixed labelled and unlabelled layouts are refused."""

import json

import numpy as np
import pytest
import torch
import yaml

from mnistmax.data.arrays import UNLABELLED, load_npz
from mnistmax.data.folder import load_folder
from mnistmax.data.sources import load_source
from mnistmax.errors import DataError
from tests.data.test_folder import paper, write_classes
from tests.helpers import TINY_ANY, invoke, one_error_line

SMALL = [*TINY_ANY, "data.limit_train=null", "data.limit_test=null", "train.epochs=1", "data.batch_size=16"]


@pytest.fixture(autouse=True)
def cache_here(tmp_path, monkeypatch):
    monkeypatch.setenv("MNISTMAX_CACHE", str(tmp_path / "cache"))


def flat_folder(root, embedded, n=60):
    root.mkdir(parents=True)
    for i in range(n):
        paper(embedded.train_images[i].numpy(), 36 + i % 20).save(root / f"{i:03d}.{'png' if i % 3 else 'jpg'}")
    return root


def test_a_flat_folder_is_unlabelled_data(tmp_path, embedded):
    parts = load_folder(flat_folder(tmp_path / "flat", embedded, 12))
    assert parts["classes"] is None and parts["train_images"].shape == (12, 28, 28)
    assert parts["train_labels"].tolist() == [UNLABELLED] * 12
    bundle = load_source("folder", root=tmp_path / "flat")
    assert not bundle.labelled and "unlabelled" in bundle.description


def test_npz_images_without_labels_and_a_lone_npy_are_unlabelled(tmp_path, embedded):
    x = embedded.train_images[:30].numpy()
    np.savez(tmp_path / "x.npz", x_train=x, x_test=x[:10])
    parts = load_npz(tmp_path / "x.npz")
    assert parts["train_labels"].tolist() == [UNLABELLED] * 30 and parts["test_images"].shape == (10, 28, 28)
    np.save(tmp_path / "x.npy", (x[:, None] / 255.0).astype(np.float32))  # (N, 1, 28, 28) floats in [0, 1]
    bundle = load_source("npz", root=tmp_path / "x.npy")
    assert not bundle.labelled and torch.equal(bundle.train_images, torch.from_numpy(x))
    np.savez(tmp_path / "mixed.npz", x_train=x, y_train=np.zeros(30, np.uint8), x_test=x[:10])
    with pytest.raises(DataError, match="labels for its train images but none for its test images .'y_test'."):
        load_npz(tmp_path / "mixed.npz")


def test_a_folder_mixing_labelled_and_unlabelled_splits_is_refused(tmp_path, embedded):
    write_classes(tmp_path / "mine" / "train", embedded)
    flat_folder(tmp_path / "mine" / "test", embedded, 6)
    with pytest.raises(DataError, match="test/ is a flat folder of pictures .unlabelled. but train/ has class sub"):
        load_folder(tmp_path / "mine")


@pytest.mark.parametrize("config, extra, scored", [
    ("quick", ["model.base_ch=4", "noise.test_sigmas=[0.5]", "viz.enabled=false"], "psnr"),
    ("models/conv_ae", [], "mse"),
    ("models/vae", ["vae.iw_samples=2"], "elbo"),
    ("models/simclr", ["viz.enabled=false"], "silhouette"),
])
def test_tasks_that_need_no_labels_train_and_evaluate_on_a_flat_folder(tmp_path, embedded, config, extra, scored):
    root = flat_folder(tmp_path / "flat", embedded)
    out = tmp_path / "out"
    result = invoke("train", "-c", config, *SMALL, *extra, "data.source=folder", f"data.root={root}",
                    f"logging.output_dir={out}")
    assert result.exit_code == 0, result.output
    assert "unlabelled" in result.output and "epoch 1/1" in result.output
    run = next((out / "runs").iterdir())
    assert yaml.safe_load((run / "config.yaml").read_text())["data"]["num_classes"] == 0
    evaluated = invoke("eval", run)
    assert evaluated.exit_code == 0, evaluated.output
    rows = json.loads(next((run / "eval").glob("*.json")).read_text())
    assert any(scored in json.dumps(row) for row in rows)
    if scored == "silhouette":  # an encoder says what it could not score without labels
        assert "skipped linear probe, kNN" in evaluated.output and "linear_probe" not in rows[0]
        assert -1 <= rows[0]["silhouette"] <= 1


@pytest.mark.parametrize("config, extra, reason", [
    ("models/classifier", [], "a classifier learns the labels"),
    ("models/supcon", [], "contrastive.loss=supcon takes its positives from the labels"),
    ("models/triplet", [], "contrastive.loss=triplet takes its positives from the labels"),
])
def test_tasks_that_need_labels_refuse_unlabelled_data_before_making_a_run(tmp_path, embedded, config, extra, reason):
    root = flat_folder(tmp_path / "flat", embedded, 20)
    out = tmp_path / "out"
    result = invoke("train", "-c", config, *SMALL, *extra, "data.source=folder", f"data.root={root}",
                    f"logging.output_dir={out}")
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "needs labelled data" in line and reason in line and "has no labels" in line
    assert not (out / "runs").exists() or not any((out / "runs").iterdir())
