"""DenoisingPictures: reconstruction grids and sigma panels (and ablation maps for bitmap or
additive-noise runs) every `viz.every_n_epochs`, and the training and ablation animations at
the end. Rank-zero only; the model is put in eval mode under no_grad and restored; files are
written by the callback itself (MLflow gets copies)."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only

from mnistmax.config import RunConfig
from mnistmax.data.datamodule import clean_images
from mnistmax.data.splits import select_digits
from mnistmax.files import write_atomic
from mnistmax.training.tracking import log_artifact
from mnistmax.viz.animate import gif_from_pngs
from mnistmax.viz.run_figures import draws_ablation_map, render_ablation_map, render_recon_grid, render_sigma_panel

ABLATION_DIGITS = 4  # digits in each epoch's ablation map (a frame of animations/ablation.gif): well under a second
ANIMATIONS = {"recon_epoch": "training.gif", "ablation_map_epoch": "ablation.gif"}  # frames in grids/ -> animations/


class DenoisingPictures(L.Callback):
    def __init__(self, cfg: RunConfig, run_dir: Path):
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.grid_digits: torch.Tensor | None = None
        self.panel_digits: torch.Tensor | None = None
        self.ablation = draws_ablation_map(cfg.data.binarize, cfg.noise.kind)

    def setup(self, trainer, pl_module, stage: str) -> None:
        images, labels = trainer.datamodule.splits.val
        self.grid_digits = clean_images(images[select_digits(labels, self.cfg.viz.n_digits)], self.cfg)
        self.panel_digits = self.grid_digits[: self.cfg.viz.panel_digits]

    def _due(self, trainer) -> bool:
        epoch = trainer.current_epoch + 1
        return epoch % self.cfg.viz.every_n_epochs == 0 or epoch == trainer.max_epochs

    @rank_zero_only
    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or not self._due(trainer):
            return
        epoch = trainer.current_epoch + 1
        name = f"{self.cfg.model.name} epoch {epoch}"
        with torch.no_grad():
            grid = render_recon_grid(pl_module, self.cfg, self.grid_digits,
                                     self.run_dir / "grids" / f"recon_epoch_{epoch:03d}.png", name)
            panel = render_sigma_panel(pl_module, self.cfg, self.panel_digits,
                                       self.run_dir / "panels" / f"sigma_panel_epoch_{epoch:03d}.png", name)
            written = [(grid, "grids"), (panel, "panels")]
            if self.ablation:
                path = self.run_dir / "grids" / f"ablation_map_epoch_{epoch:03d}.png"
                digits = self.grid_digits[:ABLATION_DIGITS]
                written.append((render_ablation_map(pl_module, self.cfg, digits, path, name), "grids"))
        for path, folder in written:
            latest = path.with_name(path.name.replace(f"epoch_{epoch:03d}", "latest"))
            write_atomic(latest, path.read_bytes())
            log_artifact(trainer, path, folder)

    @rank_zero_only
    def on_fit_end(self, trainer, pl_module) -> None:
        """One GIF per kind of per-epoch picture: a frame per drawn epoch, the epoch in its title."""
        for stem, gif_name in ANIMATIONS.items():
            frames = sorted((self.run_dir / "grids").glob(f"{stem}_*.png"))
            if frames:
                gif = gif_from_pngs(frames, self.run_dir / "animations" / gif_name)
                log_artifact(trainer, gif, "animations")
