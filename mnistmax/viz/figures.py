"""Figure functions: tensors in, a saved PNG out. Digits always use the grey colormap on
[0, 1]; error maps use `magma` with a colour bar. Layouts are fixed-size (no tight bbox) so
frames of the same figure line up in an animation.

Figures are matplotlib `Figure` objects made here (`subplots`, `new_figure`), never pyplot's: no
global backend is switched and nothing is registered with pyplot, so importing mnistmax leaves a
notebook's `plt.show()` and its inline backend alone."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import torch
from matplotlib.figure import Figure

from mnistmax.files import write_atomic

DIGIT = {"cmap": "gray", "vmin": 0.0, "vmax": 1.0, "interpolation": "nearest"}


def _img(x: torch.Tensor) -> np.ndarray:
    return x.detach().float().cpu().reshape(x.shape[-2], x.shape[-1]).numpy()


def _off(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def new_figure(figsize=None, layout=None) -> Figure:
    """A figure that belongs to no pyplot backend (saving it to PNG draws it with Agg)."""
    return Figure(figsize=figsize, layout=layout)


def subplots(nrows: int = 1, ncols: int = 1, *, figsize=None, layout=None, **kwargs):
    """`plt.subplots` without pyplot: (figure, axes)."""
    fig = new_figure(figsize, layout)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def save_figure(fig, path: str | Path, dpi: int = 100) -> Path:
    """Save atomically (a viewer watching `*_latest.png` never sees half a file)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return write_atomic(path, buf.getvalue())


def tile(rows: list[list[torch.Tensor | None]], pad: int = 2, row_gap: list[int] | None = None,
         fill: float = 1.0) -> np.ndarray:
    """Lay out (1, H, W) images in rows and columns on one array (None leaves a white cell);
    `row_gap[i]` extra pixels below row i (room for labels). Gaps hold `fill` (white for
    digits; NaN, drawn white, for colour-mapped maps)."""
    h, w = 28, 28
    for row in rows:
        for x in row:
            if x is not None:
                h, w = x.shape[-2:]
                break
    cols = max(len(r) for r in rows)
    gaps = row_gap or [0] * len(rows)
    height = sum(h + pad + g for g in gaps) - pad
    out = np.full((height, cols * (w + pad) - pad), fill, dtype=np.float32)
    top = 0
    for row, gap in zip(rows, gaps):
        for j, x in enumerate(row):
            if x is not None:
                out[top : top + h, j * (w + pad) : j * (w + pad) + w] = _img(x)
        top += h + pad + gap
    return out


def recon_grid(clean, noisy, denoised, path, title: str = "", psnr: torch.Tensor | None = None) -> Path:
    """Rows of digits; columns clean | noisy | denoised | |error| (magma, with a colour bar)."""
    labels = None if psnr is None else [f"{float(v):.1f}" for v in psnr]
    return error_grid({"clean": clean, "noisy": noisy, "denoised": denoised}, clean, denoised, path, title, labels)


def reconstruction_grid(clean, reconstruction, path, title: str = "", mse: torch.Tensor | None = None) -> Path:
    """An autoencoder's rows of digits: columns clean | reconstruction | |error|; each digit's MSE
    in the corner of its reconstruction."""
    labels = None if mse is None else [f"{float(v):.4f}" for v in mse]
    return error_grid({"clean": clean, "reconstruction": reconstruction}, clean, reconstruction, path, title, labels)


def error_grid(columns: dict[str, torch.Tensor], target, output, path, title: str = "",
               labels: list[str] | None = None) -> Path:
    """Rows of digits: the `columns` ({heading: (N, 1, H, W)}, output last) and |output - target|
    (magma, with a colour bar); `labels[i]` written in the corner of row i's output."""
    n, cols = len(target), len(columns)
    error = (output.float() - target.float()).abs()
    vmax = max(0.05, float(error.max()))
    width = 0.62 * (cols + 1) + 0.92
    fig = new_figure(figsize=(width, 0.62 * n + 0.9))
    top = 1 - 0.7 / (0.62 * n + 0.9)
    right = 1 - 0.68 / width
    grid = fig.add_gridspec(1, 2, width_ratios=[30 * cols - 2, 28], wspace=0.06, left=0.02, right=right, top=top,
                            bottom=0.02)
    ax, ax_err = fig.add_subplot(grid[0]), fig.add_subplot(grid[1])
    ax.imshow(tile([[x[i] for x in columns.values()] for i in range(n)]), **DIGIT)
    cmap = matplotlib.colormaps["magma"].with_extremes(bad="white")
    im = ax_err.imshow(tile([[error[i]] for i in range(n)], fill=np.nan), cmap=cmap, vmin=0, vmax=vmax,
                       interpolation="nearest")
    cax = fig.add_axes([right + 0.03, 0.1, 0.1 / width, top - 0.2])
    for a in (ax, ax_err):
        _off(a)
    for j, name in enumerate(columns):
        ax.text(j * 30 + 14, -3, name, ha="center", va="bottom", fontsize=9 if len(name) < 10 else 7.5)
    ax_err.text(14, -3, "|error|", ha="center", va="bottom", fontsize=9)
    for i, label in enumerate(labels or []):
        ax.text((cols - 1) * 30 + 27, i * 30 + 27, label, color="yellow", fontsize=6, ha="right", va="bottom")
    fig.colorbar(im, cax=cax).ax.tick_params(labelsize=6)
    fig.suptitle(title, fontsize=9, y=0.995)
    return save_figure(fig, path)


