"""Pictures of the limitations analysis: power spectra, scores against the noise level,
digits whose class changed, the most blended outputs, and what comes out of input that holds
no digit."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

from mnistmax.viz.figures import labelled_rows, save_figure, subplots


def _colours(n: int):
    return matplotlib.colormaps["viridis"](np.linspace(0.0, 0.9, max(n, 1)))


def _shade_unseen(ax, rows: list[dict]) -> None:
    unseen = [r["sigma"] for r in rows if not r["seen"]]
    if unseen and len(unseen) < len(rows):
        ax.axvspan(min(unseen) - 0.03, max(unseen) + 0.03, color="#f2e6c9", zorder=0, label="not trained on")


def spectrum_figure(freqs, clean, curves: dict[str, list[float]], cutoff: float, path: Path, title: str) -> Path:
    """Left: radially averaged power (log scale) of the clean digits and of each curve.
    Right: each curve divided by the clean spectrum, so 1 means the frequency is kept."""
    f = np.asarray(freqs)[1:]
    c = np.asarray(clean)[1:]
    fig, (ax, ax_ratio) = subplots(1, 2, figsize=(10.5, 3.8))
    ax.semilogy(f, c, color="black", lw=2.2, label="clean digits")
    for colour, (label, power) in zip(_colours(len(curves)), curves.items()):
        p = np.asarray(power)[1:]
        ax.semilogy(f, p, color=colour, lw=1.4, label=label)
        ax_ratio.plot(f, p / np.maximum(c, 1e-12), color=colour, lw=1.4, label=label)
    for a in (ax, ax_ratio):
        a.axvline(cutoff, color="#c0392b", ls="--", lw=1)
        a.set_xlabel("spatial frequency (cycles / pixel)")
        a.grid(alpha=0.3)
    ax.set_ylabel("mean power")
    ax_ratio.axhline(1.0, color="black", lw=1)
    ax_ratio.set_ylabel("power / clean power")
    ax_ratio.set_ylim(0, max(1.6, min(4.0, ax_ratio.get_ylim()[1])))
    ax_ratio.text(cutoff, ax_ratio.get_ylim()[1] * 0.97, f" cut-off {cutoff:g}", color="#c0392b", va="top", fontsize=8)
    ax.legend(fontsize=7, loc="lower left")
    fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.14, top=0.86, wspace=0.25)
    return save_figure(fig, path)


def scores_figure(rows: list[dict], clean_acc: float, path: Path, title: str) -> Path:
    """Four panels against σ: shape scores, high-frequency ratio, the judge's accuracy, flip
    rate and mode averaging, the judge's entropy. Levels the run never trained on are shaded."""
    s = [r["sigma"] for r in rows]
    fig, axes = subplots(1, 4, figsize=(14, 3.4))
    panels = [
        ("shape scores (0 = ideal)", [("over-smoothing", "oversmoothing"), ("diversity collapse", "diversity_collapse"),
                                      ("noise sensitivity", "noise_sensitivity")]),
        ("high-frequency power / clean", [("denoised", "hf_ratio"), ("noisy input", "hf_ratio_noisy")]),
        ("judge", [("accuracy, noisy", "acc_noisy"), ("accuracy, denoised", "acc_denoised"),
                   ("class changed by denoising", "flip_rate"), ("mode averaging", "mode_averaging")]),
        ("judge entropy (bits)", [("noisy", "entropy_noisy"), ("denoised", "entropy_denoised")]),
    ]
    for ax, (name, series) in zip(axes, panels):
        _shade_unseen(ax, rows)
        for label, key in series:
            ax.plot(s, [r[key] for r in rows], marker="o", ms=3.5, lw=1.5, label=label)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("noise level σ")
        ax.grid(alpha=0.3)
    axes[1].axhline(1.0, color="black", lw=0.8)
    axes[1].set_yscale("log")
    axes[2].axhline(clean_acc, color="black", lw=0.8, ls=":", label="accuracy, clean")
    for ax in axes:
        ax.legend(fontsize=6.5, loc="best")
    fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(left=0.04, right=0.99, bottom=0.16, top=0.82, wspace=0.28)
    return save_figure(fig, path)


def changed_figure(changed: dict, path: Path, title: str) -> Path | None:
    images = changed.get("images") or {}
    if not changed.get("index"):
        return None
    rows = [list(images[k]) for k in ("clean", "noisy", "denoised")]
    cols = [f"{a}→{b}" for a, b in zip(changed["label"], changed["denoised_as"])]
    return labelled_rows(rows, ["clean", "noisy", "denoised"], cols, path, title=title)


def blended_figure(blended: dict, path: Path, title: str) -> Path | None:
    """Clean | noisy | output for the most blended outputs, each column headed by the judge's
    two likeliest classes for the output and their probabilities."""
    images = blended.get("images") or {}
    if not blended.get("index"):
        return None
    rows = [list(images[k]) for k in ("clean", "noisy", "denoised")]
    cols = [f"{a} {pa:.0%}\n{b} {pb:.0%}" for (a, b), (pa, pb) in zip(blended["classes"], blended["probs"])]
    return labelled_rows(rows, ["clean", "noisy", "output"], cols, path, title=title)


def no_digit_figure(no_digit: dict, path: Path, title: str) -> Path:
    images = no_digit["images"]
    outputs = list(images["outputs"])
    half = (len(outputs) + 1) // 2
    if images["inputs"] is not None:
        inputs = list(images["inputs"])
        rows = [inputs[:half], outputs[:half], inputs[half:], outputs[half:]]
        labels = ["input", "output", "input", "output"]
    else:
        rows, labels = [outputs[:half], outputs[half:]], ["output", "output"]
    return labelled_rows(rows, labels, [], path, title=title)
