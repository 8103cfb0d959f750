"""PSNR against the noise level: plain rows `{method, noise, sigma, psnr}` (eval/eval.json's,
or one line per run from `compare models`) in, a saved PNG out."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import matplotlib

from mnistmax.viz.figures import save_figure, subplots

IDENTITY = "identity"  # the noisy input itself: the line every denoiser has to beat


def psnr_series(rows: list[dict]) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """{noise kind: {method: [(σ, PSNR), ...] by increasing σ}}, kinds and methods in the order
    the rows first name them."""
    series: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for r in rows:
        series.setdefault(r["noise"], {}).setdefault(r["method"], []).append((float(r["sigma"]), float(r["psnr"])))
    return {kind: {m: sorted(points) for m, points in by_method.items()} for kind, by_method in series.items()}


def psnr_vs_sigma(rows: list[dict], path, title: str = "", baselines: Collection[str] = ()) -> Path:
    """One panel per noise kind, one line per method: solid with markers for models, dashed for
    `baselines`, dotted black for `identity`. A method keeps its colour in every panel; the one
    legend sits right of the panels, so it never covers a line."""
    series = psnr_series(rows)
    methods = list(dict.fromkeys(m for by_method in series.values() for m in by_method))
    palette = matplotlib.colormaps["tab10"].colors
    colours = {m: palette[i % len(palette)] for i, m in enumerate(m for m in methods if m != IDENTITY)}
    colours[IDENTITY] = "black"
    cols = min(3, len(series))
    n_rows = -(-len(series) // cols)
    legend_in = 0.75 + 0.075 * max(len(m) for m in methods)  # inches: handle, then the longest name at 8 pt
    width, height = 3.4 * cols + legend_in, 2.7 * n_rows + 1.0
    fig, axes = subplots(n_rows, cols, figsize=(width, height), squeeze=False)
    fig.subplots_adjust(left=0.65 / width, right=1 - (legend_in + 0.1) / width, top=1 - 0.8 / height,
                        bottom=0.5 / height, wspace=0.28, hspace=0.5)
    for ax, (kind, by_method) in zip(axes.flat, series.items()):
        for method, points in by_method.items():
            sigmas, psnr = zip(*points)
            if method == IDENTITY:
                style = {"ls": ":", "lw": 1.6, "marker": None}
            elif method in baselines:
                style = {"ls": "--", "lw": 1.2, "marker": "x", "ms": 4}
            else:
                style = {"ls": "-", "lw": 2.0, "marker": "o", "ms": 4}
            ax.plot(sigmas, psnr, color=colours[method], label=method, **style)
        ax.set_title(f"{kind} noise", fontsize=9)
        ax.set_xlabel("noise level σ", fontsize=8)
        ax.set_ylabel("PSNR (dB)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(series):]:
        ax.set_visible(False)
    handles = {h.get_label(): h for ax in axes.flat for h in ax.get_lines()}
    fig.legend([handles[m] for m in methods], methods, loc="center left", fontsize=8, frameon=False,
               bbox_to_anchor=(1 - legend_in / width, 0.5))
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)
