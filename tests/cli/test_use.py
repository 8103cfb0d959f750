"""mnistmax denoise / classify / embed / sample on a user's files."""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import mnistmax
from mnistmax.data.sources import load_embedded, read_idx, write_idx
from mnistmax.tasks import build_task, load_config
from tests.helpers import ROOT, TINY, TINY_ANY, assert_picture, fake_run, invoke, one_error_line


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("use")
    result = invoke("train", "-c", "configs/quick.yaml", *TINY, "train.epochs=3", "viz.enabled=false",
                    f"logging.output_dir={out}")
    assert result.exit_code == 0, result.output
    return next((out / "runs").iterdir())


@pytest.fixture(scope="module")
def digits():
    return load_embedded().train_images[:8].numpy()


def noisy(d: np.ndarray, sigma=0.4, seed=0) -> np.ndarray:
    return np.clip(d / 255 + np.random.default_rng(seed).normal(0, sigma, d.shape), 0, 1).astype(np.float32)


def untrained(tmp_path, recipe: str):
    cfg = load_config(ROOT / "configs" / recipe, TINY_ANY)
    return fake_run(tmp_path, {"state_dict": build_task(cfg).state_dict()}, cfg=cfg)


def test_denoise_a_folder_of_pngs_with_a_comparison(trained, digits, tmp_path):
    inputs = tmp_path / "mine"
    inputs.mkdir()
    for i in range(3):  # as a user draws them: larger, dark on light, noisy
        page = np.kron(noisy(digits[i], 0.25, i), np.ones((3, 3), np.float32))
        Image.fromarray(np.round((1 - page) * 255).astype(np.uint8)).save(inputs / f"d{i}.png")
    out = tmp_path / "out"
    result = invoke("denoise", trained, inputs, "-o", out, "--compare")
    assert result.exit_code == 0, result.output
    for i in range(3):
        with Image.open(out / f"d{i}.png") as im:
            assert im.size == (28, 28) and im.mode == "L"
    assert_picture(out / "compare.png")
    # a second run into the same folder refuses to overwrite; --force does it
    again = invoke("denoise", trained, inputs, "-o", out)
    assert again.exit_code == 2 and "exists" in one_error_line(again)
    assert invoke("denoise", trained, inputs, "-o", out, "--force").exit_code == 0


def test_denoise_and_classify_one_picture_file(trained, digits, tmp_path):
    """One picture alone (a batch of one stacked image file) comes back as one 28x28 picture."""
    Image.fromarray(255 - digits[0]).resize((84, 84)).convert("RGBA").save(tmp_path / "my-digit.png")
    result = invoke("denoise", trained, tmp_path / "my-digit.png", "-o", tmp_path / "out", "--compare")
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "out" / "my-digit.png") as im:
        assert im.size == (28, 28) and im.mode == "L"


def test_denoise_arrays_come_back_as_the_same_kind(trained, digits, tmp_path):
    x = noisy(digits)
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "x.npz", a=x, b=np.round(x[:2] * 255).astype(np.uint8))
    write_idx(tmp_path / "x-idx3-ubyte.gz", torch.from_numpy(np.round(x * 255).astype(np.uint8)))
    out = tmp_path / "out"
    result = invoke("denoise", trained, tmp_path / "x.npy", tmp_path / "x.npz", tmp_path / "x-idx3-ubyte.gz", "-o", out)
    assert result.exit_code == 0, result.output
    y = np.load(out / "x.npy")
    assert y.shape == x.shape and y.dtype == np.float32
    assert np.allclose(y, mnistmax.load(trained).denoise(x), atol=1e-6)  # what the Python API gives
    with np.load(out / "x.npz") as z:
        assert z["a"].shape == (8, 28, 28) and z["b"].dtype == np.uint8 and z["b"].shape == (2, 28, 28)
    with gzip.open(out / "x-idx3-ubyte.gz") as f:
        assert f.read(4) == bytes([0, 0, 8, 3])
    assert read_idx(out / "x-idx3-ubyte.gz").shape == (8, 28, 28)


def test_no_preprocess_needs_28x28(trained, digits, tmp_path):
    Image.fromarray(np.kron(digits[0], np.ones((2, 2), np.uint8))).save(tmp_path / "big.png")
    result = invoke("denoise", trained, tmp_path / "big.png", "-o", tmp_path / "out", "--no-preprocess")
    assert result.exit_code == 2 and "must be 28x28" in one_error_line(result)
    assert not (tmp_path / "out").exists()  # nothing half-written


