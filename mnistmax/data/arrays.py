"""Arrays as digits: pixel values made uint8 (0-255) from whatever the file holds, or refused
with one line; image and label arrays checked against each other; and the `npz` source
(Keras' mnist.npz layout, `x_train` / `y_train` / `x_test` / `y_test`, or keys named by
`data.keys`; image arrays without label arrays, or a single .npy array of images, are
unlabelled data).

Unlabelled data carries the label UNLABELLED (-1) for every image, so splits, batches and
folds need no second code path; what needs labels asks `is_labelled` first."""

from __future__ import annotations

import math
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from mnistmax.errors import DataError

UNLABELLED = -1  # the label of every image of unlabelled data
NPZ_KEYS = {"train_images": "x_train", "train_labels": "y_train", "test_images": "x_test", "test_labels": "y_test"}


def to_pixels(array, where: str) -> torch.Tensor:
    """(N, 28, 28) uint8 from uint8, integers in 0..255, or floats in [0, 1] (scaled by 255 and
    rounded); (N, 1, 28, 28) loses its channel axis. Anything else: a DataError naming `where`."""
    a = array.numpy() if isinstance(array, torch.Tensor) else np.asarray(array)
    if a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 3 or a.shape[1:] != (28, 28):
        raise DataError(f"{where} holds images of shape {tuple(np.shape(array))}; expected (N, 28, 28) or "
                        "(N, 1, 28, 28)")
    if a.dtype == np.uint8:
        return torch.from_numpy(np.ascontiguousarray(a))
    if a.dtype.kind in "iu":
        low, high = (int(a.min()), int(a.max())) if a.size else (0, 0)
        if low < 0 or high > 255:
            raise DataError(f"{where} holds {a.dtype} pixels in {low}..{high}; expected 0..255 (or floats in [0, 1])")
        return torch.from_numpy(a.astype(np.uint8))
    if a.dtype.kind == "f":
        if a.size and not np.isfinite(a).all():
            raise DataError(f"{where} holds NaN or infinite pixels")
        low, high = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        if low < 0 or high > 1:
            raise DataError(f"{where} holds {a.dtype} pixels in [{low:g}, {high:g}]; float pixels must lie in [0, 1] "
                            "(integers in 0..255)")
        return torch.from_numpy(np.rint(a.astype(np.float64) * 255).astype(np.uint8))
    raise DataError(f"{where} holds {a.dtype} values, not pixels (uint8 0..255, or floats in [0, 1])")


MAX_INFLATED_BYTES = 2 * 1024**3  # what a compressed file (.gz IDX, .npz member) may inflate to, unless raised
INFLATED_ENV = "MNISTMAX_MAX_INFLATED_BYTES"


def max_inflated_bytes() -> int:
    """The most bytes a compressed file may declare or inflate to: 2 GiB, or $MNISTMAX_MAX_INFLATED_BYTES."""
    import os

    raw = os.environ.get(INFLATED_ENV, "").strip()
    if not raw:
        return MAX_INFLATED_BYTES
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise DataError(f"{INFLATED_ENV}={raw!r}: give a positive number of bytes")
    return value


MAX_NPY_HEADER = 10_000  # numpy's own limit on an .npy header (np.load's max_header_size)


