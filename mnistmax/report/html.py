"""The leaf of the report package: the stylesheet, embedded images, figure sections and the
page around a body. It imports nothing from mnistmax."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Callable

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;font-size:14px}
td,th{border:1px solid #ddd;padding:3px 9px;text-align:right}
th{background:#f5f5f5}td:first-child,th:first-child{text-align:left}.best{font-weight:bold;color:#0a7a2f}
img{max-width:100%;border:1px solid #eee}pre{background:#f7f7f7;padding:.8em;overflow:auto;font-size:12px}
.facts td{text-align:left}.note{color:#666;font-size:13px}
.warn{background:#fff4e0;border-left:4px solid #e8a100;padding:.6em .9em;font-weight:600}
"""


def embed_image(path: Path, alt: str) -> str:
    mime = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg", ".svg": "image/svg+xml"}[path.suffix]
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:{mime};base64,{data}">'


def first_existing(run_dir: Path, *names: str) -> Path | None:
    return next((run_dir / n for n in names if (run_dir / n).is_file()), None)


def figure_section(title: str, *names: str, note: str = "") -> Callable[[Path], str | None]:
    def section(run_dir: Path) -> str | None:
        path = first_existing(run_dir, *names)
        if path is None:
            return None
        caption = f'<p class="note">{html.escape(note)}</p>' if note else ""
        return f"<h2>{html.escape(title)}</h2>{caption}{embed_image(path, title)}"

    return section


def page(title: str, body: str, heading: bool = False) -> str:
    """A self-contained HTML page; `heading` puts the title above the body as <h1>."""
    top = f"<h1>{html.escape(title)}</h1>" if heading else ""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{CSS}</style></head><body>{top}{body}</body></html>\n")
