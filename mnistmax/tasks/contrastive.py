"""ContrastiveTask: an encoder trained with NT-Xent (SimCLR), SupCon, InfoNCE or a triplet
loss on two augmented views; an online linear probe on detached features logs
`val/probe_acc` every epoch without ever sending label gradients into the encoder."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

import torch
import torch.nn as nn
import torch.nn.functional as F
from pydantic import Field

from mnistmax.config.section import Section
from mnistmax.losses.contrastive import CONTRASTIVE_LOSSES, MINING, sampled_triplet_loss, two_view_loss
from mnistmax.report import representation as report_representation
from mnistmax.tasks.base import BaseTask, intervals
from mnistmax.tasks.registry import register_task

N_CLASSES = 10


class ContrastiveOptions(Section):
    """The contrastive task's own section, `contrastive:`."""

    absent: ClassVar[str] = "it has no contrastive loss"  # why another task does not use it
    loss: CONTRASTIVE_LOSSES.name_field() = "ntxent"
    temperature: float = Field(0.2, gt=0)
    projection_dim: int = Field(128, gt=0)
    margin: float = Field(0.2, gt=0)
    mining: MINING.name_field() = "batch_hard"
    # triplet loss: `mined` inside each batch of two views (mining), or `sampled` (anchor, positive,
    # negative) triplets drawn from the labels (augment.consistent: one warp per triplet)
    triplets: Literal["mined", "sampled"] = "mined"
    probe_lr: float = Field(1e-2, gt=0)

    def uses_labels(self) -> bool:
        return CONTRASTIVE_LOSSES.get(self.loss).uses_labels

    def triplet(self) -> bool:
        return CONTRASTIVE_LOSSES.get(self.loss).triplet


