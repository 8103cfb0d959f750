"""Latent explorer for `conv_ae` and `vae_conv` runs: interpolation, sampling, traversal,
arithmetic on class means and on chosen test digits, decoding the user's own latent vectors,
per-dimension statistics with the correlation matrix, real digits beside generated ones and a
PCA of test latents. Each picture goes under the run's grids/ (tables under eval/); every
function returns the paths it wrote."""

from __future__ import annotations

import csv
import io
import re
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from mnistmax.analysis.modes import LATENT_SPLITS, SAMPLE_MODES
from mnistmax.data.arrays import is_labelled
from mnistmax.data.datamodule import clean_images
from mnistmax.errors import ConfigError, DataError, MnistmaxError
from mnistmax.eval.projection import pca_2d
from mnistmax.files import write_atomic, write_json, write_with
from mnistmax.inference import batched
from mnistmax.viz import figures

MAX_VECTORS = 1024  # latent vectors decoded in one call (one picture)
MAX_TEXT_BYTES = 16 * 2**20  # a text/CSV file of latent vectors larger than this is refused unread


class LatentSpace:
    """A loaded autoencoder run with the latent codes of its train and test splits (each split is
    loaded and encoded on first use: decoding the user's vectors needs neither)."""

    def __init__(self, run):
        run.require("decode", "the latent explorer")
        self.run_dir, self.cfg, self.task = run.run_dir, run.cfg, run.task
        self._run = run

    @cached_property
    def test_images(self) -> torch.Tensor:
        return self._run.splits.test[0]

    @cached_property
    def test_labels(self) -> torch.Tensor:
        return self._run.splits.test[1]

    @cached_property
    def train_labels(self) -> torch.Tensor:
        return self._run.splits.train[1]

    @cached_property
    def train_z(self) -> torch.Tensor:
        return self.encode(self._run.splits.train[0])

    @cached_property
    def test_z(self) -> torch.Tensor:
        return self.encode(self.test_images)

    @cached_property
    def latent_dim(self) -> int:
        """How many numbers a latent code has (the code of a blank digit, no data loaded)."""
        return int(self.encode(torch.zeros(1, 28, 28, dtype=torch.uint8)).shape[1])

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return batched(self.task.encode, clean_images(images, self.cfg), 1000, module=self.task)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images of latent codes (on the CPU, the model on its own device)."""
        return batched(self.task.decode, z, 1000, module=self.task)

    def split_z(self, split: str) -> torch.Tensor:
        if split not in LATENT_SPLITS:
            raise ConfigError(f"unknown split {split!r}; valid: {', '.join(LATENT_SPLITS)}")
        return self.test_z if split == "test" else self.train_z

    def path(self, name: str) -> Path:
        return self.run_dir / "grids" / f"latent_{name}.png"

    @property
    def name(self) -> str:
        return f"{self.cfg.model.name} (latent {self.latent_dim})"


def _check_test_index(run: LatentSpace, idx: int) -> None:
    if not 0 <= idx < len(run.test_images):
        raise ConfigError(f"test digit index {idx} is out of range (0..{len(run.test_images) - 1})")


def interpolation_latents(za: torch.Tensor, zb: torch.Tensor, steps: int) -> torch.Tensor:
    """(steps, D): the straight line from za (first row) to zb (last row)."""
    t = torch.linspace(0, 1, steps).view(-1, 1)
    return (1 - t) * za + t * zb


def traversal_latents(z0: torch.Tensor, std: torch.Tensor, steps: int = 9, span: float = 3.0) -> torch.Tensor:
    """(D, steps, D): row d sweeps dimension d of z0 from -span to +span std[d]."""
    offsets = torch.linspace(-span, span, steps)
    grid = z0.repeat(len(z0), steps, 1)
    for dim in range(len(z0)):
        grid[dim, :, dim] = z0[dim] + offsets * std[dim]
    return grid


def interpolate(run: LatentSpace, a: int, b: int, steps: int = 10) -> Path:
    """Decode the straight line between the latents of test digits a and b."""
    for idx in (a, b):
        _check_test_index(run, idx)
    t = torch.linspace(0, 1, steps).view(-1, 1)
    decoded = run.decode(interpolation_latents(run.test_z[a], run.test_z[b], steps))
    clean = clean_images(run.test_images[[a, b]], run.cfg)
    rows = [[clean[0], *decoded, clean[1]]]
    title = (f"{run.name}: interpolation from test digit #{a} (a {int(run.test_labels[a])}) "
             f"to #{b} (a {int(run.test_labels[b])})")
    labels = ["input a"] + [f"t={x:.2f}" for x in t.flatten().tolist()] + ["input b"]
    return figures.labelled_rows(rows, [""], labels, run.path("interpolate"), title)


def draw_latents(train_z: torch.Tensor, n: int, mode: str = "fitted", seed: int = 0) -> torch.Tensor:
    """n latents from N(0, I), a uniform box over the training latents `train_z`, or a Gaussian
    fitted to them (mean and full covariance)."""
    g = torch.Generator().manual_seed(seed)
    d = train_z.shape[1]
    if mode == "normal":
        return torch.randn(n, d, generator=g)
    if mode == "uniform":
        lo, hi = train_z.min(0).values, train_z.max(0).values
        return lo + (hi - lo) * torch.rand(n, d, generator=g)
    if mode == "fitted":
        mean = train_z.mean(0)
        cov = torch.cov(train_z.T) + 1e-5 * torch.eye(d)
        return mean + torch.randn(n, d, generator=g) @ torch.linalg.cholesky(cov).T
    raise MnistmaxError(f"unknown sampling mode {mode!r}; valid: {', '.join(SAMPLE_MODES)}")


def _mode(run: LatentSpace, mode: str | None) -> str:
    from mnistmax.analysis.modes import default_sample_mode

    return mode or default_sample_mode(run.task.capabilities)


def sample(run: LatentSpace, n: int = 64, mode: str | None = None, seed: int = 0) -> Path:
    """Decode n latents drawn from N(0, I), a uniform box over the training latents, or a
    Gaussian fitted to the training latents (mean and full covariance); default: N(0, I) for a
    VAE, the fitted Gaussian for an autoencoder (as `Model.sample`)."""
    mode = _mode(run, mode)
    z = draw_latents(run.train_z, n, mode, seed)
    images = run.decode(z)
    cols = int(np.ceil(np.sqrt(n)))
    rows = [list(images[i : i + cols]) for i in range(0, n, cols)]
    return figures.labelled_rows(rows, [""] * len(rows), [], run.path(f"samples_{mode}"),
                                 f"{run.name}: {n} samples, latents from {mode}")


def real_vs_generated(run: LatentSpace, n: int = 10, rows: int = 1, mode: str | None = None, seed: int = 0) -> Path:
    """`rows` rows of real test digits (chosen at random with `seed`; the columns are labelled with
    the class and test index of the top row's digits) above `rows` rows of digits decoded from
    latents drawn as `sample` draws them
    (default: the Gaussian fitted to the training latents for an autoencoder, N(0, I) for a VAE)
    -> grids/latent_real_vs_<mode>.png."""
    mode = _mode(run, mode)
    count = n * rows
    if count > len(run.test_images):
        raise ConfigError(f"{n} x {rows} real digits asked, but the test split has {len(run.test_images)}")
    picked = torch.randperm(len(run.test_images), generator=torch.Generator().manual_seed(seed))[:count]
    real = clean_images(run.test_images[picked], run.cfg)
    fake = run.decode(draw_latents(run.train_z, count, mode, seed))
    grid = [list(real[r * n : (r + 1) * n]) for r in range(rows)] + [list(fake[r * n : (r + 1) * n])
                                                                    for r in range(rows)]
    labelled = is_labelled(run.test_labels)
    cols = [f"{int(run.test_labels[i])} #{int(i)}" if labelled else f"#{int(i)}" for i in picked[:n]]
    return figures.labelled_rows(grid, ["real"] * rows + [mode] * rows, cols, run.path(f"real_vs_{mode}"),
                                 f"{run.name}: real test digits (top) and digits decoded from {mode} latents "
                                 "(bottom)")


def traverse(run: LatentSpace, index: int = 0, steps: int = 9, span: float = 3.0) -> Path:
    """One row per latent dimension: test digit `index`'s code with that dimension swept
    from -span to +span training standard deviations around its own value."""
    _check_test_index(run, index)
    z0 = run.test_z[index]
    offsets = torch.linspace(-span, span, steps)
    rows = [list(run.decode(z)) for z in traversal_latents(z0, run.train_z.std(0), steps, span)]
    return figures.labelled_rows(rows, [f"z{d}" for d in range(len(z0))], [f"{o:+.1f}σ" for o in offsets.tolist()],
                                 run.path("traverse"),
                                 f"{run.name}: traversal of every latent dimension (test #{index})")


# ---------------------------------------------------------------- arithmetic

EXPRESSION_HELP = "digit classes (class means) or #N (test digit N) joined by + and -, e.g. 7-1+4 or #12-#40+#7"
_TERM = re.compile(r"([+-]?)(#?)(\d+)")


def parse_expression(expression: str) -> list[tuple[int, str, int]]:
    """(sign +1/-1, "class" or "index", number) per term of e.g. "7-1+4" or "#12-#40+#7" (the two
    kinds mix); anything else is one ConfigError line."""
    text = re.sub(r"\s+", "", expression)
    terms, pos = [], 0
    while pos < len(text):
        match = _TERM.match(text, pos)
        if not match or (terms and not match.group(1)):
            raise ConfigError(f"expression {expression!r} must be {EXPRESSION_HELP}")
        sign, kind, number = match.groups()
        terms.append((-1 if sign == "-" else 1, "index" if kind else "class", int(number)))
        pos = match.end()
    if not terms:
        raise ConfigError(f"expression {expression!r} must be {EXPRESSION_HELP}")
    return terms


def arithmetic(run: LatentSpace, expression: str = "7-1+4") -> Path:
    """Latent codes combined with + and -: a digit class stands for the mean code of that class's
    training digits (mean(7) - mean(1) + mean(4)), `#N` for the code of test digit N. The picture
    shows each operand decoded and the decoded result; below an operand that is a test digit, the
    digit itself."""
    terms = parse_expression(expression)
    classes = {n for _, kind, n in terms if kind == "class"}
    means = {}
    if classes:
        if not is_labelled(run.train_labels):
            raise ConfigError(f"expression {expression!r} averages each digit class's latents: this run's data has "
                              "no labels (use test digits, #N)")
        have = set(run.train_labels.unique().tolist())
        missing = sorted(classes - have)
        if missing:
            raise ConfigError(f"expression {expression!r} names digit {missing[0]}, which the data does not have "
                              f"(classes {min(have)}..{max(have)})")
        means = {c: run.train_z[run.train_labels == c].mean(0) for c in classes}
    for _, kind, n in terms:
        if kind == "index":
            _check_test_index(run, n)
    codes = [means[n] if kind == "class" else run.test_z[n] for _, kind, n in terms]
    result = sum((sign * z for (sign, _, _), z in zip(terms, codes)), torch.zeros(run.latent_dim))
    parts = list(run.decode(torch.stack([*codes, result])))
    labelled = is_labelled(run.test_labels)
    labels = []
    for i, (sign, kind, n) in enumerate(terms):
        op = "−" if sign < 0 else "+" if i else ""
        digit = f" ({int(run.test_labels[n])})" if kind == "index" and labelled else ""
        labels.append(f"{op}mean({n})" if kind == "class" else f"{op}#{n}{digit}")
    rows, row_labels = [parts], [""]
    if any(kind == "index" for _, kind, _ in terms):
        originals = [clean_images(run.test_images[n : n + 1], run.cfg)[0] if kind == "index" else None
                     for _, kind, n in terms]
        rows, row_labels = [parts, [*originals, None]], ["decoded", "test digit"]
    return figures.labelled_rows(rows, row_labels, [*labels, "= result"], run.path("arithmetic"),
                                 f"{run.name}: latent arithmetic {expression}")


# ---------------------------------------------------------------- the user's own latent vectors

def _where(option_value: str) -> str:
    shown = option_value if len(option_value) <= 40 else option_value[:37] + "..."
    return f"--z {shown!r}"


def _numbers(cells: list[str], where: str, latent_dim: int) -> list[float]:
    out = []
    for cell in cells:
        try:
            out.append(float(cell))
        except ValueError:
            raise ConfigError(f"{where}: {cell!r} is not a number; give {latent_dim} numbers (latent_dim "
                              f"{latent_dim})") from None
    return out


def _split(line: str) -> list[str]:
    return [c for c in re.split(r"[,;\s]+", line.strip()) if c]


def parse_z(text: str, latent_dim: int, where: str | None = None) -> np.ndarray:
    """One latent vector from "0.1,0.2,..." (commas and/or spaces): shape (latent_dim,)."""
    where = where or _where(text)
    values = _numbers(_split(text), where, latent_dim)
    if len(values) != latent_dim:
        raise ConfigError(f"{where} has {len(values)} numbers; this run's latent vectors have {latent_dim} "
                          f"(latent_dim {latent_dim})")
    return check_latents(np.array(values, dtype=np.float64), latent_dim, where).numpy()[0]


def read_latent_file(path: str | Path, latent_dim: int) -> np.ndarray:
    """The latent vectors in a file, shape (N, latent_dim): an .npy array shaped (N, latent_dim) or
    (latent_dim,), or a text/CSV file with one vector per line (numbers separated by commas, spaces
    or semicolons; blank lines, `#` comments and one header line of names are skipped)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path} is a folder; give an .npy or text/CSV file of latent vectors (latent_dim "
                          f"{latent_dim})")
    if not path.exists():
        raise ConfigError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        from mnistmax.data.arrays import read_npy

        try:
            array = read_npy(path)  # object arrays, lying or oversized headers: refused before loading
        except DataError as exc:
            raise ConfigError(str(exc)) from None
        if array.dtype.kind not in "iuf":
            raise ConfigError(f"{path} holds {array.dtype} values, not numbers; give floats shaped (N, {latent_dim}) "
                              f"or ({latent_dim},) (latent_dim {latent_dim})")
        return check_latents(array, latent_dim, str(path)).numpy()
    if suffix in (".npz", ".pt", ".pth", ".pkl", ".pickle"):
        raise ConfigError(f"{path}: latent vectors are read from an .npy array or a text/CSV file, not {suffix} "
                          f"(latent_dim {latent_dim})")
    if path.stat().st_size > MAX_TEXT_BYTES:
        raise ConfigError(f"{path} is larger than {MAX_TEXT_BYTES // 2**20} MiB; at most {MAX_VECTORS} latent "
                          "vectors are decoded at a time")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not a text file of numbers (nor an .npy array); latent_dim "
                          f"{latent_dim}") from None
    rows, first = [], None
    for number, line in enumerate(text.splitlines(), 1):
        cells = _split(line.split("#", 1)[0])
        if not cells:
            continue
        if first is None and not rows and not any(_is_number(c) for c in cells):
            first = number  # a header line of names (z0,z1,...)
            continue
        values = _numbers(cells, f"{path} line {number}", latent_dim)
        if len(values) != latent_dim:
            raise ConfigError(f"{path} line {number} has {len(values)} numbers; this run's latent vectors have "
                              f"{latent_dim} (latent_dim {latent_dim})")
        rows.append(values)
    if not rows:
        raise ConfigError(f"{path} holds no latent vectors; give one line of {latent_dim} numbers per vector")
    return check_latents(np.array(rows, dtype=np.float64), latent_dim, str(path)).numpy()


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def check_latents(z, latent_dim: int, where: str = "z") -> torch.Tensor:
    """`z` (array-like shaped (N, latent_dim) or (latent_dim,)) as an (N, latent_dim) float32
    tensor; a wrong shape, a non-number, NaN or infinity is one ConfigError line naming `where`."""
    try:
        array = z.detach().cpu().numpy() if isinstance(z, torch.Tensor) else np.asarray(z)
    except ValueError:  # ragged lists
        raise ConfigError(f"{where} is not a table of numbers: give shape (N, {latent_dim}) or ({latent_dim},) "
                          f"(latent_dim {latent_dim})") from None
    if array.dtype.kind not in "iuf":
        raise ConfigError(f"{where} holds {array.dtype} values, not numbers (latent_dim {latent_dim})")
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != latent_dim or len(array) == 0:
        raise ConfigError(f"{where} has shape {tuple(np.shape(z))}; this run's latent vectors have {latent_dim} "
                          f"numbers: give shape (N, {latent_dim}) or ({latent_dim},) (latent_dim {latent_dim})")
    if len(array) > MAX_VECTORS:
        raise ConfigError(f"{where} holds {len(array)} latent vectors; at most {MAX_VECTORS} are decoded at a time")
    out = torch.as_tensor(array.astype(np.float32))
    bad = ~torch.isfinite(out).all(1)
    if bad.any():
        raise ConfigError(f"{where}: vector {int(bad.nonzero()[0])} has NaN or infinite values (or beyond float32); "
                          f"latent vectors are {latent_dim} finite numbers (latent_dim {latent_dim})")
    return out


