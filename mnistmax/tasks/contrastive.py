"""ContrastiveTask: an encoder trained with NT-Xent (SimCLR), SupCon, InfoNCE or a triplet
loss on two augmented views; an online linear probe on detached features logs
`val/probe_acc` every epoch without ever sending label gradients into the encoder."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from pathlib import Path

from mnistmax.losses.contrastive import info_nce_loss, nt_xent_loss, supcon_loss, triplet_loss
from mnistmax.tasks.base import BaseTask, register_task

N_CLASSES = 10


@register_task
class ContrastiveTask(BaseTask):
    name = "contrastive"
    family = "encoder"
    sections = ("contrastive", "augment", "viz")
    capabilities = frozenset({"embed"})
    eval_stem = "probe"
    report_module = "representation"

    def __init__(self, config: dict):
        super().__init__(config)
        c = self.cfg.contrastive
        d = self.net.embedding_dim
        self.projector = nn.Sequential(nn.Linear(d, 256), nn.BatchNorm1d(256), nn.ReLU(inplace=True),
                                       nn.Linear(256, c.projection_dim))
        self.probe = nn.Linear(d, N_CLASSES)

    @classmethod
    def unused(cls, cfg) -> dict[str, str]:
        out = {k: v for k, v in super().unused(cfg).items() if not k.startswith("augment.")}
        out["augment.enabled"] = "contrastive views are always augmented"
        for key in ("every_n_epochs", "n_digits", "sigma", "panel_digits", "panel_sigmas"):
            out[f"viz.{key}"] = "its only training picture is the clustering GIF (viz.enabled)"
        c = cfg.contrastive
        if c.loss == "triplet":
            out["contrastive.temperature"] = "the triplet loss has a margin, not a temperature"
        else:
            out["contrastive.margin"] = out["contrastive.mining"] = f"contrastive.loss={c.loss} mines no triplets"
        return out

    def balanced_batches(self) -> bool:
        return self.cfg.contrastive.uses_labels()

    def make_batch(self, images, labels, generator, training) -> dict:
        from mnistmax.data.datamodule import view_batch

        return view_batch(images, labels, self.cfg, generator)

    def training_callbacks(self, run_dir: Path) -> list:
        from mnistmax.training.callbacks.embeddings import EmbeddingEvolution

        return [EmbeddingEvolution(self.cfg, run_dir)] if self.cfg.viz.enabled else []

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

    # ------------------------------------------------------------ evaluation and report

    def evaluate(self, run, lpips: bool = False, warn=print) -> list[dict]:
        """The frozen-embedding probe (`mnistmax probe`): linear, kNN, clustering, retrieval, few-shot."""
        from mnistmax.eval.embeddings import probe_rows_for

        return probe_rows_for(run)

    @classmethod
    def eval_tables(cls, rows: list[dict]) -> list[dict]:
        from mnistmax.eval.tables import probe_table

        return [probe_table(rows)]

    @classmethod
    def headline(cls, rows: list[dict]) -> dict:
        return {"metric": "test linear-probe accuracy",
                "scores": {r["method"]: r["linear_probe"] for r in rows if "shot" not in r["method"]}}
