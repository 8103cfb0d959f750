"""Where a denoiser falls short, in numbers: `mnistmax compare limitations RUN [RUN ...]`.

For one run, on its test split, at each noise level (levels outside the training range are
marked unseen), the scores of `mnistmax.analysis.scores` plus what a digit classifier (the
judge) makes of the clean, noisy and denoised digits (among them mode averaging: outputs it
finds split between two classes); then what the model makes of input that holds no digit at
all. The classical baselines of `mnistmax.eval.baselines` get the same scores on the same
digits and noise draws. The result is one JSON-able dict per run; pictures and HTML are
drawn from it by `limitations_report`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

import torch

from mnistmax.analysis import scores
from mnistmax.analysis.judge import Judge
from mnistmax.config import RunConfig
from mnistmax.data.datamodule import clean_images
from mnistmax.data.noise import apply_noise, max_level
from mnistmax.data.splits import select_digits
from mnistmax.errors import MnistmaxError
from mnistmax.eval.baselines import BASELINES, BITMAP_BASELINES
from mnistmax.eval.draws import noisy_test_batches
from mnistmax.eval.metrics import per_image_psnr
from mnistmax.inference import batched
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
    "mode_averaging": "share of test digits whose output the judge finds split between two classes (its second most "
                      "likely class has probability >= {split:g}, so the two likeliest each hold at least {split:.0%}) "
                      "while it finds the clean digit not split: blends made by denoising; 0 = none "
                      "(mode_averaging_noisy: the same for the noisy input)",
    "entropy": "mean entropy of the judge's class probabilities, bits (0 = certain, 3.32 = uniform)",
    "no_digit": "judge's mean top-class probability for outputs made from input that holds no digit",
    "baselines": "the classical filters of mnistmax.eval.baselines (identity: the noisy input itself), scored the "
                 "same way on the same test digits and noise draws",
}


def check_sigmas(kind: str, sigmas: list[float]) -> list[float]:
    top = max_level(kind)
    bad = [s for s in sigmas if not 0.0 < s <= top]
    if bad or not sigmas:
        raise MnistmaxError(f"--sigmas: levels must lie in (0, {top:g}] for {kind} noise (got {bad or 'none'})")
    return sorted(sigmas)


def judged(judge: Judge, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(class probabilities (B, classes), entropy in bits (B,)) of the judge."""
    logits = judge.logits(images)
    return logits.softmax(1), scores.class_entropy(logits)


def baseline_methods(cfg: RunConfig) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """The classical denoisers a run is compared with (`mnistmax eval`'s): BASELINES, and
    BITMAP_BASELINES on binarized data."""
    return {**BASELINES, **(BITMAP_BASELINES if cfg.data.binarize else {})}


