"""AutoencoderTask: clean image -> latent -> reconstruction (conv_ae), loss from train.loss (l2 by default)."""

from __future__ import annotations

from pathlib import Path

import torch

from mnistmax.eval.metrics import per_image_psnr
from mnistmax.report import autoencoder as report_autoencoder
from mnistmax.tasks.base import BaseTask, intervals
from mnistmax.tasks.registry import register_task


@register_task
class AutoencoderTask(BaseTask):
    name = "autoencoder"
    family = "autoencoder"
    sections = ("augment",)
    uses_loss = True
    capabilities = frozenset({"reconstruct", "encode", "decode"})
    report = report_autoencoder

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.net.reconstruct(x).float()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The latent code used by the latent explorer (the mean for a VAE)."""
        with torch.no_grad():
            z = self.net.encode(x)
            return (z[0] if isinstance(z, tuple) else z).float()

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.net.decode(z).float()

    def transfer_source(self) -> tuple[dict, dict]:
        """cnn_classifier around this run's conv encoder (a VAE's: mean and log-variance, 2 x latent_dim)."""
        state = {k.removeprefix("encoder."): v for k, v in self.net.state_dict().items() if k.startswith("encoder.")}
        return {"name": "cnn_classifier", "latent_dim": self.net.encoder[-1].out_features}, state

    def model_step(self, batch, stage: str):
        x = batch["images"]
        out = self.net.reconstruct(x)
        loss, metrics = self.reconstruction_loss(out, x, stage)
        return loss, (metrics if stage == "train" else {**metrics, "psnr": per_image_psnr(out.detach(), x).mean()})

    # ------------------------------------------------------------ evaluation and report

    def export_graphs(self, threshold: float | None = None) -> list:
        from mnistmax.tasks.graphs import autoencoder_graphs

        return autoencoder_graphs(self.net)

    def evaluate(self, run, lpips: bool = False, warn=print) -> list[dict]:
        from mnistmax.eval.reconstruction import evaluate_reconstruction

        return evaluate_reconstruction(run.cfg, self)

    def pictures(self, run) -> list[Path]:
        """Curves and the reconstruction grid (clean | reconstruction | |error|, each digit's MSE)."""
        from mnistmax.viz import commands

        return [*super().pictures(run), commands.recon_grid(run)]

    @classmethod
    def headline(cls, rows: list[dict]) -> dict:
        return {"metric": "test MSE", "scores": {rows[0]["method"]: rows[0]["mse"]},
                "intervals": intervals(rows[:1], "mse")}

    # ------------------------------------------------------------ analyses

    def no_digit(self, clean: torch.Tensor, n: int, generator: torch.Generator) -> tuple:
        """The decoded mean of the latents of 4 random test digits."""
        pick = torch.randint(len(clean), (n, 4), generator=generator)
        z = self.encode(clean.to(self.device)).cpu()[pick].mean(1)
        return None, self.decode(z.to(self.device)).cpu(), "decoded mean of the latents of 4 random test digits"
