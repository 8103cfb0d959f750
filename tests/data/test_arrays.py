"""The npz source and pixel values from arrays: Keras' layout, named keys, float and channel
layouts, IDX pixels of other types scaled or refused; bad files refused with one line."""

import numpy as np
import pytest
import torch

from mnistmax.data.arrays import load_npz, to_pixels
from mnistmax.data.sources import load_source, write_idx
from mnistmax.errors import DataError
from tests.helpers import invoke, one_error_line


@pytest.fixture
def digits_uint8(embedded):
    return embedded.train_images[:60].numpy(), embedded.train_labels[:60].numpy()


def test_keras_layout_with_a_string_array_beside_it(tmp_path, digits_uint8):
    images, labels = digits_uint8
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=images[:40], y_train=labels[:40].astype(np.uint8), x_test=images[40:],
             y_test=labels[40:], notes=np.array(["not", "pixels"]))
    bundle = load_source("npz", root=path)
    assert bundle.sizes() == {"train": 40, "test": 20} and bundle.train_images.dtype == torch.uint8
    assert torch.equal(bundle.train_images, torch.from_numpy(images[:40]))
    assert bundle.test_labels.dtype == torch.int64 and bundle.test_labels.tolist() == labels[40:].tolist()


def test_named_keys_float_pixels_and_a_channel_axis(tmp_path, digits_uint8):
    images, labels = digits_uint8
    path = tmp_path / "mine.npz"
    np.savez(path, images=(images[:, None] / 255.0).astype(np.float32), digits=labels)
    parts = load_npz(path, {"train_images": "images", "train_labels": "digits"})
    assert parts["test_images"] is None
    assert torch.equal(parts["train_images"], torch.from_numpy(images))  # 0..1 floats scaled back exactly


@pytest.mark.parametrize("array, message", [
    (np.full((2, 28, 28), 1.5, np.float32), "float pixels must lie in [0, 1]"),
    (np.full((2, 28, 28), 300, np.int16), "int16 pixels in 300..300; expected 0..255"),
    (np.full((2, 28, 28), -1, np.int8), "expected 0..255"),
    (np.zeros((2, 32, 32), np.uint8), "expected (N, 28, 28) or (N, 1, 28, 28)"),
    (np.array([[["a"] * 28] * 28]), "values, not pixels"),
])
def test_pixels_that_are_not_pixels_are_refused(array, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
                       .replace("]", r"\]")):
        to_pixels(array, "x")


def test_idx_pixels_of_another_type_are_scaled_not_cast(tmp_path, digits_uint8):
    import struct

    images, labels = digits_uint8
    floats = (images / 255.0).astype(">f4")  # IDX type 0x0D
    raw = bytes([0, 0, 0x0D, 3]) + struct.pack(">3I", *floats.shape) + floats.tobytes()
    (tmp_path / "train-images-idx3-ubyte").write_bytes(raw)
    write_idx(tmp_path / "train-labels-idx1-ubyte", torch.from_numpy(labels.astype(np.uint8)))
    bundle = load_source("idx", root=tmp_path)
    assert torch.equal(bundle.train_images, torch.from_numpy(images))  # a cast to uint8 would make them all 0


@pytest.mark.parametrize("arrays, message", [
    ({"pictures": np.zeros((2, 28, 28), np.uint8)}, "holds no image array (x_train, x_test); it holds: pictures"),
    ({"x_train": np.zeros((2, 28, 28), np.uint8), "y_train": np.zeros(2, np.uint8), "x_test": np.zeros((1, 28, 28))},
     "has labels for its train images but none for its test images ('y_test')"),
    ({"x_train": np.zeros((2, 28, 28), np.uint8), "y_train": np.zeros(3, np.int64)}, "different numbers of items"),
    ({"x_train": np.zeros((2, 28, 28), np.uint8), "y_train": np.array([0, -1])}, "negative labels (from -1)"),
    ({"x_train": np.zeros((2, 28, 28), np.uint8), "y_train": np.array([0.0, 1.0])}, "labels are integers"),
])
def test_bad_npz_files_are_one_line(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_npz(path)


def test_not_an_npz_file(tmp_path):
    (tmp_path / "x.npz").write_text("hello")
    with pytest.raises(DataError, match="cannot read .* as an .npz file"):
        load_npz(tmp_path / "x.npz")


def test_a_denoiser_trains_on_an_npz_file_from_the_cli(tmp_path, digits_uint8):
    images, labels = digits_uint8
    path = tmp_path / "mine.npz"
    np.savez(path, x_train=np.concatenate([images] * 4), y_train=np.concatenate([labels] * 4), x_test=images[:20],
             y_test=labels[:20])
    base = ["data.source=npz", f"data.root={path}", "train.epochs=1", "model.base_ch=4", "viz.enabled=false",
            "logging.progress=none", f"logging.output_dir={tmp_path / 'out'}", "noise.test_sigmas=[0.5]"]
    result = invoke("train", "-c", "quick", *base)
    assert result.exit_code == 0, result.output
    assert "array file" in result.output and "train 216, val 24, test 20" in result.output
    bad = invoke("train", "-c", "quick", "data.keys={train_images: x, pixels: y}", *base)
    assert bad.exit_code == 2 and "data.keys.pixels: not an array of a split" in one_error_line(bad)
    unused = invoke("train", "-c", "quick", "data.keys={train_images: x}", "train.epochs=1")
    assert unused.exit_code == 2 and "data.keys.train_images: not used by task denoise (data.source is not npz)" in \
        one_error_line(unused)
