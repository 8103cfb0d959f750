"""mnistmax.data.sources: IDX files, folders, the embedded digits and torchvision, all offline."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from mnistmax.data.sources import IDX_FILES, find_idx_folder, load_idx_folder, load_source, read_idx, write_idx
from mnistmax.errors import DataError


def fake_split(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8)
    labels = torch.arange(n) % 10
    return images, labels


def write_split(folder: Path, split: str, images, labels, suffix: str = "") -> None:
    write_idx(folder / (IDX_FILES[f"{split}_images"] + suffix), images)
    write_idx(folder / (IDX_FILES[f"{split}_labels"] + suffix), labels)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Any attempt to open a socket fails the test."""
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


# ---------------------------------------------------------------- IDX files


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_idx_roundtrip_images(tmp_path, name):
    images, _ = fake_split(7, seed=0)
    path = tmp_path / name
    write_idx(path, images)
    back = read_idx(path)
    assert back.dtype == torch.uint8 and back.shape == (7, 28, 28)
    assert torch.equal(back, images)


@pytest.mark.parametrize("name", ["labels-idx1-ubyte", "labels-idx1-ubyte.gz"])
def test_idx_roundtrip_labels(tmp_path, name):
    labels = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6])
    write_idx(tmp_path / name, labels)
    back = read_idx(tmp_path / name)
    assert back.shape == (8,)
    assert back.tolist() == labels.tolist()


def test_idx_header_layout(tmp_path):
    """write_idx writes the standard header: 0, 0, 0x08 (ubyte), ndim, then big-endian sizes."""
    images, _ = fake_split(3, seed=1)
    write_idx(tmp_path / "x", images)
    raw = (tmp_path / "x").read_bytes()
    assert raw[:4] == bytes([0, 0, 0x08, 3])
    assert struct.unpack(">3I", raw[4:16]) == (3, 28, 28)
    assert raw[16:] == images.numpy().tobytes()


def test_gz_file_is_really_gzipped(tmp_path):
    write_idx(tmp_path / "x.gz", torch.arange(10, dtype=torch.uint8))
    with gzip.open(tmp_path / "x.gz", "rb") as f:
        assert f.read()[:4] == bytes([0, 0, 0x08, 1])


def test_read_idx_big_endian_int32(tmp_path):
    """Non-ubyte IDX types (here 0x0C, big-endian int32) are decoded to native values."""
    values = np.array([[1, -2, 70000], [3, 4, -5]], dtype=">i4")
    (tmp_path / "x").write_bytes(bytes([0, 0, 0x0C, 2]) + struct.pack(">2I", 2, 3) + values.tobytes())
    back = read_idx(tmp_path / "x")
    assert back.dtype == torch.int32
    assert back.tolist() == [[1, -2, 70000], [3, 4, -5]]


def test_truncated_body_raises_data_error(tmp_path):
    images, _ = fake_split(4, seed=0)
    write_idx(tmp_path / "x", images)
    data = (tmp_path / "x").read_bytes()
    (tmp_path / "x").write_bytes(data[:-100])
    with pytest.raises(DataError, match="truncated"):
        read_idx(tmp_path / "x")


