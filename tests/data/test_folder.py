"""The folder source: class subfolders of pictures of any size, colour and polarity (dark ink on
light paper too), with or without train/ and test/; made digits once and cached outside the
data folder; bad layouts refused with one line."""

import json

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from mnistmax.data import folder as folder_source
from mnistmax.data.folder import load_folder
from mnistmax.data.sources import load_source
from mnistmax.errors import DataError
from tests.helpers import invoke, one_error_line


@pytest.fixture(autouse=True)
def cache_here(tmp_path, monkeypatch):
    monkeypatch.setenv("MNISTMAX_CACHE", str(tmp_path / "cache"))


def paper(digit: np.ndarray, size: int, rgb: bool = True) -> Image.Image:
    """A digit as dark ink on light paper, scaled up, in colour: a photographed-looking picture."""
    img = Image.fromarray(255 - digit).resize((size, size), Image.Resampling.BILINEAR)
    return img.convert("RGB") if rgb else img


def write_classes(root, embedded, classes=("a", "b", "c"), per_class=6, start=0):
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        picks = torch.nonzero(embedded.train_labels == k).flatten()[start:start + per_class]
        for i, idx in enumerate(picks.tolist()):
            size = 40 + 7 * i
            paper(embedded.train_images[idx].numpy(), size).save(root / name / f"{i}.{'png' if i % 2 else 'jpg'}")
    return root


def test_class_subfolders_give_labels_and_pictures_become_mnist_digits(tmp_path, embedded):
    root = write_classes(tmp_path / "mine", embedded)
    parts = load_folder(root)
    assert parts["classes"] == ["a", "b", "c"] and parts["test_images"] is None
    images, labels = parts["train_images"], parts["train_labels"]
    assert images.shape == (18, 28, 28) and images.dtype == torch.uint8 and labels.tolist() == sorted(labels.tolist())
    assert images[:, :3].float().mean() < 10 < images[:, 10:18, 10:18].float().mean()  # light ink on a dark border
    assert not any((tmp_path / "mine").rglob("*.npz"))  # nothing written into the user's folder


def test_train_and_test_subfolders_are_the_splits_and_the_second_run_reads_the_cache(tmp_path, embedded, monkeypatch):
    root = tmp_path / "mine"
    write_classes(root / "train", embedded)
    write_classes(root / "test", embedded, per_class=2, start=10)
    first = load_source("folder", root=root)
    assert first.sizes() == {"train": 18, "test": 6}
    decoded = []
    monkeypatch.setattr(folder_source, "read_image", lambda path: decoded.append(path))
    second = load_source("folder", root=root)
    assert decoded == [] and torch.equal(first.train_images, second.train_images)  # no picture decoded again
    (root / "train" / "a" / "0.jpg").write_bytes((root / "train" / "b" / "0.jpg").read_bytes())  # a changed file
    monkeypatch.undo()
    monkeypatch.setenv("MNISTMAX_CACHE", str(tmp_path / "cache"))
    third = load_source("folder", root=root)
    assert not torch.equal(first.train_images, third.train_images)


def test_resize_only_scales(tmp_path, embedded):
    root = write_classes(tmp_path / "mine", embedded, per_class=2)
    framed, scaled = load_folder(root)["train_images"], load_folder(root, "resize")["train_images"]
    assert scaled.shape == framed.shape and not torch.equal(scaled, framed)


@pytest.mark.parametrize("make, message", [
    (lambda root: None, "holds no pictures (.png"),
    (lambda root: ((root / "a").mkdir(), Image.new("L", (30, 30), 255).save(root / "a" / "x.png"),
                   Image.new("L", (30, 30)).save(root / "y.png")), "mixes pictures (y.png, ...) and class subfolders"),
    (lambda root: (root / "a").mkdir(), "(class 'a') holds no pictures"),
    (lambda root: ((root / "a").mkdir(), (root / "a" / "x.png").write_bytes(b"not a png")),
     "1 of 1 pictures could not be made digits; the first:"),
])
def test_bad_folders_are_one_line(tmp_path, make, message):
    root = tmp_path / "bad"
    root.mkdir()
    make(root)
    with pytest.raises(DataError) as info:
        load_folder(root)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_denoiser_trains_on_a_folder_of_pictures_from_the_cli(tmp_path, embedded):
    root = write_classes(tmp_path / "mine", embedded, classes=[str(k) for k in range(10)], per_class=5)
    base = ["data.source=folder", f"data.root={root}", "data.limit_train=null", "data.limit_test=null",
            "data.batch_size=16", "train.epochs=1", "model.base_ch=4", "viz.enabled=false", "noise.test_sigmas=[0.5]",
            "logging.progress=plain", f"logging.output_dir={tmp_path / 'out'}"]
    result = invoke("train", "-c", "quick", *base)
    assert result.exit_code == 0, result.output
    assert "picture folder" in result.output and "test 5" in result.output  # a stratified tenth held out as test
    assert "epoch 1/1  train/loss" in result.output
    bad = invoke("train", "-c", "quick", *base[:-1], "data.preprocess=crop", f"logging.output_dir={tmp_path / 'o2'}")
    assert bad.exit_code == 2 and "data.preprocess" in one_error_line(bad)


def test_a_classifier_on_named_class_folders_prints_the_class_names(tmp_path, embedded):
    root = write_classes(tmp_path / "mine", embedded, classes=("cat", "dog", "owl"), per_class=12)
    out = tmp_path / "out"
    result = invoke("train", "-c", "models/classifier", "data.source=folder", f"data.root={root}", "train.epochs=1",
                    "data.batch_size=8", "logging.progress=none", f"logging.output_dir={out}")
    assert result.exit_code == 0, result.output
    run = next((out / "runs").iterdir())
    saved = yaml.safe_load((run / "config.yaml").read_text())["data"]
    assert saved["num_classes"] == 3 and saved["class_names"] == ["cat", "dog", "owl"]
    picture = root / "dog" / "1.png"
    rows = json.loads(invoke("classify", run, picture, "--json").output)
    assert rows[0]["class"] == ["cat", "dog", "owl"][rows[0]["digit"]]
    table = invoke("classify", run, picture)
    assert table.exit_code == 0 and "predicted classes" in table.output and rows[0]["class"] in table.output
    named = invoke("train", "-c", "models/classifier", "data.source=folder", f"data.root={root}", "train.epochs=1",
                   "data.class_names=[a, b, c]", f"logging.output_dir={tmp_path / 'o2'}")
    assert named.exit_code == 2 and "differ from the class subfolders" in one_error_line(named)
