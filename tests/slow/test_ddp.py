"""Lightning's DDP through the config: two CPU processes (gloo) train a tiny run.

`ddp_spawn` starts the processes from inside pytest; plain `ddp` re-runs the command line in
each child, so it is tested through the CLI in a subprocess. Each process takes its own half
of every epoch: with 128 training digits, batch 32 and two processes every rank takes 2
optimizer steps per epoch.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from mnistmax import training
from mnistmax.tasks import load_config

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                 reason="this torch build has no torch.distributed gloo backend")]


def test_ddp_two_cpu_processes_train_and_write_checkpoints(tmp_path):
    cfg = load_config(ROOT / "configs" / "quick.yaml", [
        "data.limit_train=128", "data.limit_test=64", "data.batch_size=32", "model.base_ch=8", "train.epochs=1",
        "train.accelerator=cpu", "train.devices=2", "train.strategy=ddp_spawn", "train.max_time_minutes=null",
        "viz.enabled=false", "logging.progress=none", f"logging.output_dir={tmp_path}"])
    run = training.train(cfg, echo=print).run_dir  # print, not a lambda: ddp_spawn pickles the callbacks

    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] == "completed"
    for name in ("best.ckpt", "last.ckpt"):
        assert (run / "checkpoints" / name).is_file()
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == 128 // 2 // 32  # each rank saw its own half of the epoch
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point())
    assert "val/loss" in (run / "metrics.csv").read_text()


def test_ddp_from_the_cli_writes_one_run_directory(tmp_path):
    """`train.strategy=ddp` re-runs the command line for rank 1: both ranks must share rank 0's
    run directory (one directory, one meta.json that says completed)."""
    import subprocess
    import sys

    overrides = ["data.limit_train=128", "data.limit_test=64", "data.batch_size=32", "model.base_ch=8",
                 "train.epochs=1",
                 "train.accelerator=cpu", "train.devices=2", "train.strategy=ddp", "train.max_time_minutes=null",
                 "viz.enabled=false", "logging.progress=none", f"logging.output_dir={tmp_path}"]
    done = subprocess.run([sys.executable, "-m", "mnistmax", "train", "-c", str(ROOT / "configs" / "quick.yaml"),
                           *overrides], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1
    meta = json.loads((runs[0] / "meta.json").read_text())
    assert meta["status"] == "completed" and meta["best_checkpoint"] == "checkpoints/best.ckpt"
    assert torch.load(runs[0] / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 2
