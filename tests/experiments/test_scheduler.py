"""Who runs which trial: worker processes on one study take each trial exactly once, never more
trials than the file asks for, and a killed worker's trial is failed and retried. The workers
are real processes (spawned) with a fake objective, so each test takes seconds."""

import multiprocessing
import os
import signal
import time

import optuna
import pytest

from mnistmax.experiments.scheduler import SLOT, build_sampler, prepare_study, slots, work
from mnistmax.experiments.spec import fingerprint, load_search
from mnistmax.experiments.storage import open_storage, retry_callback
from tests.experiments.fake_workers import fake_worker, prepare_worker, read_log
from tests.experiments.files import search_file

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the workers here are forked")
FORK = multiprocessing.get_context("fork") if hasattr(os, "fork") else None
LRS = [round(0.001 * (i + 1), 3) for i in range(8)]


def url_for(kind: str, tmp) -> str:
    return f"sqlite:///{tmp / 'optuna.db'}" if kind == "sqlite" else f"journal:{tmp / 'optuna.log'}"


def open_study(tmp, url, **spec):
    search = load_search(search_file(tmp, **spec))
    storage = open_storage(url, 1, 3, retry_callback(2))
    return (search, storage, *prepare(storage, url, search))


def prepare(storage, url, search):
    return prepare_study(storage, url, search.name, fingerprint(search), slots(search), build_sampler(search))


def start(target, *args) -> multiprocessing.Process:
    proc = FORK.Process(target=target, args=args)
    proc.start()
    return proc


def join_all(procs, timeout=90):
    for proc in procs:
        proc.join(timeout)
        assert proc.exitcode == 0, f"worker exit code {proc.exitcode}"


def test_two_workers_run_every_grid_point_exactly_once(tmp_path):
    url = url_for("sqlite", tmp_path)  # the storage that needs the claim lock
    search, storage, study, enqueued = open_study(tmp_path, url, space={"train.lr": LRS})
    assert enqueued == 8  # the study is made and filled before any worker starts
    log = tmp_path / "log.jsonl"
    join_all([start(fake_worker, url, search.name, str(log), 0.1, str(tmp_path / "barrier"), 2, LRS)
              for _ in range(2)])

    runs = read_log(log)
    assert sorted(r["slot"] for r in runs) == sorted(slots(search))  # every point, each once
    assert len({r["pid"] for r in runs}) == 2  # side by side: both workers took trials
    trials = study.get_trials()
    assert len(trials) == 8 and {t.state.name for t in trials} == {"COMPLETE"}
    assert sorted(t.params["train.lr"] for t in trials) == LRS  # each trial ran its point's own value
    assert prepare(storage, url, search)[1] == 0  # started again: nothing to add


def test_a_sampled_search_runs_exactly_its_trials(tmp_path):
    url = url_for("sqlite", tmp_path)
    search, _, study, _ = open_study(tmp_path, url, space={"train.lr": {"low": 1e-4, "high": 1e-2, "log": True}},
                                     sampler="random", trials=6)
    join_all([start(fake_worker, url, search.name, str(tmp_path / "log.jsonl"), 0.1, str(tmp_path / "b"), 2)
              for _ in range(2)])
    trials = study.get_trials()
    assert len(trials) == 6 and {t.state.name for t in trials} == {"COMPLETE"}  # two workers, no extra trial
    assert sorted(t.user_attrs[SLOT] for t in trials) == sorted(f"t{i}" for i in range(6))


def test_workers_that_start_together_make_one_study(tmp_path):
    url = url_for("sqlite", tmp_path)  # a fresh file: both would create its tables at once without the lock
    wanted = {f"t{i}": {} for i in range(6)}
    join_all([start(prepare_worker, url, "together", wanted, str(tmp_path / "barrier"), 2) for _ in range(2)])
    study = optuna.load_study(study_name="together", storage=url)
    assert len(study.trials) == 6 and {t.state.name for t in study.trials} == {"WAITING"}  # enqueued once


def test_a_killed_workers_trial_is_failed_and_retried_on_a_journal_file(tmp_path):
    """SQLite with real trainings: test_search.py; here the journal file and its own heartbeat."""
    url = url_for("journal", tmp_path)
    search, storage, study, _ = open_study(tmp_path, url, space={"train.lr": LRS[:3]})
    log = tmp_path / "log.jsonl"
    proc = start(fake_worker, url, search.name, str(log), 0.0, None, 1, LRS[:3], True)  # hangs in its first trial
    deadline = time.time() + 60
    while not read_log(log) and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    killed = read_log(log)[0]["trial"]

    def objective(trial):
        return trial.suggest_categorical("train.lr", LRS[:3])

    started = time.time()
    assert work(study, storage, url, lambda: objective, 1, 3, retry_callback(2), poll=0.1) == 3  # 2 left + the retry
    assert time.time() - started >= 2  # it waited for the dead worker's heartbeat to go stale
    trials = study.get_trials()
    assert trials[killed].state.name == "FAIL"
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == killed]
    assert len(retries) == 1 and retries[0].state.name == "COMPLETE"
    assert retries[0].params == trials[killed].params and retries[0].user_attrs[SLOT] == trials[killed].user_attrs[SLOT]
    complete = [t.user_attrs[SLOT] for t in trials if t.state.name == "COMPLETE"]
    assert sorted(complete) == sorted(slots(search))  # the study finished: every point once
