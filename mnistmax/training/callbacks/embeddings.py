"""EmbeddingEvolution: the clustering-evolution GIF of a contrastive run. Each epoch it embeds
25 fixed validation digits per class, projects them to 2-D with PCA and keeps the points;
at the end of training it writes `animations/clustering.gif` (one frame per epoch)."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
from lightning.pytorch.utilities import rank_zero_only

from mnistmax.config import RunConfig
from mnistmax.data.datamodule import clean_images
from mnistmax.data.splits import select_digits
from mnistmax.eval.projection import pca_2d


class EmbeddingEvolution(L.Callback):
    def __init__(self, cfg: RunConfig, run_dir: Path, per_class: int = 25):
        self.cfg, self.run_dir, self.per_class = cfg, Path(run_dir), per_class
        self.frames: list[tuple[int, np.ndarray]] = []

    def setup(self, trainer, pl_module, stage: str) -> None:
        images, labels = trainer.datamodule.splits.val
        idx = select_digits(labels, self.per_class * 10)
        self.images, self.labels = clean_images(images[idx], self.cfg), labels[idx].numpy()

    @rank_zero_only
    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        z = pl_module.embed(self.images.to(pl_module.device)).cpu().numpy()
        self.frames.append((trainer.current_epoch + 1, pca_2d(z)))

    @rank_zero_only
    def on_fit_end(self, trainer, pl_module) -> None:
        if not self.frames:
            return
        from mnistmax.viz.animate import gif_from_images
        from mnistmax.viz.figures import scatter_frame

        limit = float(max(np.abs(p).max() for _, p in self.frames)) * 1.05
        images = [scatter_frame(p, self.labels, f"{self.cfg.model.name} epoch {e}: PCA of validation embeddings", limit)
                  for e, p in self.frames]
        gif_from_images(images, self.run_dir / "animations" / "clustering.gif", ms_per_frame=350)
