"""A user's files for `mnistmax denoise / embed / classify`: read them, write results of the same kind.

Inputs: image files (PNG, JPEG, ...), folders of them, `.npy` arrays, `.npz` archives (every
image array in them; 1-D integer label arrays beside the images, like Keras' `y_train`, are
skipped, and anything else that is not images is refused naming its key) and IDX files
(`*-idx3-ubyte`, `.idx`, optionally `.gz`). Each becomes an `InputFile` holding its images
and how to write a result like it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnistmax.data.inputs import IMAGE_SUFFIXES, ImageError, picture_to_digit
from mnistmax.errors import ConfigError
from mnistmax.files import write_atomic


@dataclass
class InputFile:
    path: Path
    kind: str                      # image, npy, npz, idx
    arrays: dict[str, np.ndarray]  # name -> images as the model takes them ((28, 28) or (B, 28, 28) ...)

    def count(self) -> int:
        return sum(1 if a.ndim == 2 else len(a) for a in self.arrays.values())


def is_idx(path: Path) -> bool:
    name = path.name.lower().removesuffix(".gz")
    return "idx" in name and (name.endswith("ubyte") or name.endswith(".idx") or "-idx" in name or ".idx" in name)


TAKES = "pixels (uint8 0-255 or floats in [0, 1]) shaped (28, 28), (B, 28, 28) or (B, 1, 28, 28)"


def _is_label_array(shape: tuple, dtype: np.dtype) -> bool:
    """A 1-D integer array in an .npz (Keras' y_train): labels beside the images, skipped."""
    return len(shape) == 1 and dtype.kind in "iu"


def _load_array(path: Path, array: np.ndarray, what: str) -> np.ndarray:
    if array.dtype.hasobject:
        raise ImageError(f"{what}: object arrays are not images")
    if array.dtype.kind not in "biuf":
        raise ImageError(f"{what} holds {array.dtype} values, not images (input arrays hold {TAKES})")
    if array.ndim < 2:
        raise ImageError(f"{what} has shape {array.shape}, not images (input arrays hold {TAKES})")
    if array.size == 0:
        raise ImageError(f"{what}: empty array {array.shape}")
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        raise ImageError(f"{what}: array has NaN or infinite values")
    return array


def read_inputs(inputs: list[str | Path], preprocess: bool = True) -> list[InputFile]:
    """Every input path expanded (folders -> their image files) and read, with one-line errors. Inputs
    read already (a list of InputFile: the CLI reads them before it loads a model) pass as they are."""
    if inputs and all(isinstance(item, InputFile) for item in inputs):
        return list(inputs)
    files: list[InputFile] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not images:
                raise ImageError(f"{path}: no image files ({', '.join(IMAGE_SUFFIXES)})")
            files += [read_input(p, preprocess) for p in images]
        else:
            files.append(read_input(path, preprocess))
    if not files:
        raise ImageError("no inputs given")
    return files


def read_input(path: Path, preprocess: bool = True) -> InputFile:
    if not path.exists():
        raise ImageError(f"{path}: no such file or folder")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: empty file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        from mnistmax.data.arrays import read_npy
        from mnistmax.errors import DataError

        try:
            array = read_npy(path)  # object arrays, lying or oversized headers: refused before loading
        except DataError as exc:
            raise ImageError(str(exc)) from None
        return InputFile(path, "npy", {"": _load_array(path, array, str(path))})
    if suffix == ".npz":
        from mnistmax.data.arrays import ZIP_ERRORS, npz_headers, unreadable
        from mnistmax.errors import DataError

        try:
            declared = npz_headers(path)  # object arrays, lying sizes, oversized archives: refused before loading
        except DataError as exc:
            raise ImageError(str(exc)) from None
        labels = [k for k, (shape, dtype) in declared.items() if _is_label_array(shape, dtype)]
        keys = [k for k in declared if k not in labels] or labels  # label arrays beside images are skipped
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: _load_array(path, z[k], f"{path}[{k}]") for k in keys}
        except ZIP_ERRORS as exc:
            raise ImageError(f"{path}: not a readable .npz archive ({unreadable(exc)})") from None
        if not arrays:
            raise ImageError(f"{path}: the archive holds no arrays")
        return InputFile(path, "npz", arrays)
    if is_idx(path):
        from mnistmax.data.sources import read_idx
        from mnistmax.errors import DataError

        try:
            array = read_idx(path).numpy()
        except DataError as exc:
            raise ImageError(str(exc)) from None
        return InputFile(path, "idx", {"": _load_array(path, array, str(path))})
    return InputFile(path, "image", {"": picture_to_digit(path, preprocess)})


