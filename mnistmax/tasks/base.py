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
from mnistmax.hardware import resolve_channels_last, use_fused_adamw


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
        # sync_dist: averaged over DDP processes when the epoch ends (a no-op on one device);
        # per-step train metrics stay local so no step waits for the others
        if stage == "train":
            self._add_train_loss(loss, n)
        else:
            self.log(f"{stage}/loss", loss, prog_bar=True, on_step=False, on_epoch=True, batch_size=n, sync_dist=True)
        for key, value in metrics.items():
            self.log(f"{stage}/{key}", value, prog_bar=key in ("psnr", "probe_acc"), on_epoch=True, batch_size=n,
                     sync_dist=stage != "train")
        return objective

    def setup(self, stage: str) -> None:
        """train.channels_last: conv weights stored NHWC (the batches follow in the datamodule);
        train.compile: torch.compile the step. Lightning calls this before it moves the module,
        so the device is the trainer's."""
        if resolve_channels_last(self.cfg.train.channels_last, self.trainer.strategy.root_device.type):
            self.to(memory_format=torch.channels_last)
        if stage == "fit" and self.cfg.train.compile and "model_step" not in self.__dict__:
            self.model_step = torch.compile(self.model_step)  # network and loss; reconstruct() stays eager

    def on_train_epoch_start(self) -> None:
        self._train_loss_sum, self._train_loss_count = torch.zeros((), device=self.device), 0

    def _add_train_loss(self, loss: torch.Tensor, n: int) -> None:
        """train/loss is the epoch's mean over images: summed on the device every step and handed
        to self.log once, after the epoch's last batch (a self.log call costs about a millisecond
        on the CPU, 1-2% of a step)."""
        self._train_loss_sum += loss.detach().float() * n
        self._train_loss_count += n

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        if self.trainer.is_last_batch or self.trainer.should_stop:  # callbacks (Timer) have run by now
            self._log_train_loss()

    def _log_train_loss(self) -> None:
        if self._train_loss_count:
            self.log("train/loss", self._train_loss_sum / self._train_loss_count, prog_bar=True, on_step=False,
                     on_epoch=True, batch_size=self._train_loss_count, sync_dist=True)
            self._train_loss_count = 0

    def on_train_epoch_end(self) -> None:
        self._log_train_loss()  # an epoch ended otherwise (max_steps)

    def training_step(self, batch, batch_idx):
        loss = self._step(batch, "train")
        # reading the flag waits for the device: every step on the CPU (free), every 10th on a GPU
        if (self.device.type == "cpu" or batch_idx % 10 == 0) and not torch.isfinite(loss):
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

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None) -> None:
        """Clip by norm here: Lightning's route refuses fused optimizers under bf16 autocast
        (there is no gradient scaling to undo then); fp16 scaling never gets a fused one."""
        if gradient_clip_val:
            params = [p for group in optimizer.param_groups for p in group["params"]]
            torch.nn.utils.clip_grad_norm_(params, gradient_clip_val)

    def configure_optimizers(self):
        t = self.cfg.train
        fused = use_fused_adamw(self.device.type, str(self.trainer.precision), t.grad_clip)
        optimizer = torch.optim.AdamW(self.param_groups(), lr=t.lr, fused=fused or None)
        total = int(self.trainer.estimated_stepping_batches)
        steps_per_epoch = max(1, total // max(1, self.trainer.max_epochs or 1))
        warmup = int(t.warmup_epochs * steps_per_epoch)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(s, warmup, total))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
