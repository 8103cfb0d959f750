"""A search whose worker is killed with SIGKILL mid-trial, then finished by a new worker: real
tiny trainings in a `--worker` process of their own (about 20 s; the in-process search tests are
in tests/experiments/test_search.py)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mnistmax.files import read_meta
from tests.experiments.files import search_file
from tests.experiments.test_search import study_of
from tests.helpers import invoke

pytestmark = pytest.mark.slow


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkilled_worker_mid_trial_then_a_new_worker_finishes_the_study(tmp_path):
    # a `--worker` process of its own: a fork of this test process could hang in the OpenMP pool
    # that earlier tests started (a forked child inherits the pool's state, not its threads)
    path = search_file(tmp_path, name="killed")
    worker = subprocess.Popen([sys.executable, "-m", "mnistmax", "search", "-c", str(path), "--worker"],
                              env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    runs = tmp_path / "out" / "runs"
    deadline = time.time() + 120
    while not list(runs.glob("killed-t0-f1-*/meta.json")) and time.time() < deadline:  # fold 0 done, fold 1 started
        time.sleep(0.02)
    assert worker.poll() is None, "the worker ended before its second fold started"
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    killed_dirs = sorted(runs.iterdir())

    result = invoke("search", "-c", path, "--no-test")  # the new worker, real tiny trainings
    assert result.exit_code == 0, result.output
    trials = study_of(tmp_path, "killed").trials
    assert trials[0].state.name == "FAIL"
    retry = [t for t in trials if t.system_attrs.get("failed_trial") == 0]
    assert len(retry) == 1 and retry[0].state.name == "COMPLETE" and retry[0].params == trials[0].params
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert sorted(t.params["train.lr"] for t in complete) == [0.001, 0.003]  # the study finished, each point once
    fold_dirs = [Path(f["run_dir"]) for t in complete for f in t.user_attrs["folds"]]
    assert len(set(fold_dirs)) == 4 and not set(fold_dirs) & set(killed_dirs)  # no run directory reused
    assert all(read_meta(d)["status"] == "completed" for d in fold_dirs)
    assert read_meta(next(d for d in killed_dirs if "-t0-f1-" in d.name))["status"] == "running"  # left as it died
    board = json.loads((tmp_path / "out" / "searches" / "killed" / "leaderboard.json").read_text())
    assert len(board["rows"]) == 2 and board["missing"] == []
