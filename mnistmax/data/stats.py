"""What `mnistmax data stats` shows: an overview of the data a config's `data:` section describes,
split as training splits it (train / val / test, limits applied). Per split: the images, the
pixel mean and standard deviation (pixels in [0, 1]), the ink fraction (pixels above INK), and for
labelled data the class balance and each class's mean intensity; and the mean digit of each class
over all splits. `data_stats(cfg)` computes it, `tables` / `as_json` / `draw` / `write` show it.
Unlabelled data has no class columns and says so."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch

from mnistmax.config import RunConfig, parse_override
from mnistmax.errors import ConfigError

INK = 0.5  # a pixel above this (of [0, 1]) is ink
SPLITS = ("train", "val", "test")
KEYS = ("data", "seed")  # what an override may set: the data and the seed that draws its hold-outs
CHUNK = 8192  # images summed at a time (full MNIST as float64 at once would take 370 MB)


@dataclass
class Sums:
    """Running sums over images (float64, pixels in [0, 1]); `by_class` (K, H, W), K = 1 unlabelled."""

    images: int
    pixels: float
    squares: float
    ink: int
    by_class: torch.Tensor
    counts: torch.Tensor  # (K,) images per class

    def __add__(self, other: Sums) -> Sums:
        return Sums(self.images + other.images, self.pixels + other.pixels, self.squares + other.squares,
                    self.ink + other.ink, self.by_class + other.by_class, self.counts + other.counts)


def sums(images: torch.Tensor, labels: torch.Tensor | None, k: int) -> Sums:
    """Sums over uint8 (N, H, W) images; `labels` None: every image counts as class 0 of k=1."""
    h, w = images.shape[-2:] if images.ndim == 3 else (28, 28)
    out = Sums(0, 0.0, 0.0, 0, torch.zeros(k, h, w, dtype=torch.float64), torch.zeros(k, dtype=torch.long))
    for start in range(0, len(images), CHUNK):
        x = images[start : start + CHUNK].to(torch.float64) / 255.0  # (c, H, W)
        y = torch.zeros(len(x), dtype=torch.long) if labels is None else labels[start : start + CHUNK]
        out.images += len(x)
        out.pixels += float(x.sum())
        out.squares += float((x * x).sum())
        out.ink += int((x > INK).sum())
        out.by_class.index_add_(0, y, x)
        out.counts += torch.bincount(y, minlength=k)
    return out


@dataclass
class SplitStats:
    images: int
    mean: float | None  # None: an empty split
    std: float | None
    ink_fraction: float | None
    class_counts: list[int] | None  # None: unlabelled
    class_mean: list[float | None] | None  # each class's mean intensity (None: no image of it here)

    @classmethod
    def of(cls, s: Sums, labelled: bool) -> SplitStats:
        n = s.images * s.by_class[0].numel()
        if not n:
            return cls(0, None, None, None, [0] * len(s.counts) if labelled else None,
                       [None] * len(s.counts) if labelled else None)
        mean = s.pixels / n
        std = max(0.0, s.squares / n - mean * mean) ** 0.5
        counts = s.counts.tolist()
        class_mean = [float(t.sum()) / (c * t.numel()) if c else None for t, c in zip(s.by_class, counts)]
        return cls(s.images, mean, std, s.ink / n, counts if labelled else None, class_mean if labelled else None)


@dataclass
class DataStats:
    source: str
    dataset: str
    description: str
    classes: list[str] | None  # None: unlabelled
    splits: dict[str, SplitStats]  # train, val, test, and "all" (every split together)
    mean_digits: torch.Tensor  # (K, H, W) float in [0, 1]: each class's mean image; unlabelled (1, H, W)

    @property
    def labelled(self) -> bool:
        return self.classes is not None


def check_overrides(overrides: list[str]) -> None:
    """`data stats` takes data.* keys and `seed`: any other override is one ConfigError line."""
    for override in overrides:
        key = ".".join(parse_override(override)[0])
        if key.split(".")[0] not in KEYS:
            raise ConfigError(f"override {key}: data stats reads data.* keys and seed only (the data and the seed "
                              "that draws its validation and test hold-outs)")


def class_names(bundle, cfg: RunConfig) -> list[str] | None:
    """The classes' names, label 0 first (data.class_names, the source's, else the numbers); None unlabelled."""
    from mnistmax.data.sources import class_count

    if not bundle.labelled:
        return None
    k = max(class_count(bundle), cfg.data.num_classes or 0)
    named = [str(c) for c in (cfg.data.class_names or bundle.classes or [])][:k]
    return named + [str(i) for i in range(len(named), k)]


def data_stats(cfg: RunConfig) -> DataStats:
    """The overview of `cfg`'s data (data.* keys and seed), split as training would split it."""
    from mnistmax.data.datamodule import load_bundle, make_splits

    bundle = load_bundle(cfg)
    splits = make_splits(bundle, cfg)
    classes = class_names(bundle, cfg)
    k = len(classes) if classes else 1
    per_split = {name: sums(*_split(getattr(splits, name), classes), k) for name in SPLITS}
    total = per_split["train"] + per_split["val"] + per_split["test"]
    stats = {name: SplitStats.of(s, classes is not None) for name, s in {**per_split, "all": total}.items()}
    counts = total.counts.clamp(min=1).to(torch.float64)[:, None, None]
    return DataStats(bundle.source, cfg.data.dataset, bundle.description, classes, stats,
                     (total.by_class / counts).float())