def sigma_panel(noisy_by_sigma, denoised_by_sigma, clean, sigmas, psnr_by_sigma, path, title: str = "") -> Path:
    """For each digit a noisy row above a denoised row, one column per σ, the clean digit on
    the left; the PSNR of each denoised digit under it. `*_by_sigma` are lists (one per σ)."""
    n, cols = len(clean), len(sigmas)
    rows, gaps = [], []
    for i in range(n):
        rows.append([clean[i]] + [noisy_by_sigma[j][i] for j in range(cols)])
        rows.append([None] + [denoised_by_sigma[j][i] for j in range(cols)])
        gaps += [0, 10]
    mosaic_img = tile(rows, row_gap=gaps)
    fig = new_figure(figsize=(0.62 * (cols + 1) + 0.9, 0.69 * n * 2 + 0.8))
    top = 1 - 0.65 / (0.69 * n * 2 + 0.8)
    ax = fig.add_axes([0.09, 0.01, 0.9, top - 0.01])
    ax.imshow(mosaic_img, **DIGIT)
    _off(ax)
    ax.text(14, -3, "clean", ha="center", va="bottom", fontsize=8)
    for j, sigma in enumerate(sigmas):
        ax.text((j + 1) * 30 + 14, -3, f"σ={sigma:g}", ha="center", va="bottom", fontsize=8)
    for i in range(n):
        y0 = i * (2 * 30 + 10)
        ax.text(-4, y0 + 14, "noisy", ha="right", va="center", fontsize=8)
        ax.text(-4, y0 + 30 + 14, "denoised", ha="right", va="center", fontsize=8)
        for j in range(cols):
            ax.text((j + 1) * 30 + 14, y0 + 60, f"{float(psnr_by_sigma[j][i]):.1f} dB", ha="center", va="top",
                    fontsize=6.5)
    fig.suptitle(title, fontsize=10, y=0.995)
    return save_figure(fig, path)


