"""DenoiseTask: noisy -> clean with a registered denoiser and a reconstruction loss, or with
a VAE (`vae_conv`, gated `ablation_vae_conv`) and the ELBO of the clean digits given the
noisy ones: q(z | noisy), p(clean | z). A VAE denoiser also encodes, decodes and samples."""

from __future__ import annotations

from pathlib import Path

import torch

from mnistmax.eval.metrics import COUNT_KEYS, binary_count_tensor, per_image_psnr, summed_binary_scores
from mnistmax.models import get_entry, list_models
from mnistmax.report import denoise as report_denoise
from mnistmax.tasks.autoencoder import AutoencoderTask
from mnistmax.tasks.base import BaseTask
from mnistmax.tasks.registry import register_task
from mnistmax.tasks.vae import VAEOptions, elbo_step

VAL_BITMAP_KEYS = ("precision", "recall", "specificity", "ablation_efficiency")  # val/<key>, data.binarize runs


def is_vae(name: str) -> bool:
    """Whether network `name` is a VAE (`vae_conv`) or a gated one (`ablation_vae_conv`)."""
    return (get_entry(name).wraps or name) in list_models("vae")


@register_task
class DenoiseTask(BaseTask):
    name = "denoise"
    family = "denoise"
    also_trains = ("vae",)
    sections = ("noise", "augment", "viz")
    options = {"vae": VAEOptions}  # a VAE denoiser's objective
    uses_loss = True
    capabilities = frozenset({"denoise", "reconstruct"})
    report = report_denoise

    def __init__(self, config: dict):
        super().__init__(config)
        self.is_vae = is_vae(self.cfg.model.name)
        if self.is_vae:
            self.capabilities = type(self).capabilities | {"encode", "decode", "sample"}

    @classmethod
    def unused(cls, cfg) -> dict[str, str]:
        out = super().unused(cfg)
        del out["eval.baselines"], out["eval.lpips"]
        if cfg.data.binarize:
            del out["eval.threshold"], out["eval.operating_point"]
        else:
            out["eval.threshold"] = out["eval.operating_point"] = "data.binarize is off: the output is not thresholded"
        if is_vae(cfg.model.name):
            out["train.loss"] = out["train.fp_weight"] = out["train.loss_weights"] = \
                "a VAE denoiser's loss is the ELBO of the clean digits"
            out["vae.iw_samples"] = \
                "a VAE denoiser is evaluated by PSNR / SSIM per noise level, not by a likelihood bound"
        else:
            out["vae"] = f"model {cfg.model.name} is not a VAE"
        if cfg.noise.train_sigma_range is not None:
            out["noise.train_sigmas"] = "noise.train_sigma_range is set"
        if not cfg.noise.uses_mixture():
            out["noise.kinds_per_image"] = "no mixture kind (mixed, add_mixed) in noise.kind or noise.eval_kinds"
        schedule = cfg.noise.schedule
        if schedule is not None and schedule.mode != "step":
            out["noise.schedule.steps"] = "noise.schedule.mode is linear"
        return out

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        return self.net(noisy)

    def reconstruct(self, noisy: torch.Tensor) -> torch.Tensor:
        """Clean estimate in [0, 1], float32, without gradients (for callbacks and eval)."""
        with torch.no_grad():
            return self.net(noisy).float()

    def make_batch(self, images, labels, generator, training) -> dict:
        from mnistmax.data.datamodule import noisy_batch

        within = self.level_range() if training else None  # validation keeps the final range: comparable epochs
        return noisy_batch(images, labels, self.cfg, generator, training, within)

    def level_range(self) -> tuple[float, float] | None:
        """noise.schedule's training level range this epoch (None without a schedule or a trainer).
        A pure function of the epoch and the planned epochs (in the checkpoint): resume is exact."""
        from mnistmax.data.noise import curriculum_range

        schedule = self.cfg.noise.schedule
        if schedule is None or self._trainer is None:
            return None
        return curriculum_range(schedule.start, self.cfg.noise.final_range(), self.current_epoch,
                                self.trainer.max_epochs or self.cfg.train.epochs, schedule.mode, schedule.ramp,
                                schedule.steps)

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        current = self.level_range()
        if current is not None:  # metrics.csv / MLflow: the curriculum's range, epoch by epoch
            self.log("noise/level_low", current[0], on_step=False, on_epoch=True)
            self.log("noise/level_high", current[1], on_step=False, on_epoch=True)

    def training_callbacks(self, run_dir: Path) -> list:
        from mnistmax.training.callbacks.pictures import DenoisingPictures

        return [DenoisingPictures(self.cfg, run_dir)] if self.cfg.viz.enabled else []

    def after_training(self, load_run, echo=print) -> None:
        """A bitmap run's operating points, chosen now on its own validation split with its best
        weights and stored with the run: any later evaluation, on any data, uses them."""
        if self.cfg.data.binarize and self.cfg.eval.operating_point:
            from mnistmax.eval.operating import describe_point, run_points

            for p in run_points(load_run()):
                echo(describe_point(p))

    # a VAE denoiser's latent space, as the VAE task's (the posterior mean)
    encode = AutoencoderTask.encode
    decode = AutoencoderTask.decode

    def model_step(self, batch, stage: str):
        if self.is_vae:
            return self._elbo_step(batch, stage)
        pred = self.net(batch["noisy"])
        loss, metrics = self.reconstruction_loss(pred, batch["clean"], stage)
        if stage != "train":
            metrics["psnr"] = per_image_psnr(pred.detach(), batch["clean"]).mean()
        if stage == "val":
            self._add_bitmap_counts(pred, batch)
        return loss, metrics

    def _elbo_step(self, batch, stage: str):
        gate = getattr(self.net, "gate_logits", None)  # ablation_vae_conv: p(pixel on) never above the input
        loss, metrics = elbo_step(self, batch["noisy"], stage, target=batch["clean"], gate=gate)
        if stage != "train":
            pred = self.net(batch["noisy"]).detach()
            metrics["psnr"] = per_image_psnr(pred, batch["clean"]).mean()
        if stage == "val":
            self._add_bitmap_counts(pred, batch)
        return loss, metrics

    # ------------------------------------------------------------ live bitmap scores (data.binarize)

    _val_counts: torch.Tensor | None = None  # pixel counts of this validation epoch, COUNT_KEYS order

    def on_validation_epoch_start(self) -> None:
        if self.cfg.data.binarize:
            self._val_counts = torch.zeros(len(COUNT_KEYS), dtype=torch.long, device=self.device)

    @torch.compiler.disable  # a side effect on the task: stays eager when train.compile compiles model_step
    def _add_bitmap_counts(self, pred: torch.Tensor, batch: dict) -> None:
        if self._val_counts is not None:
            self._val_counts += binary_count_tensor(pred.detach(), batch["noisy"], batch["clean"],
                                                    self.cfg.eval.threshold)

    def on_validation_epoch_end(self) -> None:
        """val/precision, val/recall, val/specificity, val/ablation_efficiency of the epoch, defined
        as `mnistmax eval` defines them: ratios of pixel counts summed over every batch of every
        process (all_gather), so they are exact, not means of per-batch ratios."""
        if self._val_counts is None:
            return
        scores = summed_binary_scores(self.all_gather(self._val_counts))
        self._val_counts = None
        for key in VAL_BITMAP_KEYS:  # the same numbers on every process: no further sync
            self.log(f"val/{key}", scores[key], on_step=False, on_epoch=True)

    # ------------------------------------------------------------ evaluation and report

    def evaluate(self, run, lpips: bool = False, warn=print) -> list[dict]:
        from mnistmax.eval.denoise import evaluate_denoiser
        from mnistmax.eval.operating import run_points

        points = run_points(run) if run.cfg.data.binarize and run.cfg.eval.operating_point else []
        return evaluate_denoiser(run.cfg, self, use_lpips=lpips, warn=warn, points=points)

    def export_graphs(self, threshold: float | None = None) -> list:
        from mnistmax.tasks.graphs import denoise_graphs

        return denoise_graphs(self.net, threshold)

    def pictures(self, run) -> list[Path]:
        """Curves, reconstruction grid, σ panel, best/worst cases, the ablation map (gated bitmaps),
        the PSNR curve (once evaluated), the operating points (bitmaps)."""
        from mnistmax.viz import commands
        from mnistmax.viz.run_figures import draws_ablation_map

        written = [*super().pictures(run), commands.recon_grid(run), commands.sigma_panel(run), commands.cases(run)]
        if draws_ablation_map(run.cfg.data.binarize, run.cfg.noise.kind):
            written.append(commands.ablation_map(run))
        if commands.eval_path(run.run_dir, type(self)).is_file():
            written.append(commands.psnr_curve(run.run_dir, type(self)))
        if run.cfg.data.binarize:
            written.append(commands.operating_points(run)[0])
        return written

    def recon_grid(self, cfg, clean: torch.Tensor, path: Path, title: str) -> Path:
        """clean | noisy (noise.kind at viz.sigma) | denoised | |error|, each digit's PSNR."""
        from mnistmax.viz.run_figures import render_recon_grid

        return render_recon_grid(self, cfg, clean, path, title)

    @classmethod
    def eval_tables(cls, rows: list[dict]) -> list[dict]:
        from mnistmax.eval.tables import denoise_tables

        return denoise_tables(rows)

    @classmethod
    def headline(cls, rows: list[dict]) -> dict:
        methods = list(dict.fromkeys(r["method"] for r in rows))
        scores = {m: sum(r["psnr"] for r in rows if r["method"] == m) / sum(r["method"] == m for r in rows)
                  for m in methods}
        # the mean of the rows' 95 % intervals: at least as wide as the mean's own (the standard deviation
        # of a mean of correlated means is at most the mean of their standard deviations)
        ranged = {m: [r for r in rows if r["method"] == m and "psnr_ci95_lo" in r] for m in methods}
        spans = {m: [sum(r[f"psnr_ci95_{e}"] for r in rs) / len(rs) for e in ("lo", "hi")]
                 for m, rs in ranged.items() if rs and len(rs) == sum(r["method"] == m for r in rows)}
        return {"metric": "test PSNR (dB, mean over noise kinds × σ)", "scores": scores, "intervals": spans}

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

        inputs = fixed_noise(torch.zeros(n, *clean.shape[1:]), self.cfg.noise.kind, 1.0, self.cfg.noise.clip, seed=7,
                             **self.cfg.noise.options())
        return inputs, denoise(self, inputs), f"denoised pure {self.cfg.noise.kind} noise (level 1 on a blank image)"
