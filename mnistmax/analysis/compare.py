"""`mnistmax compare models RUN [RUN ...]`: one table of architectures, and one plot.

Per run: network, parameters, training time and throughput (from meta.json), inference
throughput measured now on the test split, and PSNR (± half its 95 % bootstrap interval over
the test digits) and SSIM per noise level, all runs scored
on the same test digits with the same fixed-seed Gaussian noise; psnr_vs_sigma.png draws
every run's PSNR against σ with the noisy input's (identity) once."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from mnistmax.data.datamodule import clean_images
from mnistmax.eval.denoise import evaluate_methods
from mnistmax.eval.tables import rows_to_csv, rows_to_markdown
from mnistmax.files import read_meta, write_atomic, write_json
from mnistmax.runs import LoadedRun

SIGMAS = (0.1, 0.3, 0.5, 0.7, 1.0)


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
    for r in scored:
        row[f"psnr@{r['sigma']:g}"] = round(r["psnr"], 2)
        row[f"psnr@{r['sigma']:g} ±"] = round((r["psnr_ci95_hi"] - r["psnr_ci95_lo"]) / 2, 2)  # half the 95 % interval
        row[f"ssim@{r['sigma']:g}"] = round(r["ssim"], 4)
    return row


def identity_psnr(run: LoadedRun, sigmas=SIGMAS, kind: str = "gaussian") -> dict[float, float]:
    """{σ: PSNR} of the noisy input itself on the run's test digits, with compare_run's noise."""
    from mnistmax.eval.baselines import identity

    scored = evaluate_methods({"identity": identity}, run.test_images, scoring_config(run, sigmas, kind))
    return {r["sigma"]: r["psnr"] for r in scored}


def psnr_rows(compared: list[dict], identity: dict[float, float], kind: str = "gaussian") -> list[dict]:
    """Rows {method, noise, sigma, psnr} for the PSNR-vs-σ plot: each compared run's `psnr@σ`
    columns under its run name, then the identity baseline."""
    rows = [{"method": r["run"], "noise": kind, "sigma": float(key.removeprefix("psnr@")), "psnr": value}
            for r in compared for key, value in r.items() if key.startswith("psnr@") and not key.endswith("±")]
    return rows + [{"method": "identity", "noise": kind, "sigma": s, "psnr": p} for s, p in identity.items()]


def write_psnr_plot(compared: list[dict], identity: dict[float, float], out: Path, kind: str = "gaussian") -> Path:
    from mnistmax.viz.psnr_figures import psnr_vs_sigma

    title = f"test PSNR against {kind} σ, every run on the same digits and noise\nidentity: the noisy input"
    return psnr_vs_sigma(psnr_rows(compared, identity, kind), out / "psnr_vs_sigma.png", title)


def write_models(rows: list[dict], out: Path) -> Path:
    write_json(out / "models.json", rows)
    write_atomic(out / "models.csv", rows_to_csv(rows))
    write_atomic(out / "models.md", rows_to_markdown(rows))
    return out
