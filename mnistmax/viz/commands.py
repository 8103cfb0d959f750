"""The functions behind `mnistmax viz ...`: load a run once (`open_run`), write its
pictures, return the paths."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from mnistmax.config import RunConfig
from mnistmax.data.datamodule import clean_images, load_splits
from mnistmax.data.noise import NOISE_FUNCTIONS
from mnistmax.runs import load_task
from mnistmax.viz import run_figures


@dataclass
class OpenRun:
    run_dir: Path
    cfg: RunConfig
    task: torch.nn.Module
    test_images: torch.Tensor
    test_labels: torch.Tensor
    checkpoint: str

    def title(self) -> str:
        return f"{self.cfg.model.name}, {self.checkpoint} checkpoint, test digits"


def open_run(run_dir: Path, checkpoint: str = "best") -> OpenRun:
    cfg, task = load_task(run_dir, checkpoint)
    images, labels = load_splits(cfg).test
    return OpenRun(Path(run_dir), cfg, task, images, labels, checkpoint)


def fixed_digits(run: OpenRun, n: int) -> torch.Tensor:
    """n test digits cycling through the classes, as the run's clean targets."""
    return clean_images(run.test_images[run_figures.select_digits(run.test_labels, n)], run.cfg)


def recon_grid(run: OpenRun) -> Path:
    clean = fixed_digits(run, run.cfg.viz.n_digits)
    return run_figures.render_recon_grid(run.task, run.cfg, clean, run.run_dir / "grids" / "recon_test.png", run.title())


def sigma_panel(run: OpenRun) -> Path:
    clean = fixed_digits(run, run.cfg.viz.panel_digits)
    return run_figures.render_sigma_panel(run.task, run.cfg, clean, run.run_dir / "panels" / "sigma_panel_test.png",
                                          run.title())


def ablation_map(run: OpenRun) -> Path:
    clean = fixed_digits(run, run.cfg.viz.n_digits)
    return run_figures.render_ablation_map(run.task, run.cfg, clean, run.run_dir / "grids" / "ablation_map_test.png",
                                           run.title())


def cases(run: OpenRun, k: int = 6) -> Path:
    return run_figures.render_cases(run.task, run.cfg, run.test_images, run.run_dir / "grids" / "cases.png", k=k)


def curves(run_dir: Path) -> Path:
    return run_figures.render_curves(run_dir, run_dir / "reports" / "curves.png")


def noise_gallery(output_dir: Path, levels: list[float] | None = None) -> tuple[Path, Path]:
    """Six embedded digits of different classes under every noise kind and level."""
    from mnistmax.data.sources import load_embedded

    bundle = load_embedded()
    idx = run_figures.select_digits(bundle.train_labels, 10)[[0, 2, 3, 5, 7, 9]]
    levels = levels or [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    return run_figures.render_noise_gallery(bundle.train_images[idx], list(NOISE_FUNCTIONS), levels,
                                            output_dir / "noise_gallery.png", output_dir / "noise_gallery.gif")


def embedding_plots(run_dir: Path, checkpoint: str = "best") -> tuple[Path, Path]:
    """PCA and t-SNE of the test embeddings, coloured by digit."""
    from sklearn.manifold import TSNE

    from mnistmax.callbacks.embeddings import pca_2d
    from mnistmax.probe import embed_images
    from mnistmax.viz import figures

    run = open_run(run_dir, checkpoint)
    z = embed_images(run.task, run.test_images, run.cfg).numpy()
    y = run.test_labels.numpy()
    name = f"{run.cfg.model.name} ({run.cfg.contrastive.loss}), {len(y)} test digits"
    pca = figures.embedding_scatter(pca_2d(z), y, run_dir / "grids" / "embeddings_pca.png", name, "PCA")
    tsne_points = TSNE(2, init="pca", perplexity=30, random_state=run.cfg.seed).fit_transform(z)
    tsne = figures.embedding_scatter(tsne_points, y, run_dir / "grids" / "embeddings_tsne.png", name, "t-SNE")
    return pca, tsne
