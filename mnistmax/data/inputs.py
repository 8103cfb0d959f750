"""User inputs -> the network's batch, and results back in the input's form.

Accepted: torch tensors or numpy arrays (uint8 / integer 0-255 / bool / float 0-1) shaped
(28, 28), (B, 28, 28) or (B, 1, 28, 28); PIL images; image files (8 or 16 bits) and folders of
them; lists of these. Files and PIL images are made MNIST-style (`preprocess.to_mnist`) unless
preprocess=False; arrays and tensors only when preprocess=True. Used by `mnistmax.api` and the
file commands (`mnistmax.userfiles`).
"""

from __future__ import annotations

import os
import re
import struct
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mnistmax.data.preprocess import ImageError, to_mnist, to_unit_gray
from mnistmax.errors import ConfigError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")


@dataclass
class Batch:
    """Images as the network takes them, and how to give results back in the input's form."""

    images: torch.Tensor  # (B, 1, 28, 28) float32 in [0, 1]
    kind: str             # tensor, array, pil, list
    shape: tuple          # the input's shape (tensor / array)
    dtype: Any            # the input's dtype (tensor / array)
    single: bool          # one image given (no batch axis)

    def images_back(self, out: torch.Tensor):
        """(B, 1, 28, 28) float outputs -> the input's kind, dtype and shape."""
        out = out.detach().float().cpu().clamp(0, 1)
        if self.kind in ("pil", "list"):
            from PIL import Image

            pictures = [Image.fromarray(np.round(o[0].numpy() * 255).astype(np.uint8)) for o in out]
            return pictures[0] if self.kind == "pil" else pictures
        if self.dtype in (torch.uint8, np.uint8, np.dtype(np.uint8)):
            out = torch.round(out * 255).to(torch.uint8)
        elif self.kind == "tensor":
            out = out.to(self.dtype)
        out = out.reshape(self.shape)
        if self.kind == "array":
            arr = out.numpy()
            return arr if arr.dtype == np.uint8 else arr.astype(self.dtype)
        return out

    def vectors_back(self, out: torch.Tensor):
        """(B, D) outputs -> a tensor or an array ((D,) for one image); lists and PIL give arrays."""
        out = out.detach().float().cpu()
        if self.single:
            out = out[0]
        return out if self.kind == "tensor" else out.numpy()



def _as_unit(x: torch.Tensor, what: str) -> torch.Tensor:
    """uint8 / bool / integer 0-255 / float 0-1 -> float32 in [0, 1], with one-line errors."""
    if x.dtype == torch.uint8:
        return x.float() / 255.0
    if x.dtype == torch.bool:
        return x.float()
    if x.dtype.is_floating_point:
        x = x.float()
        if not torch.isfinite(x).all():
            raise ImageError(f"{what} has NaN or infinite values")
        if x.numel() and (x.min() < 0 or x.max() > 1):
            raise ImageError(f"{what}: float values must lie in [0, 1] (got {x.min():.3g} .. {x.max():.3g}); "
                             "pass uint8 0-255 or scale to [0, 1]")
        return x
    if not x.dtype.is_complex and x.numel() and 0 <= int(x.min()) and int(x.max()) <= 255:
        return x.float() / 255.0
    raise ImageError(f"{what}: unsupported dtype {x.dtype} (use uint8 0-255 or float 0-1)")


def _image_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ImageError(f"{path}: no image files ({', '.join(IMAGE_SUFFIXES)})")
        return files
    if not path.is_file():
        raise ImageError(f"{path}: no such file or folder")
    return [path]


DEFAULT_MAX_PIXELS = 50_000_000
MAX_PIXELS_ENV = "MNISTMAX_MAX_PIXELS"


def max_pixels() -> int:
    """The most pixels a picture may have: $MNISTMAX_MAX_PIXELS, else 50,000,000 (MNIST-style use never
    needs more; the cap keeps a tiny file that declares a huge picture from filling the memory)."""
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip().replace("_", "").replace(",", "")
    if not raw:
        return DEFAULT_MAX_PIXELS
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{MAX_PIXELS_ENV}={os.environ[MAX_PIXELS_ENV]!r}: give a whole number of pixels "
                          f"(default {DEFAULT_MAX_PIXELS:,})")
    return int(raw)