def test_truncated_gzip_raises_data_error(tmp_path):
    images, _ = fake_split(4, seed=0)
    write_idx(tmp_path / "x.gz", images)
    data = (tmp_path / "x.gz").read_bytes()
    (tmp_path / "x.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError):
        read_idx(tmp_path / "x.gz")


def test_truncated_header_raises_data_error(tmp_path):
    (tmp_path / "x").write_bytes(bytes([0, 0, 0x08, 3, 0, 0, 0]))
    with pytest.raises(DataError):
        read_idx(tmp_path / "x")


@pytest.mark.parametrize(
    "header",
    [b"\x01\x00\x08\x01", b"\x00\x01\x08\x01", b"\x00\x00\x42\x01", b"\x00\x00", b""],
    ids=["byte0", "byte1", "dtype", "short", "empty"],
)
def test_bad_magic_raises_data_error(tmp_path, header):
    (tmp_path / "x").write_bytes(header + struct.pack(">I", 3) + b"\x00\x01\x02")
    (tmp_path / "y").write_bytes(header)
    for name in ("x", "y"):
        with pytest.raises(DataError, match="magic"):
            read_idx(tmp_path / name)


def test_missing_file_raises_data_error(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        read_idx(tmp_path / "nope-idx3-ubyte")


# ---------------------------------------------------------------- folders


def test_load_idx_folder_both_splits(tmp_path):
    train, test = fake_split(30, seed=1), fake_split(12, seed=2)
    write_split(tmp_path, "train", *train)
    write_split(tmp_path, "test", *test)
    bundle = load_idx_folder(tmp_path)
    assert bundle.source == "idx"
    assert bundle.train_images.dtype == torch.uint8 and bundle.train_labels.dtype == torch.int64
    assert torch.equal(bundle.train_images, train[0]) and torch.equal(bundle.train_labels, train[1])
    assert torch.equal(bundle.test_images, test[0]) and torch.equal(bundle.test_labels, test[1])
    assert bundle.sizes() == {"train": 30, "test": 12}


def test_load_idx_folder_test_split_only(tmp_path):
    test = fake_split(12, seed=2)
    write_split(tmp_path, "test", *test)
    bundle = load_idx_folder(tmp_path)
    assert bundle.train_images is None and bundle.train_labels is None
    assert torch.equal(bundle.test_images, test[0]) and torch.equal(bundle.test_labels, test[1])
    assert bundle.sizes() == {"train": 0, "test": 12}


def test_load_idx_folder_gzipped(tmp_path):
    train, test = fake_split(20, seed=3), fake_split(10, seed=4)
    write_split(tmp_path, "train", *train, suffix=".gz")
    write_split(tmp_path, "test", *test, suffix=".gz")
    bundle = load_idx_folder(tmp_path)
    assert torch.equal(bundle.train_images, train[0]) and torch.equal(bundle.test_labels, test[1])


def test_load_idx_folder_finds_torchvision_layout(tmp_path):
    test = fake_split(10, seed=5)
    write_split(tmp_path / "MNIST" / "raw", "test", *test)
    assert find_idx_folder(tmp_path) == tmp_path / "MNIST" / "raw"
    assert torch.equal(load_idx_folder(tmp_path).test_images, test[0])


def test_load_idx_folder_dotted_names(tmp_path):
    """The `train-images.idx3-ubyte` spelling is found too."""
    images, labels = fake_split(10, seed=6)
    write_idx(tmp_path / "t10k-images.idx3-ubyte", images)
    write_idx(tmp_path / "t10k-labels.idx1-ubyte", labels)
    assert torch.equal(load_idx_folder(tmp_path).test_images, images)


def test_load_idx_folder_mismatched_counts(tmp_path):
    images, labels = fake_split(10, seed=6)
    write_split(tmp_path, "train", images, labels[:9])
    with pytest.raises(DataError, match="different numbers"):
        load_idx_folder(tmp_path)


def test_load_idx_folder_without_idx_files(tmp_path):
    (tmp_path / "readme.txt").write_text("no digits here")
    write_idx(tmp_path / IDX_FILES["train_images"], fake_split(3, 0)[0])  # images without labels
    with pytest.raises(DataError, match="no IDX files"):
        load_idx_folder(tmp_path)


def test_load_idx_folder_not_a_folder(tmp_path):
    with pytest.raises(DataError, match="not a folder"):
        load_idx_folder(tmp_path / "missing")


# ---------------------------------------------------------------- sources


def test_auto_picks_idx_when_files_exist(tmp_path):
    train, test = fake_split(20, seed=7), fake_split(10, seed=8)
    write_split(tmp_path, "train", *train)
    write_split(tmp_path, "test", *test)
    bundle = load_source("auto", "mnist", tmp_path)
    assert bundle.source == "idx"
    assert torch.equal(bundle.train_images, train[0])


def test_auto_falls_back_to_embedded(tmp_path, embedded):
    bundle = load_source("auto", "mnist", tmp_path)
    assert bundle.source == "embedded"
    assert bundle.sizes() == {"train": 5000, "test": 0}
    assert torch.equal(bundle.train_images, embedded.train_images)


def test_auto_without_local_copy_of_other_dataset(tmp_path):
    with pytest.raises(DataError, match="fashion_mnist"):
        load_source("auto", "fashion_mnist", tmp_path)


def test_embedded_only_holds_mnist(tmp_path):
    with pytest.raises(DataError, match="only holds mnist"):
        load_source("embedded", "kmnist", tmp_path)


def test_unknown_source(tmp_path):
    with pytest.raises(DataError, match="unknown data.source"):
        load_source("s3", "mnist", tmp_path)


def test_embedded_digits(embedded):
    assert embedded.source == "embedded"
    assert embedded.train_images.shape == (5000, 28, 28)
    assert embedded.train_images.dtype == torch.uint8
    assert embedded.train_labels.dtype == torch.int64
    assert embedded.test_images is None and embedded.test_labels is None
    assert torch.bincount(embedded.train_labels).tolist() == [500] * 10
    # Real digits: dark background with bright strokes using the full 0..255 range.
    assert embedded.train_images.max() == 255 and embedded.train_images.min() == 0
    border = torch.cat([embedded.train_images[:, 0], embedded.train_images[:, -1]], dim=1)
    assert border.float().mean() < 1.0
    ink = (embedded.train_images > 127).flatten(1).float().mean(dim=1)
    assert 0.05 < ink.mean() < 0.3


def test_torchvision_offline_reads_raw_files(tmp_path):
    train, test = fake_split(20, seed=9), fake_split(10, seed=10)
    raw = tmp_path / "MNIST" / "raw"
    write_split(raw, "train", *train)
    write_split(raw, "test", *test)
    bundle = load_source("torchvision", "mnist", tmp_path, download=False)
    assert bundle.source == "torchvision"
    assert bundle.train_images.dtype == torch.uint8 and bundle.train_labels.dtype == torch.int64
    assert torch.equal(bundle.train_images, train[0]) and torch.equal(bundle.train_labels, train[1])
    assert torch.equal(bundle.test_images, test[0]) and torch.equal(bundle.test_labels, test[1])


def test_torchvision_missing_without_download(tmp_path):
    with pytest.raises(DataError, match="data.download"):
        load_source("torchvision", "mnist", tmp_path, download=False)