def read_latents(run: LatentSpace, files: list[str | Path] = (), zs: list[str] = ()) -> torch.Tensor:
    """(N, latent_dim): the vectors of every file, then one per `--z` string, checked against the
    run's latent_dim."""
    if not files and not zs:
        raise ConfigError(f"give latent vectors to decode: --file PATH (.npy or text/CSV) or --z v1,v2,... "
                          f"({run.latent_dim} numbers, latent_dim {run.latent_dim})")
    parts = [torch.as_tensor(read_latent_file(f, run.latent_dim)) for f in files]
    parts += [torch.as_tensor(parse_z(text, run.latent_dim))[None] for text in zs]
    return check_latents(torch.cat(parts), run.latent_dim, "the latent vectors given")


def decode(run: LatentSpace, z, npy: bool = False, name: str = "decode") -> list[Path]:
    """Decode the user's latent vectors `z` ((N, latent_dim) or (latent_dim,): an array, a tensor, a
    list, or `read_latents(...)`) into a grid of 10 per row, rows labelled with the number of their
    first vector -> grids/latent_<name>.png; with `npy`, also grids/latent_<name>.npy, the decoded
    digits as an (N, 28, 28) uint8 array (as `mnistmax sample -o x.npy`)."""
    z = check_latents(z, run.latent_dim)
    images = run.decode(z)
    cols = min(len(z), 10)
    rows = [list(images[i : i + cols]) for i in range(0, len(z), cols)]
    paths = [figures.labelled_rows(rows, [str(i) for i in range(0, len(z), cols)], [str(j) for j in range(cols)],
                                   run.path(name), f"{run.name}: {len(z)} vectors decoded"
                                   + (" (number = row + column)" if len(z) > cols else ""))]
    if npy:
        pixels = np.round(images[:, 0].clamp(0, 1).numpy() * 255).astype(np.uint8)
        paths.append(write_with(run.path(name).with_suffix(".npy"), lambda buf: np.save(buf, pixels)))
    return paths


