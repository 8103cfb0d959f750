"""Worker processes with a fake objective, for the scheduling tests: they need Optuna and the
scheduler, not torch (they also run spawned, in a second)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path


def wait_for_each_other(barrier: Path, workers: int, timeout: float = 60) -> None:
    """Return once `workers` processes have arrived: they then really run side by side."""
    barrier.mkdir(parents=True, exist_ok=True)
    (barrier / str(os.getpid())).touch()
    deadline = time.time() + timeout
    while len(list(barrier.iterdir())) < workers and time.time() < deadline:
        time.sleep(0.01)


def fake_worker(url: str, study_name: str, log: str, seconds: float, barrier: str | None = None,
                workers: int = 1, choices: list | None = None, hang: bool = False) -> None:
    """Run the study's trials with an objective that logs (pid, trial, slot), sleeps `seconds`
    (`hang`: forever, to be killed) and returns the trial number."""
    import optuna

    from mnistmax.experiments.scheduler import work
    from mnistmax.experiments.storage import open_storage, retry_callback

    retry = retry_callback(2)
    storage = open_storage(url, 1, 3, retry)
    study = optuna.load_study(study_name=study_name, storage=storage)
    if barrier:
        wait_for_each_other(Path(barrier), workers)

    def objective(trial):
        if choices:
            trial.suggest_categorical("train.lr", choices)
        line = {"pid": os.getpid(), "trial": trial.number, "slot": trial.user_attrs["slot"]}
        with open(log, "a") as f:
            f.write(json.dumps(line) + "\n")
        time.sleep(3600 if hang else seconds)
        return float(trial.number)

    work(study, storage, url, lambda: objective, 1, 3, retry, poll=0.1)


def prepare_worker(url: str, name: str, wanted: dict, barrier: str, workers: int) -> None:
    """Open the storage and make-or-load the study, at the same moment as the others."""
    from mnistmax.experiments.scheduler import prepare_study
    from mnistmax.experiments.storage import open_storage, retry_callback

    wait_for_each_other(Path(barrier), workers)
    storage = open_storage(url, 1, 3, retry_callback(2))
    prepare_study(storage, url, name, "fingerprint", wanted)


def read_log(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []
