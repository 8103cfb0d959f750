"""The `folder` source: the user's pictures, one class subfolder per label (class names = the
subfolder names, sorted), or all in one flat folder (unlabelled data), with `train/` and
`test/` at the top when the data has its own splits. Any size, colour, bit depth or
polarity: each picture is made an MNIST-style 28x28 digit once (`data.preprocess`: `mnist`
frames it as MNIST does, `resize` only scales it) and the digits are cached, keyed by the
files' bytes and the preprocessing, under the cache folder ($MNISTMAX_CACHE, else
~/.cache/mnistmax), never inside the data folder."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np
import torch

from mnistmax.data.arrays import UNLABELLED
from mnistmax.data.inputs import IMAGE_SUFFIXES, read_image
from mnistmax.data.preprocess import ImageError, is_dark_on_light, to_mnist, to_unit_gray
from mnistmax.errors import DataError

PREPROCESS = ("mnist", "resize")
CACHE_VERSION = 2  # a new way of making digits makes a new cache entry (2: EXIF, transparency)


def cache_dir() -> Path:
    return Path(os.environ.get("MNISTMAX_CACHE") or Path.home() / ".cache" / "mnistmax") / "folders"


def resized(image: np.ndarray) -> np.ndarray:
    """The whole picture scaled to 28x28 (area filter), light ink on dark: no framing."""
    from PIL import Image

    gray = to_unit_gray(image)
    if is_dark_on_light(gray):
        gray = 1.0 - gray
    small = Image.fromarray(np.round(gray * 255).astype(np.uint8)).resize((28, 28), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.uint8)


def class_files(folder: Path) -> tuple[list[str] | None, list[tuple[Path, int]]]:
    """(class names, [(picture, label)]) of a folder of class subfolders, or (None, [(picture,
    UNLABELLED)]) of a flat folder of pictures; one line when it is neither."""
    entries = sorted(folder.iterdir())
    pictures = [p for p in entries if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    classes = sorted(p.name for p in entries if p.is_dir() and not p.name.startswith("."))
    if pictures and classes:
        raise DataError(f"{folder} mixes pictures ({pictures[0].name}, ...) and class subfolders ({classes[0]}/, ...); "
                        "put every picture in the subfolder of its class, or all of them in one flat folder "
                        "(unlabelled)")
    if pictures:
        return None, [(p, UNLABELLED) for p in pictures]
    if not classes:
        raise DataError(f"{folder} holds no pictures ({', '.join(IMAGE_SUFFIXES)}) and no class subfolders")
    files = []
    for label, name in enumerate(classes):
        found = sorted(p for p in (folder / name).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise DataError(f"{folder / name} (class {name!r}) holds no pictures ({', '.join(IMAGE_SUFFIXES)})")
        files += [(p, label) for p in found]
    return classes, files


def folder_layout(root: Path) -> dict[str, tuple[list[str] | None, list[tuple[Path, int]]]]:
    """{split: (class names or None, files)}: train/ and test/ when present, else the folder as train."""
    splits = [s for s in ("train", "test") if (root / s).is_dir()]
    return {s: class_files(root / s) for s in splits} if splits else {"train": class_files(root)}


def describe_folder(root: Path) -> dict:
    """{train, test, classes} of a picture folder by its files alone (`mnistmax info`: nothing decoded)."""
    layout = folder_layout(root)
    names = next(iter(layout.values()))[0]
    return {"train": len(layout.get("train", (None, []))[1]), "test": len(layout.get("test", (None, []))[1]),
            "classes": 0 if names is None else len(names)}


def digits_of(files: list[tuple[Path, int]], preprocess: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 28, 28) uint8 digits and their labels; one line naming the first unreadable picture and how many."""
    make = to_mnist if preprocess == "mnist" else resized
    images, bad = [], []
    for path, _ in files:
        try:
            images.append(make(read_image(path)))
        except ImageError as exc:  # read_image's lines name the file; to_mnist's (too small, ...) do not
            bad.append(str(exc) if str(exc).startswith(f"{path}: ") else f"{path}: {exc}")
    if bad:
        raise DataError(f"{len(bad)} of {len(files)} pictures could not be made digits; the first: {bad[0]}")
    return torch.from_numpy(np.stack(images)), torch.tensor([label for _, label in files], dtype=torch.long)


def split_key(files: list[tuple[Path, int]], classes: list[str], preprocess: str) -> str:
    digest = hashlib.sha256(f"{CACHE_VERSION} {preprocess} {classes}".encode())
    for path, label in files:
        digest.update(f"{path.name} {label} ".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:24]


def cached_digits(files: list[tuple[Path, int]], classes: list[str], preprocess: str):
    """digits_of(files), read from the cache when these very files were made digits before."""
    from mnistmax.files import write_atomic

    path = cache_dir() / f"{split_key(files, classes, preprocess)}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as saved:
                return torch.from_numpy(saved["images"]), torch.from_numpy(saved["labels"])
        except (OSError, ValueError, KeyError):
            pass  # a damaged entry: made again
    images, labels = digits_of(files, preprocess)
    buf = io.BytesIO()
    np.savez(buf, images=images.numpy(), labels=labels.numpy())
    try:
        write_atomic(path, buf.getvalue())
    except OSError:  # an unwritable cache: the digits are made again next time
        pass
    return images, labels


def load_folder(root: str | Path, preprocess: str = "mnist") -> dict:
    """{train_images, train_labels, test_images, test_labels, classes} of a picture folder."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data.root {str(root)!r} is not a folder (data.source=folder needs a folder of pictures)")
    if preprocess not in PREPROCESS:
        raise DataError(f"data.preprocess {preprocess!r}; valid: {', '.join(PREPROCESS)}")
    layout = folder_layout(root)
    classes = layout.get("train", layout.get("test"))[0]
    if len(layout) == 2 and (layout["train"][0] is None) != (layout["test"][0] is None):
        flat = "train" if layout["train"][0] is None else "test"
        raise DataError(f"{root}: {flat}/ is a flat folder of pictures (unlabelled) but "
                        f"{'test' if flat == 'train' else 'train'}/ has class subfolders; give both the same layout")
    if len(layout) == 2 and layout["test"][0] != classes:
        raise DataError(f"{root}: train/ and test/ have different classes ({', '.join(layout['train'][0])} against "
                        f"{', '.join(layout['test'][0])})")
    parts = {"train_images": None, "train_labels": None, "test_images": None, "test_labels": None}
    for split, (names, files) in layout.items():
        parts[f"{split}_images"], parts[f"{split}_labels"] = cached_digits(files, names, preprocess)
    return {**parts, "classes": classes}
