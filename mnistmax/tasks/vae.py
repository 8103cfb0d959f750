"""VAETask: negative ELBO with a Bernoulli likelihood, beta and a linear KL warm-up.
Logs `*/loss` (the beta-weighted objective per image) and `val/nelbo` (nats per image)."""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field

from mnistmax.config.section import Section
from mnistmax.losses.vae import elbo_terms
from mnistmax.tasks.autoencoder import AutoencoderTask
from mnistmax.tasks.base import intervals
from mnistmax.tasks.registry import register_task


def kl_weight(task) -> float:
    """beta, ramped linearly from 0 over vae.kl_warmup_epochs of training (step by step)."""
    v = task.cfg.vae
    if v.kl_warmup_epochs <= 0 or task._trainer is None:
        return v.beta
    batches = max(1, task.trainer.num_training_batches)
    progress = (task.current_epoch + (task.global_step % batches) / batches) / v.kl_warmup_epochs
    return v.beta * min(1.0, progress)


def elbo_step(task, x: torch.Tensor, stage: str, target: torch.Tensor | None = None, gate=None):
    """(beta-weighted negative ELBO, {kl, nelbo}) of a batch: the VAE task's step, and a denoising VAE's
    with `target` the clean digits."""
    log_px, kl = elbo_terms(task.net, x, target=target, gate=gate)
    beta = kl_weight(task) if stage == "train" else task.cfg.vae.beta
    loss = (-log_px + beta * kl).mean()
    metrics = {"kl": kl.mean()}
    if stage != "train":
        metrics["nelbo"] = (-log_px + kl).mean()
    return loss, metrics


class VAEOptions(Section):
    """The VAE objective's own section, `vae:` (task vae, and task denoise with a VAE network)."""

    absent: ClassVar[str] = "it has no VAE objective"  # why another task does not use it
    beta: float = Field(1.0, ge=0)
    kl_warmup_epochs: float = Field(5.0, ge=0)
    iw_samples: int = Field(100, ge=1, le=5000)


@register_task
class VAETask(AutoencoderTask):
    name = "vae"
    family = "vae"
    sections = ("augment",)
    options = {"vae": VAEOptions}
    uses_loss = False  # the ELBO
    capabilities = frozenset({"reconstruct", "encode", "decode", "sample"})

    def model_step(self, batch, stage: str):
        return elbo_step(self, batch["images"], stage)

    def evaluate(self, run, lpips: bool = False, warn=print) -> list[dict]:
        from mnistmax.eval.reconstruction import evaluate_reconstruction

        return evaluate_reconstruction(run.cfg, self, iw_samples=run.cfg.vae.iw_samples)

    @classmethod
    def headline(cls, rows: list[dict]) -> dict:
        return {"metric": "test -ELBO (nats per image, lower is better)",
                "scores": {rows[0]["method"]: rows[0]["nelbo"]},
                "intervals": intervals(rows[:1], "nelbo")}

    def no_digit(self, clean: torch.Tensor, n: int, generator: torch.Generator) -> tuple:
        """Samples from the prior: a VAE is generative."""
        z = torch.randn(n, self.net.latent_dim, generator=generator)
        return None, self.decode(z.to(self.device)).cpu(), "decoded samples z ~ N(0, I) from the prior"
