"""Evaluation of a denoiser over noise kinds x levels, with classical baselines in the same table.

Noise is drawn from `eval.seed` so the numbers repeat run after run. Rows are plain dicts
`{method, noise, sigma, n, mse, psnr, ssim[, lpips]}` written as eval.json, eval.csv, eval.md.
"""

from __future__ import annotations

from typing import Callable

import torch

from mnistmax.config import RunConfig
from mnistmax.data.datamodule import clean_images, test_images
from mnistmax.data.noise import ADDITIVE_KINDS, apply_noise
from mnistmax.eval.baselines import BASELINES, BITMAP_BASELINES
from mnistmax.eval.metrics import METRIC_KEYS, image_metrics
from mnistmax.eval.operating import SWEEP_KEYS, point_scores, sweep_counts
from mnistmax.models.gated import AblationGate

CPU_FORWARD_CHUNK = 250  # images per forward pass on the CPU (docs/PERFORMANCE.md, Evaluation)


def in_chunks(method: Callable[[torch.Tensor], torch.Tensor], chunk: int | None) -> Callable:
    """`method` applied to slices of at most `chunk` images, outputs concatenated. On the CPU a
    large batch is slower than a few smaller ones: activations above glibc's 32 MB reuse limit
    are mapped afresh every layer. Noise and metrics keep eval.batch_size, so the numbers do
    not depend on the chunk."""
    if chunk is None:
        return method
    return lambda x: torch.cat([method(part) for part in x.split(chunk)]) if len(x) > chunk else method(x)


def noisy_test_batches(images: torch.Tensor, kind: str, sigma: float, cfg: RunConfig, device):
    """Yield (noisy, clean) batches; the noise depends only on (eval.seed, kind, sigma, batch)."""
    for noisy, clean, _ in noisy_batches(images, kind, sigma, cfg, device, with_added=False):
        yield noisy, clean


def noisy_batches(images: torch.Tensor, kind: str, sigma: float, cfg: RunConfig, device, seed: int | None = None,
                  with_added: bool = True):
    """Yield (noisy, clean, added) batches, the noise drawn from `seed` (default eval.seed), kind,
    sigma and the batch. `added` is the ink an additive kind added (None for other kinds, or
    without `with_added`): the
    same draw on a blank image, since additive noise is max(clean, ink) with ink independent of
    the image (tests/data/noise check it for every additive kind)."""
    bs = cfg.eval.batch_size
    base = cfg.eval.seed if seed is None else seed
    for i in range(0, len(images), bs):
        clean = clean_images(images[i : i + bs], cfg).to(device)
        draw = lambda x: apply_noise(kind, x, sigma, clip=cfg.noise.clip, **cfg.noise.options(),  # noqa: E731
                                     generator=torch.Generator(device=device).manual_seed(_seed(base, kind, sigma, i)))
        yield draw(clean), clean, (draw(torch.zeros_like(clean)) if with_added and kind in ADDITIVE_KINDS else None)


def _seed(base: int, kind: str, sigma: float, offset: int) -> int:
    kind_id = sum((i + 1) * ord(c) for i, c in enumerate(kind))
    return (base * 1_000_003 + kind_id * 10_007 + int(round(sigma * 1000)) * 101 + offset) % 2**62


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
            counts = {name: torch.zeros(len(SWEEP_KEYS), dtype=torch.long) for name in methods}
            for noisy, clean, added in noisy_batches(images, kind, sigma, cfg, device, with_added=bitmap):
                for name, method in methods.items():
                    with torch.no_grad():
                        out = method(noisy).float().clamp(0, 1)
                    for key, values in image_metrics(out, clean).items():
                        sums[name][key] += values.sum().item()
                    if lpips is not None:
                        sums[name]["lpips"] += lpips(out, clean).sum().item()
                    if bitmap:
                        counts[name] += sweep_counts(out, noisy, clean, added, torch.tensor([thresholds[name]]),
                                                     cfg.data.threshold)[0]
            n = len(images)
            for name in methods:
                row = {"method": name, "noise": kind, "sigma": sigma, "n": n}
                row |= {k: sums[name][k] / n for k in METRIC_KEYS}
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
        methods[f"{cfg.model.name.removeprefix('ablation_')} (ungated)"] = task.net.ungated
    if cfg.eval.baselines:
        methods |= BASELINES
        if cfg.data.binarize:
            methods |= BITMAP_BASELINES
    return methods


def evaluate_run(cfg: RunConfig, task, use_lpips: bool = False, warn=print, points: list[dict] = ()) -> list[dict]:
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
