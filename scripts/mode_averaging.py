"""The mode-averaging score of one run at each noise level, printed as a table.

    python scripts/mode_averaging.py latest
    python scripts/mode_averaging.py zoo:mnist-unet --classifier zoo:classifier --baselines
    python scripts/mode_averaging.py outputs/runs/NAME --sigmas 0.3,0.5,0.7,1.0 --kind gaussian

Mode averaging (mnistmax.analysis.scores): the share of test digits whose denoised output the
judge classifier finds split between two classes (its second likeliest class has probability
>= --split, 0.25 by default) while it does not find the clean digit split. The digits, noise
draws and judge are those of `mnistmax compare limitations`, so the numbers are its
`mode_averaging` column; this computes only that score. Without --classifier the judge is the
cached one for the run's data (trained first, about a minute, when there is none).
"""

from __future__ import annotations

import argparse

from mnistmax.analysis import scores
from mnistmax.analysis.judge import judge_for, judge_from_run
from mnistmax.analysis.limitations import DEFAULT_SIGMAS, mode_averaging_rows
from mnistmax.hardware import resolve_device
from mnistmax.runs import load_run, resolve_run
from mnistmax.training import quiet_lightning, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a run directory, a name under outputs/runs, 'latest' or zoo:<name>")
    parser.add_argument("--sigmas", default=",".join(f"{s:g}" for s in DEFAULT_SIGMAS))
    parser.add_argument("--kind", default="gaussian", help="a noise kind of the registry")
    parser.add_argument("--classifier", default=None, help="a classify run as the judge (default: the cached one)")
    parser.add_argument("--split", type=float, default=scores.SPLIT, help="second-class probability that splits")
    parser.add_argument("--baselines", action="store_true", help="also the classical filters, one column each")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    quiet_lightning()
    run = load_run(resolve_run(args.run), device=resolve_device(args.device))
    judge = judge_from_run(resolve_run(args.classifier)) if args.classifier else judge_for(run.cfg, train=train)
    sigmas = [float(s) for s in args.sigmas.split(",") if s.strip()]
    rows = mode_averaging_rows(run, judge, sigmas, args.kind, args.split, baselines=args.baselines)
    print(f"mode averaging of {run.run_dir.name} ({run.cfg.model.name}), {args.kind} noise, "
          f"{len(run.splits.test[0]):,} test digits; judge: {judge.source} ({100 * judge.test_acc:.1f}% on clean); "
          f"split: second class >= {args.split:g}; {100 * rows[0]['clean_split']:.1f}% of the clean digits are split "
          "(not counted)")
    keys = [k for k in rows[0] if k not in ("seen", "clean_split")]
    print("  ".join(f"{k:>{max(len(k), 7)}}" for k in keys) + "  seen")
    for r in rows:
        cells = [f"{r[k]:g}" if k == "sigma" else f"{100 * r[k]:.2f}%" for k in keys]
        print("  ".join(f"{c:>{max(len(k), 7)}}" for c, k in zip(cells, keys)) + ("  yes" if r["seen"] else "  no"))


if __name__ == "__main__":
    main()
