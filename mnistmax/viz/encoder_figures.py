"""Figures that compare encoders: probe accuracy against the number of labels per class."""

from __future__ import annotations

from pathlib import Path

from mnistmax.viz.figures import save_figure, subplots


def accuracy_vs_labels(series: dict[str, list[tuple[int, float]]], path: str | Path, title: str = "") -> Path:
    """One line per encoder: test accuracy (%) against labels per class (log axis); the
    raw-pixel line dotted."""
    fig, ax = subplots(figsize=(8, 4.2), layout="constrained")  # constrained: room for the legend outside
    for name, points in series.items():
        xs, ys = zip(*sorted(points))
        style = {"linestyle": ":", "color": "black"} if name == "raw pixels" else {"linewidth": 2}
        ax.plot(xs, [100 * y for y in ys], marker="o", label=name, **style)
    ax.set_xscale("log")
    ticks = sorted({x for points in series.values() for x, _ in points})
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("labelled training digits per class")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    ax.set_title(title, fontsize=10)
    return save_figure(fig, path)
