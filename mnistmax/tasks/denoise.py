"""DenoiseTask: noisy -> clean with a registered denoiser and a reconstruction loss."""

from __future__ import annotations

import torch

from mnistmax.losses import get_loss
from mnistmax.metrics import per_image_psnr
from mnistmax.registry import create_model
from mnistmax.tasks.base import BaseTask


class DenoiseTask(BaseTask):
    def __init__(self, config: dict):
        super().__init__(config)
        m = self.cfg.model
        self.net = create_model(m.name, base_ch=m.base_ch, num_downs=m.num_downs)
        self.loss_fn = get_loss(self.cfg.train.loss, fp_weight=self.cfg.train.fp_weight)

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        return self.net(noisy)

    def reconstruct(self, noisy: torch.Tensor) -> torch.Tensor:
        """Clean estimate in [0, 1], float32, without gradients (for callbacks and eval)."""
        with torch.no_grad():
            return self.net(noisy).float()

    def model_step(self, batch, stage: str):
        pred = self.net(batch["noisy"])
        loss = self.loss_fn(pred, batch["clean"])
        metrics = {} if stage == "train" else {"psnr": per_image_psnr(pred.detach(), batch["clean"]).mean()}
        return loss, metrics
