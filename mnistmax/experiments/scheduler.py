"""One Optuna study, any number of workers: who runs which trial, exactly once.

The study is made (or loaded) and filled before any worker runs: every trial the search will
run is enqueued as a WAITING trial with a `slot` user attribute: a grid point's config key
and fixed params, or `t<i>` with no params for a sampled search (its sampler draws the params
when a worker takes it). Workers take WAITING trials only, so the study never runs more
trials than the file asks for however many workers start. A slot with no WAITING, RUNNING,
COMPLETE or PRUNED trial (a failed trial, a retry budget spent, a larger `trials:`) is
enqueued again the next time the search starts; a finished slot never trains again.

This module knows Optuna and the storage, not torch: the objective is handed in."""

from __future__ import annotations

import os
import socket
import time
from typing import TYPE_CHECKING, Callable

from mnistmax.errors import ConfigError
from mnistmax.experiments.storage import (
    HIDDEN,
    Heartbeat,
    beat,
    fail_stale,
    quiet_optuna_warnings,
    shown,
    storage_lock,
)

SLOT = "slot"
READY = "mnistmax:ready"
FINGERPRINT = "mnistmax:fingerprint"
TAKEN = ("WAITING", "RUNNING", "COMPLETE", "PRUNED")  # states that hold a slot

if TYPE_CHECKING:  # spec.py builds configs (torch); a worker that is handed a study does not need it
    from mnistmax.experiments.spec import Search


def build_sampler(search: Search):
    import optuna

    with quiet_optuna_warnings():
        if search.sampler == "grid":  # every point is enqueued; the sampler is there for the record
            space = {k: [d.encode(c) for c in d.choices] for k, d in search.dims.items()}
            return optuna.samplers.GridSampler(space, seed=search.spec.seed)
        if search.sampler == "random":
            return optuna.samplers.RandomSampler(seed=search.spec.seed)
        startup = search.spec.startup_trials or min(10, max(1, search.trials // 3))
        return optuna.samplers.TPESampler(n_startup_trials=startup, seed=search.spec.seed, constant_liar=True)


def build_pruner(search: Search):
    """Steps are folds: a trial reports its running mean after each one."""
    import optuna

    if search.spec.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=min(5, max(1, search.trials // 3)), n_warmup_steps=0)
    if search.spec.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=search.cv.folds, reduction_factor=3)
    return optuna.pruners.NopPruner()


def slots(search: Search) -> dict[str, dict]:
    """slot -> the fixed params it is enqueued with (Optuna's encoding of each value)."""
    from mnistmax.experiments.spec import config_key, grid_points

    if search.sampler == "grid":
        return {config_key(point): {k: search.dims[k].encode(v) for k, v in point.items()}
                for point in grid_points(search.dims)}
    return {f"t{i}": {} for i in range(search.trials)}


def prepare_study(storage, url: str, name: str, fingerprint: str, wanted: dict[str, dict], sampler=None,
                  pruner=None, wait: float = 60.0):
    """(study, how many trials were enqueued now): create or load the study `name`, check that it
    holds the same search (`fingerprint`), and enqueue the slots of `wanted` that no trial holds.
    Under the storage lock for SQLite / journal files; elsewhere (PostgreSQL) the process that
    creates the study fills it and the others wait until it says it is ready."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with storage_lock(url):
        try:
            study = optuna.create_study(storage=storage, study_name=name, sampler=sampler, pruner=pruner,
                                        direction="minimize")
            study.set_user_attr(FINGERPRINT, fingerprint)
            created = True
        except optuna.exceptions.DuplicatedStudyError:
            study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
            created = False
        if not created:
            _wait_until_ready(study, wait)
            if study.user_attrs.get(FINGERPRINT) != fingerprint:
                hidden = shown(url)
                password = f", the password in place of {HIDDEN}" if hidden != url else ""
                raise ConfigError(f"study {name!r} in {hidden} was made from a different base config, space, "
                                  f"sampler or cv; give the search another name: (or delete the study: optuna "
                                  f"delete-study --study-name {name} --storage {hidden}{password})")
        enqueued = enqueue_missing(study, wanted)
        study.set_user_attr(READY, True)
    return study, enqueued


def _wait_until_ready(study, wait: float) -> None:
    deadline = time.time() + wait
    while not study.user_attrs.get(READY) and time.time() < deadline:
        time.sleep(0.5)


def enqueue_missing(study, wanted: dict[str, dict]) -> int:
    """Enqueue each slot of `wanted` that no live or finished trial holds; how many were."""
    held = {t.user_attrs.get(SLOT) for t in study.get_trials(deepcopy=False) if t.state.name in TAKEN}
    missing = [slot for slot in wanted if slot not in held]
    for slot in missing:
        study.enqueue_trial(wanted[slot], user_attrs={SLOT: slot})
    return len(missing)


def claim_trial(study, storage, url: str):
    """The next WAITING trial, now RUNNING and owned by this process, or None. This is
    `study.ask()` without its fallback of creating a new trial when none is waiting (that would
    run more trials than the file asks for); the lock makes the take atomic on SQLite."""
    import optuna

    with storage_lock(url):
        trial_id = study._pop_waiting_trial_id()
        if trial_id is None:
            return None
        beat(storage, trial_id)  # from now on a killed worker leaves a trial that goes stale
    study._thread_local.cached_all_trials = None  # as ask() does: the sampler sees every finished trial
    trial = optuna.Trial(study, trial_id)
    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    return trial


def run_trial(study, trial, objective: Callable, storage, interval: float) -> str:
    """Run one claimed trial under a heartbeat and tell the study how it ended; its state's name.
    An error in the objective fails the trial and is raised again."""
    import optuna
    from optuna.trial import TrialState

    with Heartbeat(storage, trial._trial_id, interval):
        try:
            value = objective(trial)
        except optuna.TrialPruned:
            study.tell(trial, state=TrialState.PRUNED, skip_if_finished=True)
            return "PRUNED"
        except optuna.exceptions.UpdateFinishedTrialError:
            return "FAIL"  # another worker found it stale (beats late for `grace` s) and queued its retry
        except BaseException:
            study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
            raise
    study.tell(trial, value, skip_if_finished=True)
    return "COMPLETE"


def work(study, storage, url: str, make_objective: Callable[[], Callable], interval: float, grace: float,
         on_stale, poll: float = 1.0) -> int:
    """Run WAITING trials until the study has none waiting or running; trials whose worker died
    are failed after `grace` s and retried (`on_stale`) while this worker waits. Returns how many
    trials this worker ran. `make_objective()` is called once, when the first trial is claimed."""
    from optuna.trial import TrialState

    objective, ran = None, 0
    while True:
        with storage_lock(url):
            fail_stale(study, storage, grace, on_stale)
        trial = claim_trial(study, storage, url)
        if trial is not None:
            objective = objective or make_objective()
            run_trial(study, trial, objective, storage, interval)
            ran += 1
            continue
        if not study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)):
            return ran
        time.sleep(poll)
