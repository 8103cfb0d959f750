"""Latent explorer for `conv_ae` and `vae_conv` runs: interpolation, sampling, traversal,
class-mean arithmetic and a PCA of test latents. Each function writes one PNG under the
run's grids/ and returns its path."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from mnistmax.analysis.modes import SAMPLE_MODES
from mnistmax.data.arrays import is_labelled
from mnistmax.data.datamodule import clean_images
from mnistmax.errors import MnistmaxError
from mnistmax.eval.projection import pca_2d
from mnistmax.inference import batched
from mnistmax.viz import figures


class LatentSpace:
    """A loaded autoencoder run with the latent codes of its train and test splits."""

    def __init__(self, run):
        run.require("decode", "the latent explorer")
        self.run_dir, self.cfg, self.task = run.run_dir, run.cfg, run.task
        self.test_images, self.test_labels = run.splits.test
        self.train_z = self.encode(run.splits.train[0])
        self.train_labels = run.splits.train[1]
        self.test_z = self.encode(self.test_images)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return batched(self.task.encode, clean_images(images, self.cfg), 1000, module=self.task)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images of latent codes (on the CPU, the model on its own device)."""
        return batched(self.task.decode, z, 1000, module=self.task)

    def path(self, name: str) -> Path:
        return self.run_dir / "grids" / f"latent_{name}.png"

    @property
    def name(self) -> str:
        return f"{self.cfg.model.name} (latent {self.train_z.shape[1]})"


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
        if not 0 <= idx < len(run.test_z):
            raise MnistmaxError(f"test digit index {idx} is out of range (0..{len(run.test_z) - 1})")
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


def sample(run: LatentSpace, n: int = 64, mode: str | None = None, seed: int = 0) -> Path:
    """Decode n latents drawn from N(0, I), a uniform box over the training latents, or a
    Gaussian fitted to the training latents (mean and full covariance); default: N(0, I) for a
    VAE, the fitted Gaussian for an autoencoder (as `Model.sample`)."""
    from mnistmax.analysis.modes import default_sample_mode

    mode = mode or default_sample_mode(run.task.capabilities)
    z = draw_latents(run.train_z, n, mode, seed)
    images = run.decode(z)
    cols = int(np.ceil(np.sqrt(n)))
    rows = [list(images[i : i + cols]) for i in range(0, n, cols)]
    return figures.labelled_rows(rows, [""] * len(rows), [], run.path(f"samples_{mode}"),
                                 f"{run.name}: {n} samples, latents from {mode}")


def traverse(run: LatentSpace, index: int = 0, steps: int = 9, span: float = 3.0) -> Path:
    """One row per latent dimension: test digit `index`'s code with that dimension swept
    from -span to +span training standard deviations around its own value."""
    z0 = run.test_z[index]
    offsets = torch.linspace(-span, span, steps)
    rows = [list(run.decode(z)) for z in traversal_latents(z0, run.train_z.std(0), steps, span)]
    return figures.labelled_rows(rows, [f"z{d}" for d in range(len(z0))], [f"{o:+.1f}σ" for o in offsets.tolist()],
                                 run.path("traverse"),
                                 f"{run.name}: traversal of every latent dimension (test #{index})")


def arithmetic(run: LatentSpace, expression: str = "7-1+4") -> Path:
    """Class-mean latent vectors combined with + and -, e.g. mean(7) - mean(1) + mean(4)."""
    terms = re.findall(r"([+-]?)\s*(\d)", expression.replace(" ", ""))
    if not terms or "".join(s + d for s, d in terms) != expression.replace(" ", "").lstrip("+"):
        raise MnistmaxError(f"expression {expression!r} must be digits joined by + and -, e.g. 7-1+4")
    classes = set(run.train_labels.unique().tolist())
    if not is_labelled(run.train_labels):
        raise MnistmaxError("latent arithmetic averages each digit's latents: this run's data has no labels")
    missing = sorted({int(d) for _, d in terms} - classes)
    if missing:
        raise MnistmaxError(f"expression {expression!r} names digit {missing[0]}, which the data does not have "
                            f"(classes {min(classes)}..{max(classes)})")
    means = {c: run.train_z[run.train_labels == c].mean(0) for c in classes}
    result = torch.zeros_like(means[0])
    for sign, digit in terms:
        result = result - means[int(digit)] if sign == "-" else result + means[int(digit)]
    parts = run.decode(torch.stack([means[int(d)] for _, d in terms] + [result]))
    labels = [f"{'−' if s == '-' else '+' if i else ''}mean({d})" for i, (s, d) in enumerate(terms)] + ["= result"]
    return figures.labelled_rows([list(parts)], [""], labels, run.path("arithmetic"),
                                 f"{run.name}: latent arithmetic {expression}")


def pca(run: LatentSpace) -> Path:
    return figures.embedding_scatter(pca_2d(run.test_z.numpy()), run.test_labels.numpy(), run.path("pca"),
                                     f"{run.name}: test latents", "PCA")
