"""Where a denoiser falls short, in numbers: `mnistmax compare limitations RUN [RUN ...]`.

For one run, on its test split, at each noise level (levels outside the training range are
marked unseen), the scores of `mnistmax.analysis.scores` plus what a digit classifier (the
judge) makes of the clean, noisy and denoised digits; then what the model makes of input
that holds no digit at all. The result is one JSON-able dict per run; pictures and HTML
are drawn from it by `limitations_report`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from mnistmax.analysis import scores
from mnistmax.analysis.judge import Judge
from mnistmax.data.datamodule import clean_images
from mnistmax.data.noise import apply_noise, max_level
from mnistmax.data.splits import select_digits
from mnistmax.errors import MnistmaxError
from mnistmax.eval.draws import noisy_test_batches
from mnistmax.eval.metrics import per_image_psnr
from mnistmax.runs import LoadedRun
from mnistmax.viz.run_figures import denoise

DEFAULT_SIGMAS = (0.1, 0.3, 0.5, 0.7, 1.0, 1.5)
DEFINITIONS = {
    "oversmoothing": "1 - min(1, E(out)/E(clean)), E = mean Sobel gradient magnitude; 0 = edges kept, 1 = no edges",
    "laplacian_ratio": "variance of the Laplacian of the outputs / that of the clean digits (1 = as sharp)",
    "hf_ratio": "power above {cutoff} cycles/pixel in the outputs / in the clean digits (1 = preserved, <1 = lost)",
    "diversity_collapse": "1 - min(1, D(out)/D(clean)), D = mean pairwise RMS distance between different digits; "
                          "1 = every output the same",
    "noise_sensitivity": "mean pairwise RMS distance between outputs of {draws} noise draws of the same digit / "
                         "D(clean); "
                         "0 = the output ignores the draw",
    "flip_rate": "share of test digits whose judged class after denoising differs from the class of the clean digit",
    "entropy": "mean entropy of the judge's class probabilities, bits (0 = certain, 3.32 = uniform)",
    "no_digit": "judge's mean top-class probability for outputs made from input that holds no digit",
}


def check_sigmas(kind: str, sigmas: list[float]) -> list[float]:
    top = max_level(kind)
    bad = [s for s in sigmas if not 0.0 < s <= top]
    if bad or not sigmas:
        raise MnistmaxError(f"--sigmas: levels must lie in (0, {top:g}] for {kind} noise (got {bad or 'none'})")
    return sorted(sigmas)


def judged(judge: Judge, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    logits = judge.logits(images)
    return logits.argmax(1), scores.class_entropy(logits)


def analyse_run(run: LoadedRun, judge: Judge, sigmas=DEFAULT_SIGMAS, kind: str = "gaussian", draws: int = 16,
                digits: int = 20, cutoff: float = 0.25, show_sigma: float = 0.7) -> dict:
    run.require("reconstruct", "the limitations analysis")
    cfg, task, run_dir = run.cfg, run.task, run.run_dir
    sigmas = check_sigmas(kind, list(sigmas))
    images, labels = run.splits.test
    clean = clean_images(images, cfg)
    pred_clean, ent_clean = judged(judge, clean)
    freqs, clean_power = scores.radial_power_spectrum(clean)
    show = min(sigmas, key=lambda s: abs(s - show_sigma))
    rows, spectra, changed = [], {}, None
    for sigma in sigmas:
        noisy = torch.cat([n.cpu() for n, _ in noisy_test_batches(images, kind, sigma, cfg, "cpu")])
        out = denoise(task, noisy).clamp(0, 1)
        pred_noisy, ent_noisy = judged(judge, noisy)
        pred_out, ent_out = judged(judge, out)
        spectra[str(sigma)] = scores.radial_power_spectrum(out)[1].tolist()
        rows.append({
            "sigma": sigma, "seen": task.seen_level(sigma),
            "psnr": float(per_image_psnr(out, clean).mean()),
            "oversmoothing": scores.oversmoothing(out, clean),
            "laplacian_ratio": float(scores.laplacian_variance(out).mean() / scores.laplacian_variance(clean).mean()),
            "hf_ratio": scores.high_frequency_ratio(out, clean, cutoff),
            "hf_ratio_noisy": scores.high_frequency_ratio(noisy, clean, cutoff),
            "diversity_collapse": scores.diversity_collapse(out, clean),
            "noise_sensitivity": _noise_sensitivity(task, cfg, clean, labels, kind, sigma, draws, digits),
            "acc_noisy": float((pred_noisy == labels).float().mean()),
            "acc_denoised": float((pred_out == labels).float().mean()),
            "flip_rate": float((pred_out != pred_clean).float().mean()),
            "flip_rate_noisy": float((pred_noisy != pred_clean).float().mean()),
            "entropy_noisy": float(ent_noisy.mean()), "entropy_denoised": float(ent_out.mean()),
        })
        if sigma == show:
            changed = _changed_digits(clean, noisy, out, labels, pred_clean, pred_out, sigma)
    return {
        "run": str(run_dir), "name": Path(run_dir).name, "model": cfg.model.name, "task": cfg.task,
        "noise": kind, "n_test": len(images), "cutoff": cutoff, "draws": draws, "digits": digits,
        "judge": {"source": judge.source, "test_acc": judge.test_acc},
        "clean": {"acc": float((pred_clean == labels).float().mean()), "entropy": float(ent_clean.mean())},
        "rows": rows,
        "spectrum": {"freqs": freqs.tolist(), "clean": clean_power.tolist(), "outputs": spectra},
        "changed": changed,
        "no_digit": _no_digit(task, clean, judge),
        "definitions": {k: v.format(cutoff=cutoff, draws=draws) for k, v in DEFINITIONS.items()},
    }


def _noise_sensitivity(task, cfg, clean, labels, kind, sigma, draws, digits) -> float:
    """`draws` noise draws of `digits` digits (cycling through the classes)."""
    picked = clean[select_digits(labels, digits)]
    repeated = picked.repeat_interleave(draws, dim=0)
    generator = torch.Generator().manual_seed(99 + int(round(sigma * 1000)))
    out = denoise(task, apply_noise(kind, repeated, sigma, generator=generator, clip=cfg.noise.clip,
                                **cfg.noise.options())).clamp(0, 1)
    return scores.noise_sensitivity(out.view(len(picked), draws, *out.shape[1:]), picked)


def _changed_digits(clean, noisy, out, labels, pred_clean, pred_out, sigma, n: int = 10) -> dict:
    """Digits the judge read correctly when clean but as another class after denoising."""
    index = torch.nonzero((pred_clean == labels) & (pred_out != pred_clean)).flatten()[:n]
    return {"sigma": sigma, "index": index.tolist(), "label": labels[index].tolist(),
            "denoised_as": pred_out[index].tolist(),
            "count": int(((pred_clean == labels) & (pred_out != pred_clean)).sum()),
            "images": {"clean": clean[index], "noisy": noisy[index], "denoised": out[index]}}


def _no_digit(task, clean: torch.Tensor, judge: Judge, n: int = 16) -> dict:
    """What the model makes from input that holds no digit (the task says what that is)."""
    inputs, out, what = task.no_digit(clean, n, torch.Generator().manual_seed(7))
    probs = judge.logits(out).softmax(1)
    return {"what": what, "confidence": float(probs.max(1).values.mean()),
            "entropy": float(scores.class_entropy(judge.logits(out)).mean()),
            "confident_share": float((probs.max(1).values >= 0.9).float().mean()),
            "diversity": scores.mean_pairwise_distance(out) / max(scores.mean_pairwise_distance(clean[:200]), 1e-12),
            "images": {"inputs": inputs, "outputs": out.clamp(0, 1)}}


def strip_images(result: dict) -> dict:
    """The result without its image tensors (for JSON)."""
    out = {k: v for k, v in result.items() if k not in ("changed", "no_digit")}
    out["changed"] = {k: v for k, v in (result["changed"] or {}).items() if k != "images"}
    out["no_digit"] = {k: v for k, v in result["no_digit"].items() if k != "images"}
    return out
