"""Hostile arrays and IDX files (issue 33): every one refused in one line naming the file (and the
key), before anything large is allocated; nothing written."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch

from mnistmax.data.arrays import INFLATED_ENV, load_npz, max_inflated_bytes, npz_headers
from mnistmax.data.inputs import ImageError
from mnistmax.data.sources import idx_bytes, read_idx
from mnistmax.errors import DataError
from mnistmax.tasks import build_task
from mnistmax.userfiles import read_input
from tests.helpers import fake_run, invoke, one_error_line, tiny_config

X = np.zeros((3, 28, 28), np.uint8)


def header(dtype: int, *dims: int) -> bytes:
    return bytes([0, 0, dtype, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


# ---------------------------------------------------------------- IDX


def test_dims_whose_product_overflows_int64_are_refused_before_allocating(tmp_path):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(header(0x08, 2**32 - 1, 2**32 - 1, 2**32 - 1) + b"\0" * 64)  # product > 2**64
    with pytest.raises(DataError, match="is truncated: header says") as exc:
        read_idx(path)
    assert str(path) in str(exc.value)
    path.write_bytes(header(0x0E, 2**31, 2**31, 4) + b"\0" * 64)  # int64 product * 8 wraps to 0
    with pytest.raises(DataError, match="truncated"):
        read_idx(path)


def test_a_gzip_bomb_is_refused_by_its_declared_size(tmp_path, monkeypatch):
    monkeypatch.setenv(INFLATED_ENV, str(1_000_000))
    path = tmp_path / "bomb-idx3-ubyte.gz"
    with gzip.open(path, "wb") as f:  # declares 2 000 x 28 x 28 = 1.5 MB: over the lowered cap
        f.write(header(0x08, 2000, 28, 28))
        f.write(b"\0" * (2000 * 28 * 28))
    with pytest.raises(DataError, match=f"more than the 1000000-byte cap.*{INFLATED_ENV}"):
        read_idx(path)


def test_a_gzip_file_inflating_past_its_header_stops_there(tmp_path):
    path = tmp_path / "long-idx3-ubyte.gz"
    with gzip.open(path, "wb") as f:  # declares 2 images, then inflates to 20 MB of zeros
        f.write(header(0x08, 2, 28, 28))
        chunk = b"\0" * 1_000_000
        for _ in range(20):
            f.write(chunk)
    with pytest.raises(DataError, match="more data than its header declares"):
        read_idx(path)


def test_truncated_gzip_and_good_files_still_read(tmp_path):
    good = tmp_path / "good-idx3-ubyte.gz"
    with gzip.open(good, "wb") as f:
        f.write(idx_bytes(X + 7))
    assert torch.equal(read_idx(good), torch.from_numpy(X + 7))
    plain = tmp_path / "good-idx3-ubyte"
    plain.write_bytes(idx_bytes(X))
    assert read_idx(plain).shape == (3, 28, 28)
    short = tmp_path / "short-idx3-ubyte.gz"
    with gzip.open(short, "wb") as f:
        f.write(header(0x08, 3, 28, 28) + b"\0" * 100)
    with pytest.raises(DataError, match="is truncated: header says"):
        read_idx(short)
    broken = tmp_path / "broken-idx3-ubyte.gz"
    broken.write_bytes(good.read_bytes()[:30])
    with pytest.raises(DataError, match="cannot read IDX file"):
        read_idx(broken)


def test_the_cap_env_var_is_checked(monkeypatch):
    monkeypatch.setenv(INFLATED_ENV, "lots")
    with pytest.raises(DataError, match=INFLATED_ENV):
        max_inflated_bytes()
    monkeypatch.delenv(INFLATED_ENV)
    assert max_inflated_bytes() == 2 * 1024**3


# ---------------------------------------------------------------- npz / npy


def test_object_arrays_are_refused_naming_the_key(tmp_path):
    path = tmp_path / "o.npz"
    np.savez(path, x_train=X, meta=np.array([1, "a"], dtype=object))
    with pytest.raises(DataError, match=r"o.npz\[meta\] is an object array"):
        npz_headers(path)
    with pytest.raises(ImageError, match=r"\[meta\] is an object array"):
        read_input(path)
    npy = tmp_path / "o.npy"
    np.save(npy, np.array([1, "a"], dtype=object), allow_pickle=True)
    with pytest.raises(ImageError, match="o.npy is an object array"):
        read_input(npy)


def test_string_arrays_are_refused_or_ignored(tmp_path):
    path = tmp_path / "s.npz"
    np.savez(path, images=X, names=np.array(["a", "b", "c"]))
    with pytest.raises(ImageError, match=r"s.npz\[names\] holds <U1 values, not images"):
        read_input(path)
    assert load_npz(path, {"train_images": "images"})["train_images"].shape == (3, 28, 28)  # chosen by name
    np.savez(path, x_train=np.array(["a"]))
    with pytest.raises(DataError, match=r"\[x_train\] holds <U1 values"):
        load_npz(path)


def test_keras_mnist_npz_as_input_pictures_skips_its_labels(tmp_path):
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=X, y_train=np.arange(3), x_test=X[:2], y_test=np.arange(2))
    item = read_input(path)
    assert sorted(item.arrays) == ["x_test", "x_train"] and item.count() == 5
    only = tmp_path / "labels.npz"
    np.savez(only, y=np.arange(3))
    with pytest.raises(ImageError, match=r"labels.npz\[y\] has shape \(3,\), not images"):
        read_input(only)


def test_an_npz_member_declaring_more_than_it_holds_or_the_cap(tmp_path, monkeypatch):
    big = tmp_path / "big.npz"
    np.savez_compressed(big, x_train=np.zeros((2000, 28, 28), np.uint8))  # 1.5 MB inflated, a few KB on disk
    monkeypatch.setenv(INFLATED_ENV, "1000000")
    with pytest.raises(DataError, match=rf"big.npz\[x_train\]: the arrays declare 1568000 bytes.*{INFLATED_ENV}"):
        load_npz(big)
    with pytest.raises(ImageError, match="1000000-byte cap"):
        read_input(big)
    monkeypatch.delenv(INFLATED_ENV)
    npy = tmp_path / "lie.npy"
    np.save(npy, X)
    raw = npy.read_bytes()
    npy.write_bytes(raw.replace(b"(3, 28, 28)", b"(9, 28, 28)"))  # the header declares more than the file holds
    lie = r"lie.npy declares shape \(9, 28, 28\) of uint8 \(7056 bytes\) but holds 2352"
    with pytest.raises(ImageError, match=lie):
        read_input(npy)


def test_the_cli_refuses_in_one_line_and_writes_nothing(tmp_path):
    cfg = tiny_config()
    run = fake_run(tmp_path, {"state_dict": build_task(cfg).state_dict()}, cfg=cfg)
    cases = {"s.npz": dict(images=X, names=np.array(["a", "b", "c"])),
             "o.npz": dict(images=X, meta=np.array([1, "a"], dtype=object))}
    for name, arrays in cases.items():
        np.savez(tmp_path / name, **arrays)
        out = tmp_path / f"out_{name[0]}"
        result = invoke("denoise", run, tmp_path / name, "-o", out)
        assert result.exit_code == 2 and name in one_error_line(result)
        assert not out.exists() or not any(out.iterdir())
    bomb = tmp_path / "bomb-idx3-ubyte"
    bomb.write_bytes(header(0x08, 2**32 - 1, 2**32 - 1, 2**32 - 1))
    result = invoke("denoise", run, bomb, "-o", tmp_path / "out_b")
    assert result.exit_code == 2 and "bomb-idx3-ubyte" in one_error_line(result)
