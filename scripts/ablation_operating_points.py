"""Precision / recall / ablation efficiency of a bitmap run at several output thresholds.

    python scripts/ablation_operating_points.py outputs/runs/ablation-unet-...
    python scripts/ablation_operating_points.py latest --levels 0.3,0.5 --thresholds 0.3,0.5,0.7

`mnistmax eval` scores the output at data.threshold (0.5). A model trained with plain BCE
predicts the probability that a pixel is ink, so a higher threshold trades recall for
precision; this prints that trade-off on the test split with eval's own noise draws, then,
at data.threshold, each additive kind on its own and where the errors are: false positives
on added ink that touches a digit stroke (8-neighbourhood) versus ink off on its own, missed
signal next to added ink versus elsewhere.
"""

from __future__ import annotations

import argparse
import sys

import torch
import torch.nn.functional as F

from mnistmax.data.datamodule import test_images
from mnistmax.data.noise import ADDITIVE_KINDS
from mnistmax.eval.denoise import noisy_test_batches
from mnistmax.eval.metrics import COUNT_KEYS, binary_counts, binary_scores
from mnistmax.runs import load_run

KINDS = [kind for kind in ADDITIVE_KINDS if kind != "add_mixed"]  # each kind on its own


def floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v]


def outputs(task, images, kind: str, level: float, cfg) -> list[tuple[torch.Tensor, ...]]:
    """(output, noisy, clean) per eval batch, the noise exactly as `mnistmax eval` draws it."""
    return [(task.reconstruct(noisy), noisy, clean) for noisy, clean in noisy_test_batches(images, kind, level, cfg, "cpu")]


def scores_at(batches, threshold: float, n: int, data_threshold: float) -> dict:
    counts = dict.fromkeys(COUNT_KEYS, 0)
    for out, noisy, clean in batches:
        batch = binary_counts((out > threshold).float(), noisy, clean, data_threshold)
        counts = {k: counts[k] + batch[k] for k in COUNT_KEYS}
    return binary_scores(counts, n) | {"fp": counts["fp"], "fn": counts["fn"]}


def sweep(task, images, kind: str, level: float, thresholds: list[float], cfg) -> list[dict]:
    """Scores at each output threshold, for one noise kind and level."""
    batches = outputs(task, images, kind, level, cfg)
    return [scores_at(batches, t, len(images), cfg.data.threshold) | {"threshold": t} for t in thresholds]


def touching(mask: torch.Tensor) -> torch.Tensor:
    """Pixels with an on-pixel of `mask` in their 3x3 neighbourhood (themselves included)."""
    return F.max_pool2d(mask.float(), 3, stride=1, padding=1) > 0


def error_places(batches, threshold: float, data_threshold: float) -> dict[str, int]:
    places = dict.fromkeys(("fp_touching", "fp_apart", "fn_near_noise", "fn_elsewhere"), 0)
    for out, noisy, clean in batches:
        sig, kept = clean > data_threshold, out > threshold
        noise = (noisy > data_threshold) & ~sig
        fp, fn, near_sig, near_noise = kept & ~sig, ~kept & sig, touching(sig), touching(noise)
        places["fp_touching"] += int((fp & near_sig).sum())
        places["fp_apart"] += int((fp & ~near_sig).sum())
        places["fn_near_noise"] += int((fn & near_noise).sum())
        places["fn_elsewhere"] += int((fn & ~near_noise).sum())
    return places


def row(label: str, s: dict) -> str:
    return (f"{label:<28} {100 * s['precision']:9.2f} {100 * s['recall']:7.2f} "
            f"{100 * s['ablation_efficiency']:7.2f} {s['fp']:7d} {s['fn']:7d}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run directory, run name under outputs/runs, or 'latest'")
    parser.add_argument("--levels", type=floats, default=[0.3, 0.5], help="noise intensities (default 0.3,0.5)")
    parser.add_argument("--thresholds", type=floats, default=[0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    parser.add_argument("--kind", default="add_mixed", help="noise kind of the threshold sweep")
    parser.add_argument("--checkpoint", default="best", choices=["best", "last"])
    args = parser.parse_args(argv)

    run = load_run(args.run, args.checkpoint)
    cfg, task = run.cfg, run.task
    if not cfg.data.binarize:
        sys.exit(f"error: {args.run} is not a bitmap run (data.binarize is false)")
    images, t0 = test_images(cfg), cfg.data.threshold
    n = len(images)
    header = f"{'':<28} {'precision':>9} {'recall':>7} {'eff':>7} {'fp px':>7} {'fn px':>7}"
    print(f"{cfg.model.name} ({args.run}), {n} test digits, output on above the threshold\n")
    for level in args.levels:
        print(f"{args.kind} at {level}\n{header}")
        for scores in sweep(task, images, args.kind, level, args.thresholds, cfg):
            print(row(f"threshold {scores['threshold']:g}", scores))
        print()
    for level in args.levels:
        print(f"each kind at {level}, threshold {t0:g}\n{header}  fp: touching/apart  fn: near noise/elsewhere")
        for kind in KINDS:
            batches = outputs(task, images, kind, level, cfg)
            p = error_places(batches, t0, t0)
            print(row(kind, scores_at(batches, t0, n, t0)),
                  f"     {p['fp_touching']:5d} / {p['fp_apart']:<5d}      {p['fn_near_noise']:5d} / {p['fn_elsewhere']}")
        print()


if __name__ == "__main__":
    main()
