"""Evaluation of a denoiser over noise kinds x levels, with classical baselines in the same table.

Noise is drawn from `eval.seed` so the numbers repeat run after run. Rows are plain dicts
`{method, noise, sigma, n, mse, psnr, ssim[, lpips]}` written as eval.json, eval.csv, eval.md.
"""

from __future__ import annotations

from typing import Callable

import torch

from mnistmax.config import RunConfig
from mnistmax.data.datamodule import test_images
from mnistmax.data.noise import ADDITIVE_KINDS
from mnistmax.eval.baselines import BASELINES, BITMAP_BASELINES
from mnistmax.eval.draws import CPU_FORWARD_CHUNK, in_chunks, noisy_batches
from mnistmax.eval.metrics import METRIC_KEYS, image_metrics, with_ci
from mnistmax.eval.operating import SWEEP_KEYS, point_scores, sweep_counts
from mnistmax.models import get_entry
from mnistmax.models.gated import AblationGate


def evaluate_methods(
    methods: dict[str, Callable[[torch.Tensor], torch.Tensor]],
    images: torch.Tensor,
    cfg: RunConfig,
    device: torch.device | str = "cpu",
    lpips: Callable | None = None,
    thresholds: dict[str, float] | None = None,
) -> list[dict]:
    """One row per (method, kind, sigma): mean per-image MSE, PSNR, SSIM (and LPIPS); with
    data.binarize also bitmap and ablation scores pooled over all test pixels, each method's
    output thresholded at `thresholds[method]` (default eval.threshold), with recall_visible and
    hidden_ink for additive noise (mnistmax.eval.operating)."""
    rows = []
    bitmap = cfg.data.binarize
    thresholds = {name: (thresholds or {}).get(name, cfg.eval.threshold) for name in methods}
    chunk = CPU_FORWARD_CHUNK if torch.device(device).type == "cpu" else None
    methods = {name: in_chunks(method, chunk) for name, method in methods.items()}
    for kind in cfg.noise.kinds_to_evaluate():
        for sigma in cfg.noise.levels_to_evaluate():
            sums = {name: dict.fromkeys((*METRIC_KEYS, "lpips"), 0.0) for name in methods}
            psnrs = {name: [] for name in methods}  # per image: the interval of the mean
            counts = {name: torch.zeros(len(SWEEP_KEYS), dtype=torch.long) for name in methods}
            for noisy, clean, added in noisy_batches(images, kind, sigma, cfg, device, with_added=bitmap):
                for name, method in methods.items():
                    with torch.no_grad():
                        out = method(noisy).float().clamp(0, 1)
                    per_image = image_metrics(out, clean)
                    for key, values in per_image.items():
                        sums[name][key] += values.sum().item()
                    psnrs[name].append(per_image["psnr"].cpu())
                    if lpips is not None:
                        sums[name]["lpips"] += lpips(out, clean).sum().item()
                    if bitmap:
                        counts[name] += sweep_counts(out, noisy, clean, added, torch.tensor([thresholds[name]]),
                                                     cfg.data.threshold)[0]
            n = len(images)
            for name in methods:
                row = {"method": name, "noise": kind, "sigma": sigma, "n": n}
                row |= {k: sums[name][k] / n for k in METRIC_KEYS}
                row = with_ci(row, "psnr", torch.cat(psnrs[name]), cfg.eval.seed)
                if lpips is not None:
                    row["lpips"] = sums[name]["lpips"] / n
                if bitmap:
                    scores = point_scores(dict(zip(SWEEP_KEYS, counts[name].tolist())), n)
                    del scores["f_beta"]
                    if kind not in ADDITIVE_KINDS:  # no added-ink mask: nothing is hidden or visible
                        del scores["recall_visible"], scores["hidden_ink"]
                    row |= scores | {"threshold": thresholds[name]}
                rows.append(row)
    return rows


def methods_for(cfg: RunConfig, task) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """The model, its ungated network when it is gated, and the classical baselines."""
    methods = {cfg.model.name: task.reconstruct}
    if isinstance(task.net, AblationGate):
        methods[f"{get_entry(cfg.model.name).wraps} (ungated)"] = task.net.ungated
    if cfg.eval.baselines:
        methods |= BASELINES
        if cfg.data.binarize:
            methods |= BITMAP_BASELINES
    return methods


def evaluate_denoiser(cfg: RunConfig, task, use_lpips: bool = False, warn=print, points: list[dict] = ()) -> list[dict]:
    """Evaluate a loaded task (and the baselines) on the test split of `cfg`'s data. `points`: a
    bitmap run's operating points (mnistmax.eval.operating.run_points, chosen on the validation
    split the run was trained with): the model's rows use the first point's threshold, and each
    further point adds the model's rows as "<model> @<point>"."""
    device = next(task.parameters()).device
    methods = methods_for(cfg, task)
    thresholds, points = {}, list(points)
    if points:
        from mnistmax.eval.operating import describe_point

        names = [cfg.model.name, *(f"{cfg.model.name} @{p['point']}" for p in points[1:])]
        methods = {names[0]: methods.pop(names[0]), **{name: task.reconstruct for name in names[1:]}, **methods}
        thresholds = {name: p["threshold"] for name, p in zip(names, points)}
        for p in points:
            warn(describe_point(p))
    lpips = None
    if use_lpips:
        from mnistmax.eval.metrics import LPIPSUnavailable, make_lpips

        try:
            lpips = make_lpips(device)
        except LPIPSUnavailable as exc:
            warn(str(exc))
    rows = evaluate_methods(methods, test_images(cfg), cfg, device, lpips, thresholds)
    named = dict(zip(names, points)) if points else {}
    for row in rows:
        if row["method"] in named:
            p = named[row["method"]]
            row |= {"point": p["point"], "point_rule": p["rule"], "point_met": p["met"],
                    "point_validation_images": p.get("validation_images")}
    return rows