def output_path(out_dir: Path, item: InputFile, suffix: str | None = None) -> Path:
    name = item.path.name if suffix is None else item.path.stem + suffix
    return out_dir / name


def check_free(paths: list[Path], force: bool) -> None:
    """Refuse to overwrite earlier results unless --force (and a folder where a file goes, always)."""
    folder = next((p for p in paths if p.is_dir()), None)
    if folder is not None:
        raise ImageError(f"{folder} is a folder and a file is written there; -o/--output names the file here")
    taken = [p for p in paths if p.exists()]
    if taken and not force:
        more = f" (and {len(taken) - 1} more)" if len(taken) > 1 else ""
        raise ImageError(f"{taken[0]} exists{more}; choose another -o/--output or pass --force")
    seen: dict[Path, int] = {}
    for p in paths:
        seen[p] = seen.get(p, 0) + 1
    twice = [p for p, n in seen.items() if n > 1]
    if twice:
        raise ImageError(f"two inputs would both write {twice[0]}; give them different names")


def output_folder(path: str | Path, command: str, single: str = "") -> Path:
    """`-o` of a command that writes several files (denoise, export, compare): an existing folder, or
    a new one whose name has no file suffix. A new `clean.png` or `model.onnx` is refused in one line:
    it would become a folder named like a file. `single`: what else the command accepts there."""
    path = Path(path)
    if path.is_dir():
        return path
    if path.exists():
        raise ConfigError(f"-o {path} is a file; -o/--output is a folder for {command} (it writes several files)")
    if path.suffix:
        raise ConfigError(f"-o {path}: -o/--output is a folder for {command} (it writes several files){single}, and "
                          f"{path.name!r} looks like a file name; name a folder (mkdir it first to use a dotted name)")
    return path


def write_like(item: InputFile, results: dict[str, np.ndarray], path: Path) -> Path:
    """Results (same keys and shapes as `item.arrays`) in the input's file kind."""
    if item.kind == "image":
        from PIL import Image

        buf = io.BytesIO()
        img = Image.fromarray(np.asarray(results[""], dtype=np.uint8))
        fmt = Image.registered_extensions().get(path.suffix.lower(), "PNG")  # denoise x.png -o y.bmp: a BMP
        img.save(buf, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
        return write_atomic(path, buf.getvalue())
    if item.kind == "npy":
        buf = io.BytesIO()
        np.save(buf, results[""])
        return write_atomic(path, buf.getvalue())
    if item.kind == "npz":
        buf = io.BytesIO()
        np.savez_compressed(buf, **results)
        return write_atomic(path, buf.getvalue())
    if item.kind == "idx":
        import gzip

        from mnistmax.data.sources import idx_bytes

        data = idx_bytes(results[""])
        return write_atomic(path, gzip.compress(data) if path.suffix == ".gz" else data)
    raise ValueError(item.kind)


def image_output_name(item: InputFile) -> str:
    """Image results are written as PNG unless the input was a JPEG (kept as JPEG)."""
    return item.path.name if item.path.suffix.lower() in (".png", ".jpg", ".jpeg") else item.path.stem + ".png"