@register_task
class ContrastiveTask(BaseTask):
    name = "contrastive"
    family = "encoder"
    sections = ("augment", "viz")
    options = {"contrastive": ContrastiveOptions}
    capabilities = frozenset({"embed"})
    eval_stem = "probe"
    next_command = "probe"  # `mnistmax eval` runs the probe too
    sync_batchnorm = True  # the losses see the global batch (gathered), so does the projector's BatchNorm
    report = report_representation

    def __init__(self, config: dict):
        super().__init__(config)
        c = self.cfg.contrastive
        d = self.net.embedding_dim
        self.projector = nn.Sequential(nn.Linear(d, 256), nn.BatchNorm1d(256), nn.ReLU(inplace=True),
                                       nn.Linear(256, c.projection_dim))
        # the data's classes (set by train); unlabelled data (data.num_classes 0) trains no probe
        self.labelled = self.cfg.data.num_classes != 0
        self.probe = nn.Linear(d, self.cfg.data.num_classes or N_CLASSES)

    @classmethod
    def unused(cls, cfg) -> dict[str, str]:
        out = {k: v for k, v in super().unused(cfg).items() if not k.startswith("augment.")}
        out["augment.enabled"] = "contrastive views are always augmented"
        for key in ("every_n_epochs", "n_digits", "sigma", "panel_digits", "panel_sigmas"):
            out[f"viz.{key}"] = "it draws only the clustering GIF and the live curves, set by viz.enabled and " \
                                "viz.every_n_steps"
        c = cfg.contrastive
        if c.triplet():
            out["contrastive.temperature"] = "the triplet loss has a margin, not a temperature"
            if c.triplets == "sampled":
                out["contrastive.mining"] = "contrastive.triplets=sampled draws its triplets from the labels"
        else:
            out["contrastive.margin"] = out["contrastive.mining"] = out["contrastive.triplets"] = \
                f"contrastive.loss={c.loss} uses no triplets"
        return out

    @classmethod
    def needs_labels(cls, cfg) -> str | None:
        c = cfg.contrastive
        if c.uses_labels():
            return f"contrastive.loss={c.loss} takes its positives from the labels"
        if c.triplet() and c.triplets == "sampled":
            return "contrastive.triplets=sampled draws its triplets from the labels"
        return None

    def balanced_batches(self) -> bool:
        return self.cfg.contrastive.uses_labels()

    def make_batch(self, images, labels, generator, training) -> dict:
        from mnistmax.data.datamodule import view_batch
        from mnistmax.data.triplets import triplet_batch

        if self.cfg.contrastive.triplet() and self.cfg.contrastive.triplets == "sampled":
            return triplet_batch(images, labels, self.cfg, generator)
        return view_batch(images, labels, self.cfg, generator)

    def training_callbacks(self, run_dir: Path) -> list:
        from mnistmax.training.callbacks.embeddings import EmbeddingEvolution

        return [EmbeddingEvolution(self.cfg, run_dir)] if self.cfg.viz.enabled else []

    def transfer_source(self) -> tuple[dict, dict]:
        """encoder_classifier around this run's encoder network (the projection head and probe stay here)."""
        model = {"name": "encoder_classifier", "encoder": self.cfg.model.name,
                 "encoder_options": self.cfg.model.options()}
        return model, self.net.state_dict()

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Embeddings of clean images (B, embedding_dim), float32, without gradients."""
        with torch.no_grad():
            return self.net.embed(x).float()

    def contrastive_loss(self, h1: torch.Tensor, h2: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        c = self.cfg.contrastive
        # every loss sees the projection head's output, never the embedding itself: a triplet loss
        # on normalised raw embeddings let weight decay shrink them to a single point (measured)
        z1, z2 = self.projector(h1), self.projector(h2)
        # training under DDP scores against every process's batch (same size on all: drop_last);
        # validation batches may differ in size and count between processes, so they stay local
        return two_view_loss(c.loss, z1, z2, labels, temperature=c.temperature, margin=c.margin, mining=c.mining,
                             gather=self.training)

    def model_step(self, batch, stage: str):
        if "anchor" in batch:  # contrastive.triplets: sampled
            members = torch.cat([batch["anchor"], batch["positive"], batch["negative"]])
            h = self.net.embed(members)
            za, zp, zn = self.projector(h).chunk(3)  # one projector call: one set of BatchNorm statistics
            # training under DDP: the mean over every process's triplets, as the other losses (validation: local)
            loss = sampled_triplet_loss(za, zp, zn, self.cfg.contrastive.margin, gather=self.training)
            h1, labels = h[: len(batch["anchor"])], batch["triplet_labels"]
        else:
            h1, h2 = self.net.embed(batch["view1"]), self.net.embed(batch["view2"])
            loss, labels = self.contrastive_loss(h1, h2, batch["labels"]), batch["labels"]
        if not self.labelled:
            return loss, {}
        if stage != "train":
            h1, labels = self.net.embed(batch["images"]), batch["labels"]
        logits = self.probe(h1.detach().float())
        probe_loss = F.cross_entropy(logits, labels)
        metrics = {"probe_acc": (logits.argmax(1) == labels).float().mean()}
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

        return probe_rows_for(run, warn)

    def export_graphs(self, threshold: float | None = None) -> list:
        from mnistmax.tasks.graphs import embed_graphs

        return embed_graphs(self.net)

    def pictures(self, run) -> list[Path]:
        """Curves and the test embeddings (PCA, t-SNE, UMAP when installed)."""
        from mnistmax.viz import commands

        return [*super().pictures(run), *commands.embedding_plots(run)]

    @classmethod
    def eval_tables(cls, rows: list[dict]) -> list[dict]:
        from mnistmax.eval.tables import probe_table

        return [probe_table(rows)]

    @classmethod
    def headline(cls, rows: list[dict]) -> dict:
        if rows and "linear_probe" not in rows[0]:  # unlabelled data
            return {"metric": "test k-means silhouette (no labels)",
                    "scores": {r["method"]: r["silhouette"] for r in rows}}
        full = [r for r in rows if "shot" not in r["method"]]
        return {"metric": "test linear-probe accuracy", "scores": {r["method"]: r["linear_probe"] for r in full},
                "intervals": intervals(full, "linear_probe")}
