"""VAETask: negative ELBO with a Bernoulli likelihood, beta and a linear KL warm-up.
Logs `*/loss` (the beta-weighted objective per image) and `val/nelbo` (nats per image)."""

from __future__ import annotations

from mnistmax.models.vae import elbo_terms
from mnistmax.tasks.autoencoder import AutoencoderTask


class VAETask(AutoencoderTask):
    def kl_weight(self) -> float:
        v = self.cfg.vae
        if v.kl_warmup_epochs <= 0 or self._trainer is None:
            return v.beta
        batches = max(1, self.trainer.num_training_batches)
        progress = (self.current_epoch + (self.global_step % batches) / batches) / v.kl_warmup_epochs
        return v.beta * min(1.0, progress)

    def model_step(self, batch, stage: str):
        log_px, kl = elbo_terms(self.net, batch["images"])
        beta = self.kl_weight() if stage == "train" else self.cfg.vae.beta
        loss = (-log_px + beta * kl).mean()
        metrics = {"kl": kl.mean()}
        if stage != "train":
            metrics["nelbo"] = (-log_px + kl).mean()
        return loss, metrics