# ---------------------------------------------------------------- statistics

def latent_statistics(z: torch.Tensor) -> dict[str, np.ndarray]:
    """Per-dimension mean, standard deviation (n - 1), min and max of codes `z` (N, D), and the
    D x D Pearson correlation matrix (a constant dimension correlates 0 with the others, 1 with itself)."""
    if len(z) < 2:
        raise ConfigError(f"latent statistics need at least 2 codes, got {len(z)}")
    x = z.double().numpy()
    centred = x - x.mean(0)
    std = x.std(0, ddof=1)
    cov = centred.T @ centred / (len(x) - 1)
    scale = np.outer(std, std)
    corr = np.divide(cov, scale, out=np.zeros_like(cov), where=scale > 0)
    np.fill_diagonal(corr, 1.0)
    return {"mean": x.mean(0), "std": std, "min": x.min(0), "max": x.max(0), "correlation": np.clip(corr, -1, 1)}


def stats(run: LatentSpace, split: str = "test") -> tuple[dict, list[Path]]:
    """Statistics of the `split` codes (test or train): eval/latent_stats_<split>.json (per-dimension
    mean, std, min, max and the correlation matrix), the same as eval/latent_stats_<split>.csv (one row
    per dimension, then its correlations) and grids/latent_stats_<split>.png (mean ± std bars per
    dimension, the correlation heatmap). Returns the JSON's content and the three paths."""
    s = latent_statistics(run.split_z(split))
    d = len(s["mean"])
    table = {"run": str(run.run_dir), "model": run.cfg.model.name, "split": split, "n": len(run.split_z(split)),
             "latent_dim": d,
             "dims": [{"dim": i, **{k: float(s[k][i]) for k in ("mean", "std", "min", "max")}} for i in range(d)],
             "correlation": [[round(float(v), 6) for v in row] for row in s["correlation"]]}
    base = run.run_dir / "eval" / f"latent_stats_{split}"
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["dim", "mean", "std", "min", "max", *(f"corr_z{j}" for j in range(d))])
    for row, corr in zip(table["dims"], table["correlation"]):
        writer.writerow([f"z{row['dim']}", *(f"{row[k]:.6g}" for k in ("mean", "std", "min", "max")),
                         *(f"{v:.4f}" for v in corr)])
    paths = [write_json(base.with_suffix(".json"), table), write_atomic(base.with_suffix(".csv"), buf.getvalue()),
             _stats_figure(run, split, s)]
    return table, paths