def draws_key(images: torch.Tensor, cfg: RunConfig, kind: str = "gaussian") -> str:
    """Equal for two runs whose test digits and evaluation noise draws are the same, so a
    baseline is scored once for both."""
    noise = {"seed": cfg.eval.seed, "batch": cfg.eval.batch_size, "clip": cfg.noise.clip, "kind": kind,
             "options": cfg.noise.options(), "binarize": cfg.data.binarize, "threshold": cfg.data.threshold}
    digest = hashlib.sha1(json.dumps(noise, sort_keys=True, default=str).encode())
    digest.update(images.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _scored(method, cfg, images, labels, clean, probs_clean, judge, sigmas, kind, draws, digits, cutoff, split):
    """Yield (σ, noisy, out, judge's probabilities of out, row of scores) for `method` (noisy
    digits -> clean estimates, on the CPU) at each σ of the run's evaluation noise;
    `probs_clean`: the judge's probabilities of the clean digits."""
    pred_clean = probs_clean.argmax(1)
    for sigma in sigmas:
        noisy = torch.cat([n.cpu() for n, _ in noisy_test_batches(images, kind, sigma, cfg, "cpu")])
        out = method(noisy).clamp(0, 1)
        probs_noisy, ent_noisy = judged(judge, noisy)
        probs_out, ent_out = judged(judge, out)
        pred_noisy, pred_out = probs_noisy.argmax(1), probs_out.argmax(1)
        yield sigma, noisy, out, probs_out, {
            "sigma": sigma,
            "psnr": float(per_image_psnr(out, clean).mean()),
            "oversmoothing": scores.oversmoothing(out, clean),
            "laplacian_ratio": float(scores.laplacian_variance(out).mean() / scores.laplacian_variance(clean).mean()),
            "hf_ratio": scores.high_frequency_ratio(out, clean, cutoff),
            "hf_ratio_noisy": scores.high_frequency_ratio(noisy, clean, cutoff),
            "diversity_collapse": scores.diversity_collapse(out, clean),
            "noise_sensitivity": _noise_sensitivity(method, cfg, clean, labels, kind, sigma, draws, digits),
            "acc_noisy": float((pred_noisy == labels).float().mean()),
            "acc_denoised": float((pred_out == labels).float().mean()),
            "flip_rate": float((pred_out != pred_clean).float().mean()),
            "flip_rate_noisy": float((pred_noisy != pred_clean).float().mean()),
            "mode_averaging": scores.mode_averaging(probs_out, probs_clean, split),
            "mode_averaging_noisy": scores.mode_averaging(probs_noisy, probs_clean, split),
            "entropy_noisy": float(ent_noisy.mean()), "entropy_denoised": float(ent_out.mean()),
        }


def analyse_baselines(run: LoadedRun, judge: Judge, sigmas=DEFAULT_SIGMAS, kind: str = "gaussian", draws: int = 16,
                      digits: int = 20, cutoff: float = 0.25, split: float = scores.SPLIT) -> dict[str, list[dict]]:
    """{baseline: rows like analyse_run's (without `seen`)} on the run's test digits and noise draws."""
    cfg = run.cfg
    sigmas = check_sigmas(kind, list(sigmas))
    images, labels = run.splits.test
    clean = clean_images(images, cfg)
    probs_clean, _ = judged(judge, clean)
    return {name: [row for *_, row in _scored(lambda x, fn=fn: batched(fn, x, 1000), cfg, images, labels, clean,
                                               probs_clean, judge, sigmas, kind, draws, digits, cutoff, split)]
            for name, fn in baseline_methods(cfg).items()}


def analyse_run(run: LoadedRun, judge: Judge, sigmas=DEFAULT_SIGMAS, kind: str = "gaussian", draws: int = 16,
                digits: int = 20, cutoff: float = 0.25, show_sigma: float = 0.7, split: float = scores.SPLIT,
                baselines: bool | dict = True) -> dict:
    """`baselines`: True scores the classical baselines too (analyse_baselines), a dict is
    their result already made on the same digits and noise, False leaves them out."""
    run.require("reconstruct", "the limitations analysis")
    cfg, task, run_dir = run.cfg, run.task, run.run_dir
    sigmas = check_sigmas(kind, list(sigmas))
    images, labels = run.splits.test
    clean = clean_images(images, cfg)
    probs_clean, ent_clean = judged(judge, clean)
    pred_clean = probs_clean.argmax(1)
    freqs, clean_power = scores.radial_power_spectrum(clean)
    show = min(sigmas, key=lambda s: abs(s - show_sigma))
    rows, spectra, changed, blended = [], {}, None, None
    method = lambda x: denoise(task, x)  # noqa: E731
    for sigma, noisy, out, probs_out, row in _scored(method, cfg, images, labels, clean, probs_clean, judge, sigmas,
                                                     kind, draws, digits, cutoff, split):
        spectra[str(sigma)] = scores.radial_power_spectrum(out)[1].tolist()
        rows.append({"sigma": sigma, "seen": task.seen_level(sigma), **row})
        if sigma == show:
            changed = _changed_digits(clean, noisy, out, labels, pred_clean, probs_out.argmax(1), sigma)
            blended = _blended_digits(clean, noisy, out, labels, probs_clean, probs_out, sigma, split)
    if baselines is True:
        baselines = analyse_baselines(run, judge, sigmas, kind, draws, digits, cutoff, split)
    return {
        "run": str(run_dir), "name": Path(run_dir).name, "model": cfg.model.name, "task": cfg.task,
        "noise": kind, "n_test": len(images), "cutoff": cutoff, "draws": draws, "digits": digits, "split": split,
        "judge": {"source": judge.source, "test_acc": judge.test_acc},
        "clean": {"acc": float((pred_clean == labels).float().mean()), "entropy": float(ent_clean.mean()),
                  "split": float(scores.split_posterior(probs_clean, split).float().mean())},
        "rows": rows,
        "baselines": baselines or {},
        "spectrum": {"freqs": freqs.tolist(), "clean": clean_power.tolist(), "outputs": spectra},
        "changed": changed,
        "blended": blended,
        "no_digit": _no_digit(task, clean, judge),
        "definitions": {k: v.format(cutoff=cutoff, draws=draws, split=split) for k, v in DEFINITIONS.items()},
    }


def mode_averaging_rows(run: LoadedRun, judge: Judge, sigmas=DEFAULT_SIGMAS, kind: str = "gaussian",
                        split: float = scores.SPLIT, baselines: bool = False) -> list[dict]:
    """Only the mode-averaging scores, one row per σ ({sigma, seen, mode_averaging,
    mode_averaging_noisy, split_outputs, clean_split}), on the same digits and noise draws as
    analyse_run; with `baselines` also `mode_averaging_<baseline>` for each classical filter."""
    run.require("reconstruct", "the limitations analysis")
    cfg, task = run.cfg, run.task
    images, _ = run.splits.test
    probs_clean, _ = judged(judge, clean_images(images, cfg))
    filters = baseline_methods(cfg) if baselines else {}
    rows = []
    for sigma in check_sigmas(kind, list(sigmas)):
        noisy = torch.cat([n.cpu() for n, _ in noisy_test_batches(images, kind, sigma, cfg, "cpu")])
        probs_out = judged(judge, denoise(task, noisy).clamp(0, 1))[0]
        row = {"sigma": sigma, "seen": task.seen_level(sigma),
               "mode_averaging": scores.mode_averaging(probs_out, probs_clean, split),
               "mode_averaging_noisy": scores.mode_averaging(judged(judge, noisy)[0], probs_clean, split),
               "split_outputs": float(scores.split_posterior(probs_out, split).float().mean()),
               "clean_split": float(scores.split_posterior(probs_clean, split).float().mean())}
        for name, fn in filters.items():
            probs = judged(judge, batched(fn, noisy, 1000).clamp(0, 1))[0]
            row[f"mode_averaging_{name}"] = scores.mode_averaging(probs, probs_clean, split)
        rows.append(row)
    return rows


def _noise_sensitivity(method, cfg, clean, labels, kind, sigma, draws, digits) -> float:
    """`draws` noise draws of `digits` digits (cycling through the classes)."""
    picked = clean[select_digits(labels, digits)]
    repeated = picked.repeat_interleave(draws, dim=0)
    generator = torch.Generator().manual_seed(99 + int(round(sigma * 1000)))
    out = method(apply_noise(kind, repeated, sigma, generator=generator, clip=cfg.noise.clip,
                             **cfg.noise.options())).clamp(0, 1)
    return scores.noise_sensitivity(out.view(len(picked), draws, *out.shape[1:]), picked)


def _changed_digits(clean, noisy, out, labels, pred_clean, pred_out, sigma, n: int = 10) -> dict:
    """Digits the judge read correctly when clean but as another class after denoising."""
    index = torch.nonzero((pred_clean == labels) & (pred_out != pred_clean)).flatten()[:n]
    return {"sigma": sigma, "index": index.tolist(), "label": labels[index].tolist(),
            "denoised_as": pred_out[index].tolist(),
            "count": int(((pred_clean == labels) & (pred_out != pred_clean)).sum()),
            "images": {"clean": clean[index], "noisy": noisy[index], "denoised": out[index]}}


def _blended_digits(clean, noisy, out, labels, probs_clean, probs_out, sigma, split, n: int = 10) -> dict:
    """The most blended outputs: the highest second-class probabilities among the digits whose
    clean digit the judge does not find split, with their two likeliest classes."""
    classes, probs = scores.second_class(probs_out)
    second = probs[:, 1].masked_fill(scores.split_posterior(probs_clean, split), -1.0)
    index = second.argsort(descending=True)[:n]
    index = index[second[index] >= 0]
    return {"sigma": sigma, "split": split, "index": index.tolist(), "label": labels[index].tolist(),
            "classes": classes[index].tolist(), "probs": [[round(p, 4) for p in two] for two in probs[index].tolist()],
            "count": int((second >= split).sum()),
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
    out = {k: v for k, v in result.items() if k not in ("changed", "blended", "no_digit")}
    for key in ("changed", "blended"):
        out[key] = {k: v for k, v in (result.get(key) or {}).items() if k != "images"}
    out["no_digit"] = {k: v for k, v in result["no_digit"].items() if k != "images"}
    return out