def _split(split, classes):
    images, labels = split
    return images, labels if classes is not None else None


# ---------------------------------------------------------------- showing it


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def tables(stats: DataStats) -> list[dict]:
    """Table specs ({"title", "columns", "rows"} of strings): the pixels of each split, and for
    labelled data the class balance per split with each class's mean intensity."""
    pixels = {"title": stats.description,  # pixels in [0, 1]
              "columns": ["split", "images", "pixel mean", "pixel std", f"ink (> {INK:g})"],
              "rows": [[name, f"{s.images:,}", _num(s.mean, ".4f"), _num(s.std, ".4f"), _num(s.ink_fraction, ".4f")]
                       for name, s in stats.splits.items()]}
    if not stats.labelled:
        return [pixels]

    def share(split: SplitStats, i: int) -> str:
        n = split.class_counts[i]
        return f"{n:,} ({100 * n / split.images:.1f}%)" if split.images else "0"

    balance = {"title": "class balance per split (images, share) and mean intensity (all splits)",
               "columns": ["class", *SPLITS, "all", "mean intensity"],
               "rows": [[name, *(share(stats.splits[s], i) for s in (*SPLITS, "all")),
                         _num(stats.splits["all"].class_mean[i], ".4f")] for i, name in enumerate(stats.classes)]}
    return [pixels, balance]


def as_json(stats: DataStats) -> dict:
    """The numbers of `tables`, with each split's per-class mean intensity (classes by name)."""
    def split(s: SplitStats) -> dict:
        out = {"images": s.images, "pixel_mean": s.mean, "pixel_std": s.std, "ink_fraction": s.ink_fraction}
        if stats.labelled:
            out["class_counts"] = dict(zip(stats.classes, s.class_counts))
            out["class_mean_intensity"] = dict(zip(stats.classes, s.class_mean))
        return out

    return {"source": stats.source, "dataset": stats.dataset, "description": stats.description,
            "labelled": stats.labelled, "classes": stats.classes, "ink_threshold": INK,
            "splits": {name: split(s) for name, s in stats.splits.items()}}


def draw(stats: DataStats, path: Path) -> Path:
    """Top: the mean digit of each class (its name in the corner); bottom: the class balance, one bar
    per split and class (its share of the split). Unlabelled: the mean image and the images per split."""
    import numpy as np

    from mnistmax.viz.figures import DIGIT, mosaic, save_figure, subplots

    k = len(stats.mean_digits)
    cols = min(k, 10)
    rows = -(-k // cols)
    fig, (ax_img, ax_bar) = subplots(2, 1, figsize=(max(6.0, 0.75 * cols + 1.2), 0.8 * rows + 3.6),
                                     gridspec_kw={"height_ratios": [rows * 1.1, 2.4]})
    fig.subplots_adjust(left=0.1, right=0.98, top=0.9, bottom=0.12, hspace=0.3)
    ax_img.imshow(mosaic(stats.mean_digits.unsqueeze(1), cols=cols), **DIGIT)
    ax_img.set_axis_off()
    h, w = stats.mean_digits.shape[-2:]
    names = stats.classes or ["all images"]
    for i, name in enumerate(names):
        r, c = divmod(i, cols)
        ax_img.text(c * (w + 2) + 1, r * (h + 2) + 1, name, color="yellow", fontsize=6, ha="left", va="top")
    split_names = [s for s in SPLITS if stats.splits[s].images]
    if stats.labelled:
        ax_img.set_title("mean digit of each class (all splits)", fontsize=9)
        width = 0.8 / max(1, len(split_names))
        x = np.arange(k)
        for j, s in enumerate(split_names):
            split = stats.splits[s]
            shares = [100 * n / split.images for n in split.class_counts]
            ax_bar.bar(x + (j - (len(split_names) - 1) / 2) * width, shares, width, label=f"{s} ({split.images:,})")
        ax_bar.set_xticks(x, stats.classes, fontsize=7, rotation=0 if k <= 12 else 90)
        ax_bar.set_ylabel("share of the split (%)")
        ax_bar.set_title("class balance per split", fontsize=9)
        top = max((100 * n / stats.splits[s].images for s in split_names for n in stats.splits[s].class_counts),
                  default=1.0)
        ax_bar.set_ylim(0, top * 1.3)  # room for the legend above the bars
        ax_bar.legend(fontsize=7, loc="upper right", ncol=len(split_names))
    else:
        ax_img.set_title("mean image (unlabelled data: no classes)", fontsize=9)
        ax_bar.bar(split_names, [stats.splits[s].images for s in split_names], color="0.5")
        ax_bar.set_ylabel("images")
        ax_bar.set_title("images per split (unlabelled: no class balance)", fontsize=9)
    ax_bar.grid(axis="y", alpha=0.3)
    fig.suptitle(stats.description, fontsize=10)
    return save_figure(fig, path)


def default_folder(stats: DataStats, root: str | Path, data_root: str) -> Path:
    """<root>/data-stats/<source>-<name>: the dataset's name, or your file's or folder's."""
    name = Path(data_root).stem if stats.source in ("npz", "folder") else stats.dataset
    return Path(root) / "data-stats" / re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{stats.source}-{name}")


def write(stats: DataStats, folder: Path) -> list[Path]:
    """stats.json and stats.png into `folder` (created), written atomically."""
    from mnistmax.files import write_json

    folder = Path(folder)
    return [write_json(folder / "stats.json", as_json(stats)), draw(stats, folder / "stats.png")]
