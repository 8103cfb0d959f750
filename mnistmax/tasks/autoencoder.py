"""AutoencoderTask: clean image -> latent -> reconstruction, MSE loss (conv_ae)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mnistmax.metrics import per_image_psnr
from mnistmax.registry import create_model
from mnistmax.tasks.base import BaseTask


class AutoencoderTask(BaseTask):
    def __init__(self, config: dict):
        super().__init__(config)
        self.net = create_model(self.cfg.model.name, latent_dim=self.cfg.model.latent_dim)

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

    def model_step(self, batch, stage: str):
        x = batch["images"]
        out = self.net.reconstruct(x)
        loss = F.mse_loss(out.float(), x.float())
        return loss, ({} if stage == "train" else {"psnr": per_image_psnr(out.detach(), x).mean()})
