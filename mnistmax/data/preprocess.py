"""A user's picture of a digit -> an MNIST-style 28x28 digit, made the way MNIST was made.

MNIST (LeCun et al.): white ink on black; the digit's bounding box scaled, aspect kept, to fit
a 20x20 box (anti-aliased, hence grey levels); then placed in a 28x28 field so that its centre
of mass lies at the field's centre. `to_mnist` does the same to any grayscale or colour image:

1. luminance in [0, 1] (colour -> ITU-R 601 luma; transparent pixels -> the background);
2. polarity: MNIST's ink is light on dark. The image's border (its outermost rows and columns)
   is the background; a light border means dark-on-light ink, which is inverted;
3. contrast: background level -> 0, the brightest ink -> 1 (measured on a slightly blurred
   copy for images larger than 28x28, so that noise does not set it);
4. the bounding box of the ink (pixels of the blurred copy above `ink_threshold`, without
   specks under 5 % of the largest stroke's area), its longer side scaled to 20 pixels, aspect kept,
   with an area-averaging filter;
5. pasted into 28x28 and shifted (whole pixels, like MNIST) so that its centre of mass is at
   row 14, column 14 in pixel-index coordinates (where MNIST's digits have theirs: the mean
   over the embedded digits is (13.99, 14.00), spread 0.29 pixels).

Pure functions on numpy arrays; no torch.
"""

from __future__ import annotations

import numpy as np

from mnistmax.errors import MnistmaxError

SIZE = 28
BOX = 20


class ImageError(MnistmaxError):
    """An input that is not a usable image (exit code 2 on the CLI)."""

    exit_code = 2


def to_unit_gray(image: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 1), (H, W, 3) or (H, W, 4) of uint8 / uint16 / bool / float in [0, 1] ->
    (H, W) float32 luminance in [0, 1]. Transparent pixels take the colour of the image's
    opaque border, so a dark digit on a transparent background reads as dark on light."""
    a = np.asarray(image)
    if a.size == 0:
        raise ImageError(f"empty image (shape {a.shape})")
    if a.dtype == bool:
        a = a.astype(np.float32)
    elif a.dtype == np.uint8:
        a = a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        a = a.astype(np.float32) / 65535.0
    elif np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float32)
        if not np.isfinite(a).all():
            raise ImageError("image has NaN or infinite values")
        if a.min() < 0 or a.max() > 1:
            raise ImageError(f"float image values must lie in [0, 1] (got {a.min():.3g} .. {a.max():.3g}); "
                             "pass uint8 0-255 or scale it")
    else:
        raise ImageError(f"unsupported image dtype {a.dtype} (use uint8, uint16, bool or float in [0, 1])")
    if a.ndim == 3 and a.shape[2] in (1, 3, 4):
        alpha = a[..., 3] if a.shape[2] == 4 else None
        rgb = a[..., :3] if a.shape[2] >= 3 else a[..., :1]
        gray = rgb[..., 0] if rgb.shape[2] == 1 else rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        if alpha is not None and alpha.min() < 1:
            opaque = alpha > 0.5
            # fully transparent images fall back to white paper; otherwise the ink is what is opaque
            paper = 1.0 if not opaque.any() or gray[opaque].mean() < 0.5 else 0.0
            gray = gray * alpha + paper * (1 - alpha)
        a = gray
    if a.ndim != 2:
        raise ImageError("expected a 2-D grayscale or an (H, W, 1|3|4) colour image, got shape "
                         f"{tuple(np.shape(image))}")
    if min(a.shape) < 2:
        raise ImageError(f"image too small ({a.shape[0]}x{a.shape[1]})")
    return a


def border(a: np.ndarray) -> np.ndarray:
    """The outermost rows and columns of a 2-D array, as one vector."""
    return np.concatenate([a[0], a[-1], a[1:-1, 0], a[1:-1, -1]])


def is_dark_on_light(gray: np.ndarray) -> bool:
    """True when the background (the image's border) is lighter than mid-grey."""
    return float(np.median(border(gray))) > 0.5


def resize_area(a: np.ndarray, height: int, width: int) -> np.ndarray:
    """Anti-aliased resize of a float image (area averaging when shrinking, bilinear when growing)."""
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(a, dtype=np.float32))  # mode F
    shrink = height <= a.shape[0] and width <= a.shape[1]
    return np.asarray(img.resize((width, height), Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR),
                      dtype=np.float32)


def gaussian(a: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(a, sigma, mode="nearest")


def centre_of_mass(a: np.ndarray) -> tuple[float, float]:
    total = a.sum()
    rows, cols = np.indices(a.shape)
    return float((rows * a).sum() / total), float((cols * a).sum() / total)


def to_mnist(image: np.ndarray, invert: bool | None = None, ink_threshold: float = 0.2) -> np.ndarray:
    """Any digit picture -> (28, 28) uint8, light ink on black, MNIST's framing. `invert`:
    None detects the polarity from the border, True / False forces it."""
    gray = to_unit_gray(image)
    if invert is None:
        invert = is_dark_on_light(gray)
    if invert:
        gray = 1.0 - gray
    background = float(np.median(border(gray)))
    # pixels per MNIST pixel; a blur of about a third of that finds the strokes through noise
    scale_px = max(gray.shape) / SIZE
    smooth = gaussian(gray, 0.35 * scale_px) if scale_px > 1.5 else gray
    peak = float(smooth.max())
    if peak - background < 0.05:
        raise ImageError("no digit found: the image has no ink that stands out from its background")
    ink = np.clip((gray - background) / (peak - background), 0.0, 1.0)
    strokes = (smooth - background) / (peak - background)
    found = strokes > (ink_threshold if scale_px <= 1.5 else 0.4)  # blurred strokes spread: a higher cut
    if scale_px > 1.5:  # drop specks of noise: keep the parts with at least 5 % of the largest part's area
        from scipy.ndimage import label

        parts, n = label(found)
        if n > 1:
            areas = np.bincount(parts.ravel())[1:]
            found = np.isin(parts, 1 + np.flatnonzero(areas >= max(4, 0.05 * areas.max())))
    rows = np.flatnonzero(found.any(axis=1))
    cols = np.flatnonzero(found.any(axis=0))
    box = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = box.shape
    scale = BOX / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    digit = np.clip(resize_area(box, nh, nw), 0.0, 1.0)
    cy, cx = centre_of_mass(digit)
    top = int(round(SIZE / 2 - cy))  # the centre of mass at index (14, 14), as in MNIST
    left = int(round(SIZE / 2 - cx))
    top, left = min(max(top, 0), SIZE - nh), min(max(left, 0), SIZE - nw)
    field = np.zeros((SIZE, SIZE), dtype=np.float32)
    field[top:top + nh, left:left + nw] = digit
    return np.round(field * 255).astype(np.uint8)


def is_mnist_form(image: np.ndarray) -> bool:
    """28x28 single-channel: what `--no-preprocess` expects."""
    return np.asarray(image).shape[-2:] == (SIZE, SIZE) and np.asarray(image).ndim == 2
