"""ContrastiveTask: an encoder trained with NT-Xent (SimCLR), SupCon, InfoNCE or a triplet
loss on two augmented views; an online linear probe on detached features logs
`val/probe_acc` every epoch without ever sending label gradients into the encoder."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from mnistmax.contrastive_losses import info_nce_loss, nt_xent_loss, supcon_loss, triplet_loss
from mnistmax.registry import create_model
from mnistmax.tasks.base import BaseTask

N_CLASSES = 10


class ContrastiveTask(BaseTask):
    def __init__(self, config: dict):
        super().__init__(config)
        m, c = self.cfg.model, self.cfg.contrastive
        self.net = create_model(m.name, embedding_dim=m.embedding_dim)
        d = m.embedding_dim
        self.projector = nn.Sequential(nn.Linear(d, 256), nn.BatchNorm1d(256), nn.ReLU(inplace=True),
                                       nn.Linear(256, c.projection_dim))
        self.probe = nn.Linear(d, N_CLASSES)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Embeddings of clean images (B, embedding_dim), float32, without gradients."""
        with torch.no_grad():
            return self.net.embed(x).float()

    def contrastive_loss(self, h1: torch.Tensor, h2: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        c = self.cfg.contrastive
        # every loss sees the projection head's output, never the embedding itself: a triplet loss
        # on normalised raw embeddings let weight decay shrink them to a single point (measured)
        z1, z2 = self.projector(h1), self.projector(h2)
        if c.loss == "triplet":
            return triplet_loss(torch.cat([z1, z2]), torch.cat([labels, labels]), c.margin, c.mining)
        if c.loss == "ntxent":
            return nt_xent_loss(z1, z2, c.temperature)
        if c.loss == "infonce":
            return info_nce_loss(z1, z2, c.temperature)
        return supcon_loss(torch.cat([z1, z2]), torch.cat([labels, labels]), c.temperature)

    def model_step(self, batch, stage: str):
        h1, h2 = self.net.embed(batch["view1"]), self.net.embed(batch["view2"])
        loss = self.contrastive_loss(h1, h2, batch["labels"])
        features = h1.detach().float() if stage == "train" else self.net.embed(batch["images"]).detach().float()
        logits = self.probe(features)
        probe_loss = F.cross_entropy(logits, batch["labels"])
        metrics = {"probe_acc": (logits.argmax(1) == batch["labels"]).float().mean()}
        if stage == "train":  # the probe trains on detached features: label gradients never reach the encoder
            metrics["aux_loss"] = probe_loss
        return loss, metrics

    def param_groups(self, params=None) -> list[dict]:
        """The encoder and projector as usual; the probe at its own rate, without decay."""
        probe = set(map(id, self.probe.parameters()))
        groups = super().param_groups(p for p in self.parameters() if id(p) not in probe)
        return groups + [{"params": list(self.probe.parameters()), "lr": self.cfg.contrastive.probe_lr,
                          "weight_decay": 0.0}]
