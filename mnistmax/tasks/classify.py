"""ClassifyTask: cross-entropy on clean digits (cnn_classifier); used by transfer learning."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mnistmax.tasks.base import BaseTask, intervals
from mnistmax.tasks.registry import register_task


@register_task
class ClassifyTask(BaseTask):
    name = "classify"
    family = "classifier"
    sections = ("augment",)
    capabilities = frozenset({"classify"})

    def __init__(self, config: dict):
        super().__init__(config)
        self.frozen_encoder = False

    @classmethod
    def needs_labels(cls, cfg) -> str | None:
        return "a classifier learns the labels"

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

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities (B, classes), float32, without gradients."""
        with torch.no_grad():
            return self.net(x).float().softmax(1)

    def export_graphs(self, threshold: float | None = None) -> list:
        from mnistmax.tasks.graphs import classify_graphs

        return classify_graphs(self.net)

    def evaluate(self, run, lpips: bool = False, warn=print) -> list[dict]:
        from mnistmax.eval.classification import evaluate_classifier

        return evaluate_classifier(run.cfg, self)

    @classmethod
    def headline(cls, rows: list[dict]) -> dict:
        return {"metric": "test accuracy", "scores": {rows[0]["method"]: rows[0]["accuracy"]},
                "intervals": intervals(rows[:1], "accuracy")}