def npy_header(f, where: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, declared bytes) from the .npy header at `f`'s position, read without loading the
    array; object arrays (pickles) and negative sizes are refused with one line naming `where`."""
    import io
    import tokenize

    from numpy.lib import format as npformat

    prefix = f.read(8)  # magic and version; then the header's length (2 bytes in version 1, else 4)
    length = f.read(2 if prefix[6:7] == b"\x01" else 4) if len(prefix) == 8 else b""
    declared = int.from_bytes(length, "little")
    if declared > MAX_NPY_HEADER:  # numpy reads a header whole before checking its length: not this one
        raise ValueError(f"its header declares {declared} bytes, more than the {MAX_NPY_HEADER} numpy reads")
    head = io.BytesIO(prefix + length + f.read(declared))
    try:
        version = npformat.read_magic(head)
        read = npformat.read_array_header_1_0 if version == (1, 0) else npformat.read_array_header_2_0
        shape, _, dtype = read(head)
    except tokenize.TokenError as exc:  # numpy's header filter tokenizes an unbalanced header
        raise ValueError(f"malformed header ({exc.args[0]})") from None
    if dtype.hasobject:
        raise DataError(f"{where} is an object array ({dtype}); only numeric arrays are read "
                        "(object arrays would need pickle, which is never loaded)")
    if any(d < 0 for d in shape):
        raise DataError(f"{where} declares shape {tuple(shape)}: sizes cannot be negative (a corrupt header)")
    return tuple(shape), dtype, math.prod(shape) * dtype.itemsize  # Python ints: no overflow


def unreadable(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


# what zipfile and numpy raise for a damaged archive or member: a bad CRC, an unknown compression
# method (NotImplementedError) or an encrypted member (RuntimeError), corrupt deflate data (zlib.error)
ZIP_ERRORS = (OSError, ValueError, zipfile.BadZipFile, EOFError, RuntimeError, NotImplementedError, zlib.error,
               OverflowError, struct.error)


def npz_headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """{key: (shape, dtype)} of every array in an .npz, read from the members' .npy headers without
    loading any array. Object arrays, a member smaller than its header declares, or arrays that
    together declare more than max_inflated_bytes() are refused with one line naming the key."""
    cap, total, out = max_inflated_bytes(), 0, {}
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                key = info.filename.removesuffix(".npy")
                with z.open(info) as f:
                    shape, dtype, size = npy_header(f, f"{path}[{key}]")
                    start = f.tell()
                if size > info.file_size - start:
                    raise DataError(f"{path}[{key}] declares shape {shape} of {dtype} ({size} bytes) but its member "
                                    f"holds {info.file_size - start} bytes: truncated or corrupt")
                total += size
                if total > cap:
                    raise DataError(f"{path}[{key}]: the arrays declare {total} bytes, more than the {cap}-byte cap "
                                    f"on what is loaded (raise it with {INFLATED_ENV})")
                out[key] = (shape, dtype)
    except ZIP_ERRORS as exc:
        raise DataError(f"cannot read {path} as an .npz file of arrays ({unreadable(exc)})") from None
    return out


def unlabelled(n: int) -> torch.Tensor:
    """The labels of n unlabelled images."""
    return torch.full((n,), UNLABELLED, dtype=torch.long)


def is_labelled(labels: torch.Tensor) -> bool:
    """Whether these labels are real classes (an empty set counts as labelled: nothing is missing)."""
    return len(labels) == 0 or int(labels.min()) != UNLABELLED


def check_pair(images: torch.Tensor, labels: torch.Tensor, images_at: str, labels_at: str) -> None:
    """N labels, classes 0..K-1 (any K), for N images, or a DataError naming where they came from."""
    if labels.ndim != 1:
        raise DataError(f"{labels_at} holds labels of shape {tuple(labels.shape)}; expected (N,)")
    if len(images) != len(labels):
        raise DataError(f"{images_at} and {labels_at} hold different numbers of items ({len(images)} images, "
                        f"{len(labels)} labels)")
    if len(labels) and int(labels.min()) < 0:
        raise DataError(f"{labels_at} holds negative labels (from {int(labels.min())}); classes are 0, 1, 2, ...")


def to_labels(array, where: str) -> torch.Tensor:
    a = np.asarray(array)
    if a.dtype.kind not in "iu":
        raise DataError(f"{where} holds {a.dtype} values; labels are integers")
    return torch.from_numpy(a.astype(np.int64))


def load_npz(path: str | Path, keys: dict[str, str] | None = None) -> dict:
    """{train_images, train_labels, test_images, test_labels} from an .npz file (a split whose
    images are missing is None; image arrays without label arrays are unlabelled), or from an
    .npy file of training images (unlabelled); arrays other than the named ones are never read."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data.root {str(path)!r} is not a file (data.source=npz needs an .npz or .npy file)")
    if path.suffix.lower() == ".npy":
        return _load_npy(path)
    names = {**NPZ_KEYS, **(keys or {})}
    declared = npz_headers(path)  # object arrays, lying sizes and oversized archives refused before loading
    wanted = {names[k] for k in names}
    odd = next((k for k, (_, dtype) in declared.items() if k in wanted and dtype.kind not in "biuf"), None)
    if odd is not None:
        raise DataError(f"{path}[{odd}] holds {declared[odd][1]} values, not numbers (images: uint8 0..255 or "
                        "floats in [0, 1]; labels: integers)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            held = list(npz.files)
            parts, labelled = {}, {}
            for split in ("train", "test"):
                image_key, label_key = names[f"{split}_images"], names[f"{split}_labels"]
                if image_key not in held:
                    parts[f"{split}_images"] = parts[f"{split}_labels"] = None
                    continue
                images = to_pixels(npz[image_key], f"{path}[{image_key}]")
                labelled[split] = label_key in held
                if labelled[split]:
                    labels = to_labels(npz[label_key], f"{path}[{label_key}]")
                    check_pair(images, labels, f"{path}[{image_key}]", f"{path}[{label_key}]")
                else:
                    labels = unlabelled(len(images))
                parts[f"{split}_images"], parts[f"{split}_labels"] = images, labels
    except ZIP_ERRORS as exc:
        raise DataError(f"cannot read {path} as an .npz file of arrays ({unreadable(exc)})") from None
    if parts["train_images"] is None and parts["test_images"] is None:
        wanted = ", ".join(names[k] for k in ("train_images", "test_images"))
        raise DataError(f"{path} holds no image array ({wanted}); it holds: {', '.join(held) or 'nothing'}; "
                        "name yours with data.keys (e.g. data.keys={train_images: images, train_labels: labels})")
    if len(set(labelled.values())) > 1:
        with_labels, without = (next(s for s, v in labelled.items() if v is want) for want in (True, False))
        raise DataError(f"{path} has labels for its {with_labels} images but none for its {without} images "
                        f"({names[without + '_labels']!r}); give both splits labels, or neither")
    return parts


def read_npy(path: Path) -> np.ndarray:
    """An .npy file's array, its header checked first: an object array, or an array larger than the
    file or than max_inflated_bytes(), is refused in one DataError line before anything is allocated."""
    cap = max_inflated_bytes()
    try:
        with open(path, "rb") as f:
            shape, dtype, size = npy_header(f, str(path))
            held = path.stat().st_size - f.tell()
        if size > held:
            raise DataError(f"{path} declares shape {shape} of {dtype} ({size} bytes) but holds {held} bytes of "
                            "data: truncated or corrupt")
        if size > cap:
            raise DataError(f"{path} declares shape {shape} of {dtype} ({size} bytes), more than the {cap}-byte cap "
                            f"on what is loaded (raise it with {INFLATED_ENV})")
        return np.load(path, allow_pickle=False)  # read whole (its size is checked): a writable array
    except (OSError, ValueError, EOFError, OverflowError, struct.error) as exc:
        raise DataError(f"cannot read {path} as an .npy array ({unreadable(exc)})") from None


def _load_npy(path: Path) -> dict:
    """An .npy array of images: unlabelled training data (the test split is held out from it)."""
    images = to_pixels(read_npy(path), str(path))
    return {"train_images": images, "train_labels": unlabelled(len(images)), "test_images": None, "test_labels": None}
