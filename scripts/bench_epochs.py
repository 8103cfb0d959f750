"""Epoch time against epoch number: does any epoch cost more than the steady state?

    python scripts/bench_epochs.py                       # the default recipe, 20 epochs, no budget
    python scripts/bench_epochs.py --epochs 30 --set model.base_ch=32 --json epochs.json

It trains `configs/mnist.yaml` (or --config) through `mnistmax.training.train`, exactly as
`mnistmax train` does (pictures, checkpoints, EMA, validation), with the time budget and
early stopping off, and records for every epoch:

  epoch   start of the epoch to the start of the next (the last: to the end of fit)
  train   the optimisation steps (on_train_epoch_start -> on_train_epoch_end)
  val     the validation loop with the EMA weights
  other   epoch - train - val: checkpoints, metrics.csv, the picture callback
  sys %   the share of this process's CPU time spent in the kernel during the epoch
  RSS     the process's resident memory at the end of the epoch (MiB)

and, before the first epoch: the process start-up (imports, data loading) and trainer.fit()
to the first batch. The summary compares the first epoch with the steady state (median of
epochs 2..N), fits a line through epochs 2..N (seconds per epoch, per epoch) and says
whether the last five epochs are more than 20 % slower than epochs 2-6.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

START = time.perf_counter()

import lightning as L  # noqa: E402

from mnistmax.hardware import resolve_precision  # noqa: E402
from mnistmax.tasks import load_config  # noqa: E402
from mnistmax.training import train  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_times() -> tuple[float, float]:
    t = os.times()
    return t.user, t.system


class EpochClock(L.Callback):
    """Wall time of each epoch and its phases, kernel share of CPU time, resident memory."""

    def __init__(self):
        self.epochs: list[dict] = []
        self.fit_start = self.first_batch = None
        self._t: dict[str, float] = {}

    def on_fit_start(self, trainer, pl_module):
        self.fit_start = time.perf_counter()

    def on_train_epoch_start(self, trainer, pl_module):
        now = time.perf_counter()
        self._close_epoch(now)
        self._t = {"start": now, "cpu": cpu_times()}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.first_batch is None:
            self.first_batch = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module):
        self._t["train_end"] = time.perf_counter()

    def on_validation_epoch_start(self, trainer, pl_module):
        self._t["val_start"] = time.perf_counter()

    def on_validation_epoch_end(self, trainer, pl_module):
        self._t["val_end"] = time.perf_counter()

    def on_fit_end(self, trainer, pl_module):
        self._close_epoch(time.perf_counter())

    def _close_epoch(self, now: float) -> None:
        t = self._t
        if "start" not in t:
            return
        user0, sys0 = t["cpu"]
        user1, sys1 = cpu_times()
        # Lightning validates inside the training epoch: train_end comes after val_end
        val = t.get("val_end", t["start"]) - t.get("val_start", t["start"])
        train_s = t.get("train_end", now) - t["start"] - val
        epoch = now - t["start"]
        self.epochs.append({"epoch": len(self.epochs) + 1, "epoch_s": epoch, "train_s": train_s, "val_s": val,
                            "other_s": epoch - train_s - val,
                            "sys_share": (sys1 - sys0) / max(1e-9, (user1 - user0) + (sys1 - sys0)),
                            "rss_mib": rss_mib()})
        self._t = {}


def slope(ys: list[float]) -> float:
    """Least-squares seconds per epoch, per epoch."""
    xs = list(range(len(ys)))
    if len(ys) < 2:
        return float("nan")
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def summarise(clock: EpochClock, startup_s: float) -> dict:
    e = clock.epochs
    steady = [r["epoch_s"] for r in e[1:]]
    head, tail = steady[:5], steady[-5:]
    summary = {
        "startup_s": startup_s,
        "fit_to_first_batch_s": clock.first_batch - clock.fit_start,
        "first_epoch_s": e[0]["epoch_s"],
        "steady_epoch_s": statistics.median(steady) if steady else float("nan"),
        "slope_s_per_epoch": slope(steady),
        "late_over_early": statistics.median(tail) / statistics.median(head) if len(steady) >= 10 else float("nan"),
        "rss_growth_mib": e[-1]["rss_mib"] - e[0]["rss_mib"],
    }
    summary["first_over_steady"] = summary["first_epoch_s"] / summary["steady_epoch_s"]
    return summary


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", type=Path, default=ROOT / "configs" / "mnist.yaml")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra config override, repeatable")
    p.add_argument("--json", type=Path, default=None, help="write every number here")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(args.config, [f"train.epochs={args.epochs}", "train.max_time_minutes=null",
                                        "train.patience=null", "logging.mlflow=false", "logging.progress=plain",
                                        f"logging.output_dir={tmp}", *args.set])
        clock = EpochClock()
        train(cfg, callbacks=[clock], echo=lambda *a, **k: None)
        startup = clock.fit_start - START
    summary = summarise(clock, startup)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown")
    flags = Path("/proc/cpuinfo").read_text()
    kind = next((name for name, flag in (("avx512_bf16", "avx512_bf16"), ("avx512", "avx512f"), ("avx2", "avx2"))
                 if flag in flags), "other")
    print(f"{args.config.name} {' '.join(args.set)} | {cfg.model.name} | precision "
          f"{resolve_precision(cfg.train.amp, 'cpu')}"
          f" | CPU {cpu} ({kind}) | {os.cpu_count()} cores")
    print(f"{'epoch':>5} {'epoch s':>8} {'train s':>8} {'val s':>6} {'other s':>8} {'sys %':>6} {'RSS MiB':>8}")
    for r in clock.epochs:
        print(f"{r['epoch']:>5} {r['epoch_s']:>8.2f} {r['train_s']:>8.2f} {r['val_s']:>6.2f} {r['other_s']:>8.2f}"
              f" {100 * r['sys_share']:>6.1f} {r['rss_mib']:>8.0f}")
    s = summary
    print(f"start-up (imports, data) {s['startup_s']:.1f} s; fit() to first batch {s['fit_to_first_batch_s']:.2f} s;"
          f" first epoch {s['first_epoch_s']:.1f} s = {s['first_over_steady']:.2f}x the steady state"
          f" ({s['steady_epoch_s']:.1f} s, median of epochs 2-{len(clock.epochs)})")
    print(f"trend over epochs 2-{len(clock.epochs)}: {s['slope_s_per_epoch']:+.3f} s per epoch; last five / epochs 2-6:"
          f" {s['late_over_early']:.2f}x; RSS {s['rss_growth_mib']:+.0f} MiB from epoch 1 to the last")
    if s["late_over_early"] > 1.2:
        print("warning: late epochs are more than 20 % slower than early ones")
    if args.json:
        args.json.write_text(json.dumps({"config": str(args.config), "set": args.set, "cpu": cpu, "cpu_kind": kind,
                                         "epochs": clock.epochs, "summary": summary}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
