"""Operating points of a bitmap denoiser: its scores against the output threshold, and precision
against recall, on validation and test, the chosen thresholds marked and the reference point drawn
for reference. Rows in (mnistmax.eval.operating.sweep_scores), a saved PNG out."""

from __future__ import annotations

from pathlib import Path

from mnistmax.eval.operating import REFERENCE_POINT
from mnistmax.viz.figures import save_figure, subplots

CURVES = {"precision": "tab:blue", "recall": "tab:orange", "recall_visible": "tab:red",
          "specificity": "tab:purple", "ablation_efficiency": "tab:green"}
SPLITS = {"validation": "-", "test": "--"}
POINT_COLOURS = ("tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray")  # none of CURVES'


def operating_points_figure(sweeps: dict[str, dict[float, list[dict]]], points: list[dict], path, title: str = "",
                            noise: str = "") -> Path:
    """`sweeps`: {split: {level: rows}}; `points`: [{point, threshold}] to mark. One row of two
    panels per level: scores vs threshold (validation solid, test dashed; the reference point's scores as
    dotted lines in each score's colour), and precision vs recall (the chosen points on both
    curves, the reference point as a black cross)."""
    levels = sorted(next(iter(sweeps.values())))
    fig, axes = subplots(len(levels), 2, figsize=(11, 3.6 * len(levels) + 0.8), squeeze=False)
    fig.subplots_adjust(left=0.07, right=0.8, top=1 - 0.75 / (3.6 * len(levels) + 0.8), bottom=0.07, hspace=0.45,
                        wspace=0.25)
    for (left, right), level in zip(axes, levels):
        for split, style in SPLITS.items():
            rows = sweeps[split][level]
            ts = [r["threshold"] for r in rows]
            for key, colour in CURVES.items():
                values = [100 * r[key] for r in rows]
                if all(v != v for v in values):  # NaN everywhere: no added-ink mask for this kind
                    continue
                left.plot(ts, values, style, color=colour, lw=1.3, label=f"{key} ({split})")
            right.plot([100 * r["recall"] for r in rows], [100 * r["precision"] for r in rows], style, color="tab:blue",
                       lw=1.3, label=f"{split}")
            for i, p in enumerate(points):
                r = min(rows, key=lambda row: abs(row["threshold"] - p["threshold"]))
                right.plot(100 * r["recall"], 100 * r["precision"], "*" if split == "test" else "o", ms=11 - 3 * i,
                           color=POINT_COLOURS[i % len(POINT_COLOURS)], mec="black", mew=0.6, zorder=5,
                           label=f"{p['point']} t={p['threshold']:.2f} ({split})")
        for key, value in REFERENCE_POINT.items():
            left.axhline(100 * value, color=CURVES[key], ls=":", lw=1)
        for i, p in enumerate(points):
            colour = POINT_COLOURS[i % len(POINT_COLOURS)]
            left.axvline(p["threshold"], color=colour, lw=1.2, alpha=0.8)
            left.annotate(p["point"], (p["threshold"], 0.02), xycoords=("data", "axes fraction"), rotation=90,
                          fontsize=7, ha="right", va="bottom", color=colour)
        right.plot(100 * REFERENCE_POINT["recall"], 100 * REFERENCE_POINT["precision"], "X", color="black", ms=9,
                   zorder=6, label="the reference point")
        low = min(80.0, *(100 * r[k] for split in sweeps.values() for r in split[level]
                          for k in ("precision", "recall", "ablation_efficiency") if r[k] == r[k] and r[k] > 0.5))
        left.set(xlabel="output threshold", ylabel="%", ylim=(low - 1, 100.5), xlim=(0, 1),
                 title=f"{noise} {level:g}: scores vs threshold (dotted: reference point)")
        right.set(xlabel="recall %", ylabel="precision %", title=f"{noise} {level:g}: precision vs recall")
        zoom = min(90.0, *(100 * REFERENCE_POINT[k] - 2 for k in ("precision", "recall")),
                   *(100 * r[k] for split in sweeps.values() for r in split[level]
                     for p in points if abs(r["threshold"] - p["threshold"]) < 1e-9 for k in ("precision", "recall")))
        right.set_xlim(zoom - 0.5, 100.2)  # the region the points are in: the curve's tails run off it
        right.set_ylim(zoom - 0.5, 100.2)
        for ax in (left, right):
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(2.27, 1.0), title="scores", title_fontsize=8)
    axes[0][1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 0.35), title="precision vs recall",
                      title_fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, Path(path))
