"""Issue 9 with real processes: SIGKILL mid-epoch then --resume, two `train` processes on one
output root and one MLflow store, two grid workers on one SQLite store."""

import json
import os
import signal
import subprocess
import sys
import time

import mlflow
import pytest
import torch

import mnistmax.training as training
from mnistmax.tasks import load_config
from tests.helpers import TINY, grid_file

pytestmark = pytest.mark.slow
SMALL = [*TINY, "data.val_fraction=0.02", "viz.enabled=false", "eval.baselines=false"]


def mnistmax(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mnistmax", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "COLUMNS": "200"})


def finish(*procs: subprocess.Popen) -> list[str]:
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    for p, out in zip(procs, outputs):
        assert p.returncode == 0, out
    return outputs


def wait_for(proc: subprocess.Popen, folder, pattern: str, timeout: float = 120):
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        found = list(folder.glob(pattern))
        if found:
            return found[0]
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"{pattern} did not appear under {folder}: {proc.communicate()[0]}")


def meta(run_dir) -> dict:
    return json.loads((run_dir / "meta.json").read_text())


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="no SIGKILL on this platform")
def test_sigkill_mid_epoch_resumes_to_the_uninterrupted_weights(tmp_path):
    proc = mnistmax("train", "-c", "configs/quick.yaml", *SMALL, "data.limit_train=960", "train.epochs=3",
                    f"logging.output_dir={tmp_path / 'killed'}")
    last = wait_for(proc, tmp_path / "killed", "runs/*/checkpoints/last.ckpt")  # epoch 1 done; epoch 2 has begun
    proc.send_signal(signal.SIGKILL)  # no handler runs: nothing is saved or marked
    proc.communicate(timeout=60)
    run_dir = last.parent.parent
    assert proc.returncode == -signal.SIGKILL and meta(run_dir)["status"] == "running"
    assert torch.load(last, weights_only=True)["epoch"] == 0  # killed before epoch 2 finished

    cfg = load_config(run_dir / "config.yaml")
    assert training.train(cfg, echo=lambda m: None, resume_dir=run_dir).run_dir == run_dir
    assert meta(run_dir)["status"] == "completed" and meta(run_dir)["epochs_completed"] == 3
    straight = training.train(load_config(run_dir / "config.yaml", [f"logging.output_dir={tmp_path / 'straight'}"]),
                              echo=lambda m: None).run_dir
    a, b = (torch.load(r / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"] for r in (run_dir, straight))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_two_trains_at_once_get_their_own_run_directories(tmp_path):
    args = ["train", "-c", "configs/quick.yaml", *SMALL, "data.limit_train=96", "train.epochs=1", "name=same",
            "logging.mlflow=true", f"logging.output_dir={tmp_path}"]
    finish(mnistmax(*args), mnistmax(*args))
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 2
    for run in runs:
        assert meta(run)["status"] == "completed" and meta(run)["name"] == run.name
        assert run.name.startswith("same-") and (run / "checkpoints" / "best.ckpt").is_file()
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    ids = {meta(run)["mlflow_run_id"] for run in runs}
    assert len(ids) == 2 and {client.get_run(i).info.status for i in ids} == {"FINISHED"}


def test_two_grid_workers_share_one_sqlite_store(tmp_path):
    path = grid_file(tmp_path)
    finish(mnistmax("grid", "-c", path, "--no-test"), mnistmax("grid", "-c", path, "--no-test"))
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("grid-tiny-grid")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    folds = [r for r in runs if r.data.tags.get("kind") == "fold"]
    parents = [r for r in runs if r.data.tags.get("kind") == "config"]
    assert all(r.info.status == "FINISHED" for r in runs)
    keys = {r.data.tags["config_key"] for r in parents}
    assert len(keys) == 2  # the 2 configurations, each with a finished parent
    for key in keys:  # each of its 2 folds run exactly once, by one of the two workers (the Optuna study's queue)
        done = [r.data.tags["fold"] for r in folds if r.data.tags["config_key"] == key]
        assert sorted(done) == ["0", "1"]
        assert all("fold_val_loss" in r.metrics for r in [f.data for f in folds if f.data.tags["config_key"] == key])
    # a third worker reads the store and has nothing left to do
    again = finish(mnistmax("grid", "-c", path, "--no-test"))[0]
    assert "ran 0 jobs, skipped 4 already finished" in again
