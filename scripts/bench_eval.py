"""Evaluation throughput: images per second of `mnistmax eval` over every noise kind x σ.

    python scripts/bench_eval.py                               # the default U-Net, CPU
    python scripts/bench_eval.py --run outputs/runs/NAME --batch-sizes 500,1000,5000
    python scripts/bench_eval.py --device cuda --test-size 10000

It runs `evaluate_methods` exactly as `mnistmax eval` does (noise made batch by batch from
eval.seed, the method, MSE / PSNR / SSIM) for each eval batch size, once for the model and
once for the classical baselines (a full `mnistmax eval` is the two together), and times the
parts of one batch on their own (noise, model forward, metrics). An evaluated image is one noisy test digit through one
method at one (kind, σ). Weights do not change the speed: without --run the network is
freshly initialised from --config. The test split is tiled up to --test-size.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from bench_throughput import machine, peak_memory_mib, reset_peak_memory, sync  # beside this file

ROOT = Path(__file__).resolve().parents[1]
from mnistmax.data.datamodule import test_images
from mnistmax.eval.denoise import evaluate_methods, methods_for
from mnistmax.eval.draws import noisy_test_batches
from mnistmax.eval.metrics import image_metrics
from mnistmax.tasks import build_task, load_config


def load(args):
    if args.run:
        from mnistmax.runs import load_run

        run = load_run(args.run)
        cfg, task = run.cfg, run.task
    else:
        cfg = load_config(args.config, ["data.source=embedded", *args.set])
        task = build_task(cfg).eval()
    return cfg, task.to(args.device)


def timed(fn, device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def parts_of_one_batch(cfg, task, images, device, repeats: int) -> dict:
    """Median seconds per image of each part, on the first batch at the first (kind, σ)."""
    kind, sigma = cfg.noise.kinds_to_evaluate()[0], cfg.noise.test_sigmas[0]
    noisy, clean = next(noisy_test_batches(images, kind, sigma, cfg, device))
    with torch.no_grad():
        parts = {
            "noise": lambda: next(noisy_test_batches(images, kind, sigma, cfg, device)),
            "model": lambda: task.reconstruct(noisy),
            "metrics": lambda: image_metrics(noisy.clamp(0, 1), clean),
        }
        return {name: statistics.median(timed(fn, device) for _ in range(repeats)) / len(noisy)
                for name, fn in parts.items()}


def bench(cfg, task, images, device, batch_size: int, repeats: int) -> dict:
    cfg = cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"batch_size": batch_size})})
    conditions = len(cfg.noise.kinds_to_evaluate()) * len(cfg.noise.test_sigmas)
    out = {"batch_size": batch_size, "conditions": conditions}
    baselines = {k: v for k, v in methods_for(cfg, task).items() if k != cfg.model.name}
    for label, methods in (("model", {cfg.model.name: task.reconstruct}), ("baselines", baselines)):
        reset_peak_memory(device)
        seconds = [timed(lambda: evaluate_methods(methods, images, cfg, device), device) for _ in range(repeats)]
        evaluated = len(images) * conditions * len(methods)
        out[label] = {"methods": len(methods), "seconds": statistics.median(seconds),
                      "img_s": evaluated / statistics.median(seconds), "peak_mib": peak_memory_mib(device)}
    out["parts_ms_per_1000"] = {k: 1e6 * v for k, v in parts_of_one_batch(cfg, task, images, device, repeats).items()}
    return out


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=str(ROOT / "configs" / "mnist.yaml"), help="config without --run")
    p.add_argument("--run", default=None, help="a run directory: its config and best checkpoint")
    p.add_argument("--batch-sizes", default="250,1000", help="eval.batch_size values (default 250,1000)")
    p.add_argument("--test-size", type=int, default=1000, help="test digits, the split tiled if larger (default 1000)")
    p.add_argument("--repeats", type=int, default=1, help="timed passes per setting; medians (default 1)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override, repeatable")
    p.add_argument("--json", type=Path, default=None)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA GPU is visible")
    device = torch.device(args.device)
    cfg, task = load(args)
    images = test_images(cfg)
    images = images.repeat(-(-args.test_size // len(images)), 1, 1)[: args.test_size]
    info = machine(device)
    print(" | ".join(f"{k} {v}" for k, v in info.items()))
    kinds, sigmas = cfg.noise.kinds_to_evaluate(), cfg.noise.test_sigmas
    print(f"{cfg.model.name}: {len(images)} test digits x {len(kinds)} kinds ({', '.join(kinds)}) x {len(sigmas)} σ")
    results = [bench(cfg, task, images, device, int(b), args.repeats) for b in args.batch_sizes.split(",")]
    head = (f"{'batch':>6} | {'model img/s':>11}{'peak MiB':>9} | "
            f"{'baselines img/s':>15}{'methods':>8}{'peak MiB':>9} |"
            f" {'per 1000 images, ms:':>21} {'noise':>6}{'model':>7}{'metrics':>8}")
    print(head)
    print("-" * len(head))
    for r in results:
        m, b, parts = r["model"], r["baselines"], r["parts_ms_per_1000"]
        print(f"{r['batch_size']:>6} | {m['img_s']:>11.0f}{m['peak_mib']:>9.0f} | {b['img_s']:>15.0f}{b['methods']:>8}"
              f"{b['peak_mib']:>9.0f} | {'':>21} {parts['noise']:>6.1f}{parts['model']:>7.1f}{parts['metrics']:>8.1f}")
    print("img/s = noisy test digits through one method at one (kind, σ) per second, medians; peak = process RSS"
          " (CPU) or max_memory_allocated (CUDA)")
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "model": cfg.model.name, "test_digits": len(images),
                                         "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