def _stats_figure(run: LatentSpace, split: str, s: dict[str, np.ndarray]) -> Path:
    d = len(s["mean"])
    fig, (bars, heat) = figures.subplots(1, 2, figsize=(min(18.0, max(9.0, 4.0 + 0.5 * d)), 4.4),
                                         gridspec_kw={"width_ratios": [1.2, 1]})
    fig.subplots_adjust(left=0.07, right=0.91, bottom=0.14, top=0.86, wspace=0.25)
    dims = np.arange(d)
    bars.bar(dims, s["mean"], yerr=s["std"], color="tab:blue", alpha=0.75, capsize=2, label="mean ± std")
    bars.scatter(dims, s["min"], marker="_", color="0.3", s=30, label="min / max")
    bars.scatter(dims, s["max"], marker="_", color="0.3", s=30)
    bars.axhline(0, color="0.5", linewidth=0.6)
    step = max(1, d // 16)
    bars.set_xticks(dims[::step], [f"z{i}" for i in dims[::step]], fontsize=7)
    bars.set_title("per-dimension mean ± std", fontsize=9)
    bars.legend(fontsize=7, frameon=False)
    image = heat.imshow(s["correlation"], cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    heat.set_xticks(dims[::step], [f"z{i}" for i in dims[::step]], fontsize=6, rotation=90)
    heat.set_yticks(dims[::step], [f"z{i}" for i in dims[::step]], fontsize=6)
    heat.set_title("correlation", fontsize=9)
    fig.colorbar(image, ax=heat, fraction=0.046, pad=0.04)
    fig.suptitle(f"{run.name}: {split} latents ({len(run.split_z(split))} codes)", fontsize=10)
    return figures.save_figure(fig, run.path(f"stats_{split}"))


def stats_rows(table: dict) -> dict:
    """A print_tables spec of `stats`' table: one row per dimension, with its strongest correlation."""
    corr = np.array(table["correlation"])
    np.fill_diagonal(corr, 0)
    rows = []
    for row in table["dims"]:
        i = row["dim"]
        j = int(np.abs(corr[i]).argmax()) if len(corr) > 1 else i
        rows.append([f"z{i}", f"{row['mean']:+.3f}", f"{row['std']:.3f}", f"{row['min']:+.3f}", f"{row['max']:+.3f}",
                     f"z{j} {corr[i, j]:+.2f}" if j != i else "—"])
    return {"title": f"{table['split']} latents of {table['model']}: {table['n']} codes, {table['latent_dim']} dims",
            "columns": ["dim", "mean", "std", "min", "max", "most correlated"], "rows": rows}


def pca(run: LatentSpace) -> Path:
    return figures.embedding_scatter(pca_2d(run.test_z.numpy()), run.test_labels.numpy(), run.path("pca"),
                                     f"{run.name}: test latents", "PCA")
