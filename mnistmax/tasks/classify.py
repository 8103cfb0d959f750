"""ClassifyTask: cross-entropy on clean digits (cnn_classifier); used by transfer learning."""

from __future__ import annotations

import torch.nn.functional as F

from mnistmax.registry import create_model
from mnistmax.tasks.base import BaseTask


class ClassifyTask(BaseTask):
    def __init__(self, config: dict):
        super().__init__(config)
        self.net = create_model(self.cfg.model.name, latent_dim=self.cfg.model.latent_dim)
        self.frozen_encoder = False

    def freeze_encoder(self) -> None:
        """Train the head only: no gradients into the encoder, and its BatchNorm statistics stay fixed."""
        self.frozen_encoder = True
        self.net.encoder.requires_grad_(False)

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        if self.frozen_encoder:  # Lightning put every module in train mode just before this hook
            self.net.encoder.eval()

    def model_step(self, batch, stage: str):
        logits = self.net(batch["images"])
        loss = F.cross_entropy(logits.float(), batch["labels"])
        return loss, {"acc": (logits.argmax(1) == batch["labels"]).float().mean()}