def training_curves(history: dict[str, list[tuple[int, float]]], path, title: str = "") -> Path:
    """Left: train/val loss per epoch (log scale); right: val PSNR per epoch (the online
    linear probe's accuracy for encoder runs)."""
    fig, (ax_loss, ax_psnr) = subplots(1, 2, figsize=(9, 3.4))
    fig.subplots_adjust(left=0.08, right=0.98, top=0.84, bottom=0.16, wspace=0.25)
    for key, style in (("train/loss", "-o"), ("val/loss", "-s")):
        if history.get(key):
            epochs, values = zip(*history[key])
            ax_loss.plot(np.array(epochs) + 1, values, style, ms=3, label=key)
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_loss.legend(fontsize=8)
    ax_loss.grid(alpha=0.3)
    key, label, scale, unit = (("val/psnr", "val PSNR (dB)", 1.0, " dB") if history.get("val/psnr")
                               else ("val/probe_acc", "val linear-probe accuracy (%)", 100.0, "%"))
    if history.get(key):
        epochs, values = zip(*history[key])
        values = [v * scale for v in values]
        ax_psnr.plot(np.array(epochs) + 1, values, "-o", ms=3, color="tab:green")
        best = int(np.argmax(values))
        late = best >= len(values) / 2
        ax_psnr.annotate(f"best {values[best]:.2f}{unit}", (epochs[best] + 1, values[best]), fontsize=8,
                         xytext=(-4 if late else 4, -14), textcoords="offset points", ha="right" if late else "left")
    ax_psnr.set_xlabel("epoch")
    ax_psnr.set_ylabel(label)
    ax_psnr.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def case_grid(clean, noisy, denoised, psnr, labels: list[str], path, title: str = "") -> Path:
    """Columns of digits (e.g. best and worst); rows clean / noisy / denoised; PSNR below."""
    n = len(clean)
    fig, axes = subplots(3, n, figsize=(0.95 * n + 0.6, 3.6), squeeze=False)
    fig.subplots_adjust(left=0.08, right=0.99, top=0.8, bottom=0.1, wspace=0.06, hspace=0.1)
    for j in range(n):
        for i, x in enumerate((clean, noisy, denoised)):
            axes[i, j].imshow(_img(x[j]), **DIGIT)
            _off(axes[i, j])
        axes[0, j].set_title(labels[j], fontsize=7)
        axes[2, j].set_xlabel(f"{float(psnr[j]):.1f} dB", fontsize=7)
    for i, name in enumerate(("clean", "noisy", "denoised")):
        axes[i, 0].set_ylabel(name, fontsize=8)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def noise_gallery(images_by_kind: dict[str, list[torch.Tensor]], levels, path, title: str = "") -> Path:
    """Rows: noise kinds; columns: levels; each cell a 2x3 mosaic of the same six digits."""
    kinds = list(images_by_kind)
    fig, axes = subplots(len(kinds), len(levels), figsize=(1.45 * len(levels) + 1.1, 1.05 * len(kinds) + 0.7),
                             squeeze=False)
    fig.subplots_adjust(left=0.13, right=0.99, top=1 - 0.55 / (1.05 * len(kinds) + 0.7), bottom=0.01,
                        wspace=0.06, hspace=0.08)
    for i, kind in enumerate(kinds):
        for j, level in enumerate(levels):
            axes[i, j].imshow(mosaic(images_by_kind[kind][j], cols=3), **DIGIT)
            _off(axes[i, j])
            if i == 0:
                axes[i, j].set_title(f"level {level:g}", fontsize=8)
        axes[i, 0].set_ylabel(kind, fontsize=8, rotation=0, ha="right", va="center")
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def mosaic(images: torch.Tensor, cols: int, pad: int = 2) -> np.ndarray:
    """(N, 1, H, W) -> one (rows*(H+pad), cols*(W+pad)) array with grey separators."""
    n, h, w = len(images), images.shape[-2], images.shape[-1]
    rows = -(-n // cols)
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad), 0.5, dtype=np.float32)
    for k in range(n):
        r, c = divmod(k, cols)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = _img(images[k])
    return out


def noise_gallery_frame(images_by_kind: dict[str, list[torch.Tensor]], level: float):
    """One GIF frame (a PIL image): each kind's six digits in a row at one level."""
    import io

    from PIL import Image

    kinds = list(images_by_kind)
    fig, axes = subplots(len(kinds), 1, figsize=(5.2, 0.95 * len(kinds) + 0.6), squeeze=False)
    fig.subplots_adjust(left=0.2, right=0.99, top=1 - 0.5 / (0.95 * len(kinds) + 0.6), bottom=0.01, hspace=0.1)
    for i, kind in enumerate(kinds):
        axes[i, 0].imshow(mosaic(images_by_kind[kind][0], cols=6), **DIGIT)
        _off(axes[i, 0])
        axes[i, 0].set_ylabel(kind, fontsize=8, rotation=0, ha="right", va="center")
    fig.suptitle(f"noise level {level:.2f}", fontsize=10)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, facecolor="white")
    buf.seek(0)
    return Image.open(buf).convert("RGB")


ABLATION_COLOURS = {  # RGB in [0, 1]
    "kept signal": (1.0, 1.0, 1.0),
    "removed noise": (0.2, 0.55, 1.0),
    "wrongly removed signal": (1.0, 0.15, 0.15),
    "missed noise": (1.0, 0.85, 0.0),
}


def ablation_colours(clean, noisy, output, threshold: float = 0.5) -> np.ndarray:
    """(N, H, W, 3) colour map: kept signal white, removed noise blue, wrongly removed signal
    red, missed noise yellow, empty background black."""
    sig = (clean > threshold).squeeze(1).cpu().numpy()
    noise = ((noisy > threshold) & (clean <= threshold)).squeeze(1).cpu().numpy()
    out = (output > threshold).squeeze(1).cpu().numpy()
    rgb = np.zeros((*sig.shape, 3), dtype=np.float32)
    for mask, name in ((sig & out, "kept signal"), (noise & ~out, "removed noise"),
                       (sig & ~out, "wrongly removed signal"), (noise & out, "missed noise")):
        rgb[mask] = ABLATION_COLOURS[name]
    return rgb


