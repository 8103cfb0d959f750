"""Animated GIFs from PNG frames or arrays (Pillow)."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from mnistmax.files import write_atomic


def gif_from_images(frames: list[Image.Image], path: str | Path, ms_per_frame: int = 400, hold_last: int = 3) -> Path:
    """Write an endlessly looping GIF; the last frame is shown `hold_last` times longer."""
    if not frames:
        raise ValueError("no frames to animate")
    frames = [f.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=255) for f in frames]
    durations = [ms_per_frame] * (len(frames) - 1) + [ms_per_frame * hold_last]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0,
                   disposal=1, optimize=False)
    return write_atomic(path, buf.getvalue())


def gif_from_pngs(paths: list[Path], path: str | Path, ms_per_frame: int = 400) -> Path:
    images = []
    for p in paths:
        with Image.open(p) as im:
            images.append(im.copy())
    size = images[0].size
    images = [im if im.size == size else im.resize(size) for im in images]
    return gif_from_images(images, path, ms_per_frame)
