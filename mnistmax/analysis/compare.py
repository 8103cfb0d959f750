"""`mnistmax compare models RUN [RUN ...]`: one table of architectures, and one plot.

Per run: network, parameters, training time and throughput (from meta.json), inference
throughput measured now on the test split, and PSNR (± half its 95 % bootstrap interval over
the test digits) and SSIM per noise level, all runs scored
on the same test digits with the same fixed-seed Gaussian noise; then the classical
baselines of `mnistmax.eval.baselines` as rows (run "baseline"), scored the same way on the
same digits and noise draws (once per set of test digits). psnr_vs_sigma.png draws every
run's PSNR against σ, and the baselines' dashed (identity, the noisy input, dotted)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

import torch

from mnistmax.analysis.limitations import baseline_methods, draws_key
from mnistmax.data.datamodule import clean_images
from mnistmax.eval.baselines import BASELINES, BITMAP_BASELINES
from mnistmax.eval.denoise import evaluate_methods
from mnistmax.eval.tables import rows_to_csv, rows_to_markdown
from mnistmax.files import read_meta, write_atomic, write_json
from mnistmax.runs import LoadedRun

SIGMAS = (0.1, 0.3, 0.5, 0.7, 1.0)
BASELINE_NAMES = {*BASELINES, *BITMAP_BASELINES}


def inference_throughput(task, images: torch.Tensor, batch: int, repeats: int = 3) -> float:
    """Images per second of `task.reconstruct` over `images`, median of `repeats` passes."""
    device = next(task.parameters()).device
    x = images.to(device)
    task.reconstruct(x[:batch])  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, len(x), batch):
            task.reconstruct(x[i : i + batch])
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return len(x) / sorted(times)[len(times) // 2]


def scoring_config(run: LoadedRun, sigmas=SIGMAS, kind: str = "gaussian"):
    """The run's config with compare's noise: every run scored on the same kind and levels."""
    cfg = run.cfg.model_copy(deep=True)
    cfg.noise.test_sigmas = list(sigmas)
    cfg.noise.eval_kinds = [kind]
    return cfg


def compare_run(run: LoadedRun, sigmas=SIGMAS, kind: str = "gaussian") -> dict:
    run.require("reconstruct", "compare models")
    run_dir, task = run.run_dir, run.task
    meta = read_meta(run_dir)
    cfg = scoring_config(run, sigmas, kind)
    images = run.test_images
    scored = evaluate_methods({cfg.model.name: task.reconstruct}, images, cfg, run.device)
    n_train = meta.get("data", {}).get("sizes", {}).get("train", 0)
    seconds, epochs = meta.get("train_seconds"), meta.get("epochs_completed")
    row = {"run": Path(run_dir).name, "model": cfg.model.name, "parameters": meta.get("parameters"),
           "epochs": epochs, "train_s": seconds,
           "train_img_s": round(n_train * epochs / seconds) if seconds and epochs else None,
           "infer_img_s": round(inference_throughput(task, clean_images(images, cfg), cfg.eval.batch_size)),
           "precision": meta.get("precision"),
           "stopped": (meta.get("stop_reason") or {}).get("by", "") or "-"}
    return row | _score_columns(scored)


def _score_columns(scored: list[dict]) -> dict:
    """`psnr@σ`, `psnr@σ ±` (half the 95 % interval) and `ssim@σ` from evaluate_methods' rows."""
    row = {}
    for r in scored:
        row[f"psnr@{r['sigma']:g}"] = round(r["psnr"], 2)
        row[f"psnr@{r['sigma']:g} ±"] = round((r["psnr_ci95_hi"] - r["psnr_ci95_lo"]) / 2, 2)
        row[f"ssim@{r['sigma']:g}"] = round(r["ssim"], 4)
    return row


def baseline_rows(run: LoadedRun, sigmas=SIGMAS, kind: str = "gaussian", label: str = "baseline") -> list[dict]:
    """One row per classical baseline ({run: label, model: the baseline, psnr@σ ...}), scored
    like compare_run on the run's test digits and noise draws."""
    cfg = scoring_config(run, sigmas, kind)
    scored = evaluate_methods(baseline_methods(cfg), run.test_images, cfg)
    return [{"run": label, "model": name, **_score_columns([r for r in scored if r["method"] == name])}
            for name in baseline_methods(cfg)]


def compare_models(runs: Iterable[LoadedRun], sigmas=SIGMAS, kind: str = "gaussian", baselines: bool = True,
                   echo=print) -> list[dict]:
    """compare_run's row for each run (an iterable: a generator loads one run at a time), then
    the baselines' rows: once, under run "baseline", when the runs share their test digits and
    noise draws; else once per set of digits, as "baseline: <the first run on them>"."""
    rows, found = [], {}
    for run in runs:
        name = Path(run.run_dir).name
        echo(f"scoring {name} ...")
        rows.append(compare_run(run, sigmas, kind))
        key = draws_key(run.test_images, scoring_config(run, sigmas, kind), kind)
        if baselines and key not in found:
            found[key] = (name, baseline_rows(run, sigmas, kind))
    for name, scored in found.values():
        rows += [r | {"run": f"baseline: {name}"} if len(found) > 1 else r for r in scored]
    return rows


def psnr_rows(compared: list[dict], identity: dict[float, float] | None = None, kind: str = "gaussian") -> list[dict]:
    """Rows {method, noise, sigma, psnr} for the PSNR-vs-σ plot: each compared run's `psnr@σ`
    columns under its run name (a baseline's under its own name, with the run it was scored on
    when there are several), then `identity` ({σ: PSNR} of the noisy input) when given."""
    rows = [{"method": _method(r), "noise": kind, "sigma": float(key.removeprefix("psnr@")), "psnr": value}
            for r in compared for key, value in r.items() if key.startswith("psnr@") and not key.endswith("±")]
    return rows + [{"method": "identity", "noise": kind, "sigma": s, "psnr": p} for s, p in (identity or {}).items()]


def is_baseline(row: dict) -> bool:
    return row["model"] in BASELINE_NAMES  # no network of the model registry is named like a baseline


def _method(row: dict) -> str:
    if not is_baseline(row):
        return row["run"]
    return row["model"] if row["run"] == "baseline" else f"{row['model']} ({row['run'].removeprefix('baseline: ')})"


def write_psnr_plot(compared: list[dict], out: Path, kind: str = "gaussian") -> Path:
    from mnistmax.viz.psnr_figures import psnr_vs_sigma

    title = (f"test PSNR against {kind} σ, every run on the same digits and noise\n"
             "dashed: classical baselines; dotted: identity, the noisy input")
    baselines = {_method(r) for r in compared if is_baseline(r)}
    return psnr_vs_sigma(psnr_rows(compared, kind=kind), out / "psnr_vs_sigma.png", title, baselines=baselines)


def write_models(rows: list[dict], out: Path) -> Path:
    write_json(out / "models.json", rows)
    write_atomic(out / "models.csv", rows_to_csv(rows))
    write_atomic(out / "models.md", rows_to_markdown(rows))
    return out