def ablation_map(clean, noisy, output, path, title: str = "", threshold: float = 0.5) -> Path:
    """Rows of digits; columns clean | noisy | output | ablation map (four colours + legend)."""
    from matplotlib.patches import Patch

    n = len(clean)
    colours = ablation_colours(clean, noisy, output, threshold)
    fig, axes = subplots(n, 4, figsize=(4.2, 0.95 * n + 1.5), squeeze=False)
    fig.subplots_adjust(left=0.02, right=0.98, top=1 - 0.75 / (0.95 * n + 1.5), bottom=0.8 / (0.95 * n + 1.5),
                        wspace=0.05, hspace=0.06)
    for j, name in enumerate(("clean", "noisy", "output", "ablation map")):
        axes[0, j].set_title(name, fontsize=8)
    for i in range(n):
        for j, x in enumerate((clean, noisy, output)):
            axes[i, j].imshow(_img(x[i]), **DIGIT)
        axes[i, 3].imshow(colours[i], interpolation="nearest")
        for ax in axes[i]:
            _off(ax)
    handles = [Patch(facecolor=c, edgecolor="grey", label=name) for name, c in ABLATION_COLOURS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def embedding_scatter(points: np.ndarray, labels: np.ndarray, path, title: str = "", ax_title: str = "") -> Path:
    """2-D scatter coloured by digit (tab10), with a legend of the ten classes."""
    fig, ax = subplots(figsize=(5.6, 5.0))
    fig.subplots_adjust(left=0.08, right=0.82, top=0.9, bottom=0.08)
    draw_scatter(ax, points, labels)
    ax.set_title(ax_title, fontsize=9)
    ax.legend(*ax.get_legend_handles_labels(), loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8,
              title="digit", markerscale=2, frameon=False)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def draw_scatter(ax, points: np.ndarray, labels: np.ndarray, size: float = 7) -> None:
    """Points coloured by class (any number of classes; unlabelled points, label -1, in grey)."""
    classes = sorted(set(np.asarray(labels).tolist()))
    cmap = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20" if len(classes) <= 20 else "turbo"]
    for i, c in enumerate(classes):
        sel = labels == c
        color = "0.45" if c < 0 else cmap(i if len(classes) <= 20 else i / max(1, len(classes) - 1))
        label = "unlabelled" if c < 0 else str(c) if len(classes) <= 20 or i % (len(classes) // 10) == 0 else None
        ax.scatter(points[sel, 0], points[sel, 1], s=size, color=color, label=label, alpha=0.8, linewidths=0)
    ax.set_xticks([])
    ax.set_yticks([])


def scatter_frame(points: np.ndarray, labels: np.ndarray, title: str, limits: float):
    """One GIF frame (PIL image) of a 2-D scatter with fixed axis limits."""
    import io

    from PIL import Image

    fig, ax = subplots(figsize=(4.2, 4.2))
    fig.subplots_adjust(left=0.04, right=0.96, top=0.9, bottom=0.04)
    draw_scatter(ax, points, labels, size=12)
    ax.set_xlim(-limits, limits)
    ax.set_ylim(-limits, limits)
    ax.set_title(title, fontsize=9)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, facecolor="white")
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def labelled_rows(rows: list[list[torch.Tensor]], row_labels: list[str], col_labels: list[str], path,
                  title: str = "") -> Path:
    """A mosaic of digit rows with optional row labels (left) and column labels (top)."""
    mosaic_img = tile(rows)
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig = new_figure(figsize=(0.62 * n_cols + 1.0, 0.62 * n_rows + 0.9))
    top = 1 - 0.75 / (0.62 * n_rows + 0.9)
    left = (0.8 if any(row_labels) else 0.1) / (0.62 * n_cols + 1.0)
    ax = fig.add_axes([left, 0.01, 1 - left - 0.05 / (0.62 * n_cols + 1.0), top - 0.01])
    ax.imshow(mosaic_img, **DIGIT)
    _off(ax)
    for j, label in enumerate(col_labels):
        ax.text(j * 30 + 14, -3, label, ha="center", va="bottom", fontsize=6.5)
    for i, label in enumerate(row_labels):
        if label:
            ax.text(-4, i * 30 + 14, label, ha="right", va="center", fontsize=7)
    fig.suptitle(title, fontsize=9, y=0.995)
    return save_figure(fig, path)
