"""ClassifyTask: cross-entropy on clean digits (cnn_classifier); used by transfer learning."""

from __future__ import annotations

import torch.nn.functional as F

from mnistmax.registry import create_model
from mnistmax.tasks.base import BaseTask


class ClassifyTask(BaseTask):
    def __init__(self, config: dict):
        super().__init__(config)
        self.net = create_model(self.cfg.model.name, latent_dim=self.cfg.model.latent_dim)

    def model_step(self, batch, stage: str):
        logits = self.net(batch["images"])
        loss = F.cross_entropy(logits.float(), batch["labels"])
        return loss, {"acc": (logits.argmax(1) == batch["labels"]).float().mean()}