def written(path: Path, content) -> Path:
    if isinstance(content, np.ndarray):
        np.save(path, content)
    else:
        path.write_bytes(content)
    return path


@pytest.mark.parametrize("make, message", [
    (lambda p: written(p / "empty.png", b""), "empty file"),
    (lambda p: written(p / "text.png", b"hello"), "not an image file"),
    (lambda p: written(p / "nan.npy", np.full((2, 28, 28), np.nan, np.float32)), "NaN"),
    (lambda p: written(p / "shape.npy", np.zeros((2, 30, 28), np.uint8)), "expected"),
    (lambda p: written(p / "bad-idx3-ubyte", b"\x01\x02\x03\x04"), "not an IDX"),
    (lambda p: p / "missing.png", "no such file"),
])
def test_bad_inputs_are_one_line_and_exit_2(trained, tmp_path, make, message):
    path = make(tmp_path)
    result = invoke("denoise", trained, path, "-o", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert message in one_error_line(result)


def test_a_run_of_the_wrong_task_is_refused(trained, digits, tmp_path):
    np.save(tmp_path / "x.npy", digits)
    result = invoke("classify", trained, tmp_path / "x.npy")
    assert result.exit_code == 2 and "needs a model whose task can classify" in one_error_line(result)
    result = invoke("denoise", tmp_path / "no-run", tmp_path / "x.npy", "-o", tmp_path / "o")
    assert result.exit_code != 0 and "not found" in one_error_line(result)


def test_classify_prints_digits_and_json(tmp_path, digits):
    run = untrained(tmp_path, "models/classifier.yaml")
    np.save(tmp_path / "x.npy", digits[:3])
    result = invoke("classify", run, tmp_path / "x.npy", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["input"] for r in rows] == ["x.npy[0]", "x.npy[1]", "x.npy[2]"]
    assert all(0 <= r["digit"] <= 9 and 0.1 <= r["probability"] <= 1 for r in rows)
    table = invoke("classify", run, tmp_path / "x.npy")
    assert table.exit_code == 0 and "x.npy[2]" in table.output


def test_embed_your_images_and_the_splits(tmp_path, digits):
    run = untrained(tmp_path, "models/simclr.yaml")
    np.save(tmp_path / "x.npy", digits)
    result = invoke("embed", run, tmp_path / "x.npy", "-o", tmp_path / "mine.npz")
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "mine.npz") as z:
        assert z["embeddings"].shape == (8, 128) and list(z["names"][:2]) == ["x.npy[0]", "x.npy[1]"]
    splits = invoke("embed", run, "-o", tmp_path / "splits.npz")
    assert splits.exit_code == 0, splits.output
    with np.load(tmp_path / "splits.npz") as z:
        assert {"embeddings", "labels", "split"} <= set(z.files)


def test_sample_writes_a_grid_or_an_array(tmp_path):
    run = untrained(tmp_path, "models/vae.yaml")
    result = invoke("sample", run, "-n", 16, "-o", tmp_path / "grid.png")
    assert result.exit_code == 0, result.output
    assert_picture(tmp_path / "grid.png")
    assert invoke("sample", run, "-n", 5, "-o", tmp_path / "s.npy").exit_code == 0
    s = np.load(tmp_path / "s.npy")
    assert s.shape == (5, 28, 28) and s.dtype == np.uint8


@pytest.mark.parametrize("command", ["classify", "denoise", "embed"])
def test_a_bad_input_is_refused_before_a_zoo_entry_is_unpacked(tmp_path, command):
    """Nothing is written for an input that cannot be read: not even the zoo entry's run directory."""
    (tmp_path / "bad.png").write_bytes(b"not a picture")
    extra = {"classify": [], "denoise": ["-o", tmp_path / "clean"], "embed": ["-o", tmp_path / "z.npz"]}[command]
    result = invoke(command, "zoo:mnist-unet", tmp_path / "bad.png", *extra, "--output-dir", tmp_path / "out")
    line = one_error_line(result)
    assert result.exit_code == 2 and "bad.png" in line
    assert not (tmp_path / "out").exists() and not (tmp_path / "clean").exists()
