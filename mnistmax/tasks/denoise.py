"""DenoiseTask: noisy -> clean with a registered denoiser and a reconstruction loss."""

from __future__ import annotations

from pathlib import Path

import torch

from mnistmax.losses import get_loss
from mnistmax.eval.metrics import per_image_psnr
from mnistmax.tasks.base import BaseTask, register_task


@register_task
class DenoiseTask(BaseTask):
    name = "denoise"
    family = "denoise"
    sections = ("noise", "augment", "viz")
    uses_loss = True
    capabilities = frozenset({"denoise", "reconstruct"})
    report_module = "denoise"

    def __init__(self, config: dict):
        super().__init__(config)
        self.loss_fn = get_loss(self.cfg.train.loss, fp_weight=self.cfg.train.fp_weight)

    @classmethod
    def unused(cls, cfg) -> dict[str, str]:
        out = super().unused(cfg)
        del out["eval.baselines"], out["eval.lpips"]
        if cfg.noise.train_sigma_range is not None:
            out["noise.train_sigmas"] = "noise.train_sigma_range is set"
        return out

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        return self.net(noisy)

    def reconstruct(self, noisy: torch.Tensor) -> torch.Tensor:
        """Clean estimate in [0, 1], float32, without gradients (for callbacks and eval)."""
        with torch.no_grad():
            return self.net(noisy).float()

    def make_batch(self, images, labels, generator, training) -> dict:
        from mnistmax.data.datamodule import noisy_batch

        return noisy_batch(images, labels, self.cfg, generator, training)

    def training_callbacks(self, run_dir: Path) -> list:
        from mnistmax.training.callbacks.pictures import DenoisingPictures

        return [DenoisingPictures(self.cfg, run_dir)] if self.cfg.viz.enabled else []

    def model_step(self, batch, stage: str):
        pred = self.net(batch["noisy"])
        loss = self.loss_fn(pred, batch["clean"])
        metrics = {} if stage == "train" else {"psnr": per_image_psnr(pred.detach(), batch["clean"]).mean()}
        return loss, metrics

    # ------------------------------------------------------------ evaluation and report

    def evaluate(self, run, lpips: bool = False, warn=print) -> list[dict]:
        from mnistmax.eval.denoise import evaluate_run

        return evaluate_run(run.cfg, self, use_lpips=lpips, warn=warn)

    @classmethod
    def eval_tables(cls, rows: list[dict]) -> list[dict]:
        from mnistmax.eval.tables import denoise_tables

        return denoise_tables(rows)

    @classmethod
    def headline(cls, rows: list[dict]) -> dict:
        methods = list(dict.fromkeys(r["method"] for r in rows))
        scores = {m: sum(r["psnr"] for r in rows if r["method"] == m) / sum(r["method"] == m for r in rows)
                  for m in methods}
        return {"metric": "test PSNR (dB, mean over noise kinds × σ)", "scores": scores}

    # ------------------------------------------------------------ analyses

    def seen_level(self, sigma: float) -> bool:
        n = self.cfg.noise
        if n.train_sigma_range is not None:
            low, high = n.train_sigma_range
            return low - 1e-9 <= sigma <= high + 1e-9
        return any(abs(sigma - s) < 1e-6 for s in n.train_sigmas)

    def no_digit(self, clean: torch.Tensor, n: int, generator: torch.Generator) -> tuple:
        """Pure noise in: noise of level 1 on a blank image."""
        from mnistmax.data.noise import fixed_noise
        from mnistmax.viz.run_figures import denoise

        inputs = fixed_noise(torch.zeros(n, *clean.shape[1:]), self.cfg.noise.kind, 1.0, self.cfg.noise.clip, seed=7)
        return inputs, denoise(self, inputs), f"denoised pure {self.cfg.noise.kind} noise (level 1 on a blank image)"