def _too_big(path: Path | str, size: str, cap: int) -> ImageError:
    return ImageError(f"{path}: {size} is over the {cap:,}-pixel limit (set {MAX_PIXELS_ENV} to raise it)")


def read_image(path: str | Path) -> np.ndarray:
    """An image file as a numpy array (grayscale, colour or with alpha; 8 or 16 bits; float TIFFs
    scaled to [0, 1]), upright as its EXIF orientation says. The one reader of users' picture files.

    Hostile files end in one ImageError line naming the file (exit code 2): a picture whose header
    declares more than $MNISTMAX_MAX_PIXELS pixels (default 50,000,000) is refused before anything is
    decoded; Pillow's decompression-bomb checks, text / ICC chunks that inflate past Pillow's limits,
    truncated and unidentifiable files too."""
    from PIL import Image

    path = Path(path)
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: empty file")
    with _pillow_guard(path, "not an image file PIL can read") as cap:
        with Image.open(path) as img:
            return _upright(img, path, cap)


@contextmanager
def _pillow_guard(where, unreadable: str):
    """Pillow's work on one picture (yields the pixel cap): its decompression-bomb limit follows
    $MNISTMAX_MAX_PIXELS, and whatever Pillow raises becomes one ImageError line that starts with
    `where` (`unreadable` says what a decoding failure means)."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    cap = max_pixels()
    pillow_cap = Image.MAX_IMAGE_PIXELS
    try:
        if pillow_cap and cap > pillow_cap:  # the user raised the cap past Pillow's own: Pillow follows it
            Image.MAX_IMAGE_PIXELS = cap
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield cap
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise _too_big(where, f"{int(found[1]):,} pixels" if found else "the picture", cap) from None
    except ImageError as exc:
        raise _named(where, exc) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, KeyError, TypeError,
            struct.error) as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
        raise ImageError(f"{where}: {unreadable} ({reason})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = pillow_cap


def _upright(img, where, cap: int) -> np.ndarray:
    """An opened picture's pixels, upright as its EXIF orientation says; refused above `cap` pixels
    before they are decoded."""
    from PIL import ImageOps

    width, height = img.size
    if width * height > cap:
        raise _too_big(where, f"{width:,} x {height:,} pixels", cap)
    img.load()
    return pil_to_array(ImageOps.exif_transpose(img))


def pil_to_array(img) -> np.ndarray:
    """A PIL image's pixels: uint16 for 16-bit modes; float32 in [0, 1] for float and 32-bit integer
    pictures (float values in [0, 1] kept, other ranges scaled by their own minimum and maximum, never
    clipped); RGBA for pictures with alpha or a transparent colour (palette index, tRNS), else L or RGB."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(img)
        if img.mode.startswith("I;16"):
            return a.astype(np.uint16)
        a = a.astype(np.float64)
        if not np.isfinite(a).all():
            raise ImageError("image has NaN or infinite values")
        low, high = (float(a.min()), float(a.max())) if a.size else (0.0, 1.0)
        if img.mode == "F" and low >= 0 and high <= 1:
            return a.astype(np.float32)
        return ((a - low) / (high - low) if high > low else np.zeros_like(a)).astype(np.float32)
    if "A" in img.getbands() or "transparency" in img.info:
        return np.asarray(img if img.mode == "RGBA" else img.convert("RGBA"))
    if img.mode not in ("L", "RGB"):
        img = img.convert("RGB")
    return np.asarray(img)


def pil_name(img) -> str:
    """What a message calls a PIL image: `PIL image` (of its file, when it was opened from one)."""
    filename = getattr(img, "filename", None)
    return f"PIL image of {filename}" if isinstance(filename, (str, Path)) and str(filename) else "PIL image"


def read_pil(img) -> np.ndarray:
    """A PIL image given to the Python API, read as a file is (`read_image`): refused above
    $MNISTMAX_MAX_PIXELS before its pixels are loaded, upright as its EXIF orientation says, and an
    image whose pixels cannot be loaded (a lazily opened, damaged file) one ImageError line."""
    where = pil_name(img)
    with _pillow_guard(where, "its pixels cannot be read") as cap:
        return _upright(img, where, cap)


def _named(where, exc: ImageError) -> ImageError:
    """`exc` as one line that starts with `where`."""
    message = str(exc)
    return exc if message.startswith(f"{where}: ") else ImageError(f"{where}: {message}")


