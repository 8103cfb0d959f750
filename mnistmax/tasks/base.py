"""BaseTask: the one LightningModule every task subclasses.

It owns the config, the optimizer (AdamW, no weight decay on norms and biases), the
warmup + cosine schedule, NaN detection, and one-line train/val/test steps around a
`model_step(batch, stage)` that subclasses implement.
"""

from __future__ import annotations

import math

import lightning as L
import torch

from mnistmax.config import RunConfig
from mnistmax.errors import MnistmaxError


class TrainingDiverged(MnistmaxError):
    """The loss became NaN or infinite."""


def warmup_cosine(step: int, warmup_steps: int, total_steps: int, floor: float = 0.01) -> float:
    """LR multiplier: linear warmup to 1, then cosine decay to `floor`."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


class BaseTask(L.LightningModule):
    def __init__(self, config: dict):
        super().__init__()
        self.save_hyperparameters({"config": config})  # plain dict: the checkpoint rebuilds the model
        self.cfg = RunConfig.model_validate(config)

    def model_step(self, batch, stage: str) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def _step(self, batch, stage: str) -> torch.Tensor:
        """Log `{stage}/loss` and the metrics; a metric named `aux_loss` (e.g. an online
        probe's) is added to what is optimised but not to the logged loss."""
        loss, metrics = self.model_step(batch, stage)
        objective = loss + metrics.pop("aux_loss", 0.0)
        n = len(batch["labels"])
        self.log(f"{stage}/loss", loss, prog_bar=True, on_step=False, on_epoch=True, batch_size=n)
        for key, value in metrics.items():
            self.log(f"{stage}/{key}", value, prog_bar=key in ("psnr", "probe_acc"), on_epoch=True, batch_size=n)
        return objective

    def training_step(self, batch, batch_idx):
        loss = self._step(batch, "train")
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"train/loss became {loss.item()} at epoch {self.current_epoch}, step {self.global_step}; "
                f"lower train.lr (now {self.cfg.train.lr}) or set train.grad_clip"
            )
        return loss

    def validation_step(self, batch, batch_idx):
        return self._step(batch, "val")

    def test_step(self, batch, batch_idx):
        return self._step(batch, "test")

    def param_groups(self, params=None) -> list[dict]:
        """AdamW groups: weight decay on weights, none on norms and biases."""
        decay, no_decay = [], []
        for p in params if params is not None else self.parameters():
            if p.requires_grad:
                (decay if p.ndim > 1 else no_decay).append(p)
        return [{"params": decay, "weight_decay": self.cfg.train.weight_decay},
                {"params": no_decay, "weight_decay": 0.0}]

    def configure_optimizers(self):
        t = self.cfg.train
        optimizer = torch.optim.AdamW(self.param_groups(), lr=t.lr)
        total = int(self.trainer.estimated_stepping_batches)
        steps_per_epoch = max(1, total // max(1, self.trainer.max_epochs or 1))
        warmup = int(t.warmup_epochs * steps_per_epoch)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(s, warmup, total))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