def picture_to_digit(item, preprocess: bool | None = True) -> np.ndarray:
    """A file's or a PIL image's pixels as a (28, 28) uint8 MNIST-style digit; with
    preprocess=False the picture must already be 28x28. Every refusal names the file (or `PIL image`)."""
    if isinstance(item, (str, Path)):
        where, a = str(item), read_image(item)
    else:
        where, a = pil_name(item), read_pil(item)
    try:
        if preprocess is not False:
            return to_mnist(a)
        gray = to_unit_gray(a)
    except ImageError as exc:  # too small, no ink, ...: which picture
        raise _named(where, exc) from None
    if gray.shape != (28, 28):
        raise ImageError(f"{where}: image is {gray.shape[0]}x{gray.shape[1]}; without preprocessing it must be 28x28 "
                         "(drop preprocess=False / --no-preprocess to fit it the MNIST way)")
    return np.round(gray * 255).astype(np.uint8)


def to_batch(x, preprocess: bool | None = None) -> Batch:
    """Any accepted input -> a Batch (see the module docstring)."""
    from PIL import Image

    if isinstance(x, (str, Path)):
        files = _image_files(Path(x))
        if Path(x).is_dir():
            x = files
        else:
            imgs = torch.from_numpy(picture_to_digit(files[0], preprocess))[None, None]
            return Batch(imgs.float() / 255.0, "pil", (28, 28), np.uint8, True)
    if isinstance(x, Image.Image):
        imgs = torch.from_numpy(picture_to_digit(x, preprocess))[None, None]
        return Batch(imgs.float() / 255.0, "pil", (28, 28), np.uint8, True)
    if isinstance(x, (list, tuple)):
        if not x:
            raise ImageError("empty list of images")
        items = []
        for item in x:
            if isinstance(item, (str, Path)) and Path(item).is_dir():
                items += _image_files(Path(item))
            else:
                items.append(item)
        digits = []
        for item in items:
            if isinstance(item, (str, Path, Image.Image)):
                digits.append(picture_to_digit(item if not isinstance(item, str) else Path(item), preprocess))
            else:
                b = to_batch(item, preprocess)
                if not b.single:
                    raise ImageError("a list must hold single images (files, PIL images or 28x28 arrays)")
                digits.append(np.round(b.images[0, 0].numpy() * 255).astype(np.uint8))
        imgs = torch.from_numpy(np.stack(digits))[:, None].float() / 255.0
        return Batch(imgs, "list", (len(digits), 28, 28), np.uint8, False)
    if isinstance(x, np.ndarray):
        kind, dtype, t = "array", x.dtype, torch.from_numpy(np.ascontiguousarray(x))
    elif isinstance(x, torch.Tensor):
        kind, dtype, t = "tensor", x.dtype, x.detach().cpu()
    else:
        raise ImageError(f"unsupported input type {type(x).__name__}: give a tensor, an array, a PIL image, "
                         "a file path or a list of them")
    shape = tuple(t.shape)
    if preprocess:
        stack = t.reshape(-1, *shape[-2:]) if len(shape) >= 2 and shape[-1] not in (3, 4) else t[None]
        digits = np.stack([to_mnist(a.numpy()) for a in stack])
        imgs = torch.from_numpy(digits)[:, None].float() / 255.0
        single = len(shape) == 2 or (len(shape) == 3 and shape[-1] in (3, 4))
        out_shape = (28, 28) if single else (len(digits), 28, 28)
        return Batch(imgs, kind, out_shape, dtype, single)
    if len(shape) == 2 and shape == (28, 28):
        imgs, single = t[None, None], True
    elif len(shape) == 3 and shape[1:] == (28, 28):
        imgs, single = t[:, None], False
    elif len(shape) == 4 and shape[1:] == (1, 28, 28):
        imgs, single = t, False
    else:
        raise ImageError(f"input shape {shape}: expected (28, 28), (B, 28, 28) or (B, 1, 28, 28); "
                         "pass preprocess=True to fit other images the MNIST way")
    if imgs.shape[0] == 0:
        raise ImageError("empty batch (0 images)")
    return Batch(_as_unit(imgs, "input"), kind, shape, dtype, single)


