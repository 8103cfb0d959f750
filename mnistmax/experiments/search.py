"""run_search(path): configuration search with k-fold cross-validation on an Optuna study.

One trial is one configuration: its k folds train in sequence and the running mean of the
fold validation loss is reported to Optuna after each, so a pruner can stop a hopeless
configuration early; the trial's value is the mean over its folds. Every fold of every trial
is validated under one noise setting fixed for the study (spec.validation_protocol), so
trials that train on different noise are ranked on the same test. Any number of workers
(processes, machines) share the study through its storage (scheduler.py says how each trial
runs exactly once). When all trials are done the leaderboard, Optuna's plots and the test of
the best configuration (retrained on every digit of the folds, with no validation split, for
the folds' mean best epoch count; the test split used once) are
written to outputs/searches/<name>/ (outputs/grids/<name>/ for a grid file)."""

from __future__ import annotations

import os
import shlex
import statistics
import subprocess
import sys
from pathlib import Path

from mnistmax.config import RunConfig
from mnistmax.errors import RunError, require_extra
from mnistmax.experiments.folds import fold_metrics, summarise, training_pool
from mnistmax.experiments.mlflow_runs import TrialTracker, mlflow_wanted
from mnistmax.experiments.scheduler import SLOT, build_pruner, build_sampler, prepare_study, slots, work
from mnistmax.experiments.spec import (
    Dimension,
    Search,
    config_for,
    config_key,
    describe,
    describe_overrides,
    describe_validation,
    fingerprint,
    load_search,
    trial_config,
)
from mnistmax.experiments.storage import (
    HIDDEN,
    STORAGE_ENV,
    check_storage,
    journal_path,
    open_storage,
    retry_callback,
    secret_kept,
    shown,
    sqlite_path,
    storage_url,
)
from mnistmax.files import output_root
from mnistmax.training.tracking import mlflow_tracking_uri

SCORED_ON = "mnistmax:scored_on"
OVERRIDES = "mnistmax:overrides"


def suggest(trial, dim: Dimension):
    """The trial's value for one dimension, decoded (a list choice comes back as a list)."""
    if dim.choices is not None:
        return dim.decode(trial.suggest_categorical(dim.key, [dim.encode(c) for c in dim.choices]))
    if dim.integer:
        return trial.suggest_int(dim.key, dim.low, dim.high, log=dim.log)
    return trial.suggest_float(dim.key, float(dim.low), float(dim.high), log=dim.log)


def fold_config(cfg: RunConfig, name: str, trial: int, fold: int) -> RunConfig:
    """A fold's run: named after its trial and fold, one reconstruction grid and one picture of the
    curves (last epoch), quiet."""
    cfg = cfg.model_copy(deep=True)
    cfg.name = f"{name}-t{trial}-f{fold}"
    cfg.viz.every_n_epochs = 10_000
    cfg.viz.every_n_steps = 0
    cfg.logging.progress = "none"
    cfg.logging.mlflow = False
    return cfg


class Objective:
    """Trial -> mean validation loss over the folds, one fold run directory each (never reused)."""

    def __init__(self, search: Search, pool, tracker: TrialTracker | None, echo=print):
        self.search, self.pool, self.tracker, self.echo = search, pool, tracker, echo

    def __call__(self, trial) -> float:
        import optuna

        from mnistmax.training import train

        params = {key: suggest(trial, dim) for key, dim in self.search.dims.items()}
        key, name, folds = config_key(params), self.search.name, []
        cfg = trial_config(self.search, params)
        trial.set_user_attr("config_key", key)
        parent = self.tracker.parent(name, trial.number, key, params) if self.tracker else None
        opened = [parent] if parent else []
        try:
            for fold in range(self.search.cv.folds):
                child = self.tracker.child(parent, name, trial.number, key, fold, params) if self.tracker else None
                opened = [r for r in (parent, child) if r]
                trial.set_user_attr("mlflow_runs", opened)
                run_dir = train(fold_config(cfg, name, trial.number, fold), echo=lambda m: None,
                                splits=self.pool.fold(fold), mlflow_run_id=child,
                                output_dir=cfg.logging.output_dir).run_dir
                metrics = fold_metrics(run_dir)
                if self.tracker:
                    self.tracker.log_fold(child, run_dir, metrics)
                folds.append({"fold": fold, "run_dir": str(run_dir), **metrics})
                trial.set_user_attr("folds", folds)
                running = statistics.fmean(f["val_loss"] for f in folds)
                self.echo(f"  trial {trial.number} ({describe(params)}) fold {fold}: val/loss "
                          f"{metrics['val_loss']:.5f}")
                trial.report(running, fold)
                if fold < self.search.cv.folds - 1 and trial.should_prune():
                    self._finish(trial, parent, folds, "PRUNED")
                    self.echo(f"  trial {trial.number} pruned after {len(folds)} folds (running mean {running:.5f})")
                    raise optuna.TrialPruned()
        except optuna.TrialPruned:
            raise
        except BaseException as exc:
            if self.tracker:
                self.tracker.end(opened, "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
            raise
        return self._finish(trial, parent, folds, "COMPLETE")["val_loss_mean"]

    def _finish(self, trial, parent: str | None, folds: list[dict], state: str) -> dict:
        summary = summarise(folds)
        trial.set_user_attr("summary", summary)
        if self.tracker:
            self.tracker.finish(parent, summary, state)
        return summary


class StaleTrials:
    """What a worker does with a trial whose worker died: end its MLflow runs, retry it."""

    def __init__(self, retries: int):
        self.retry = retry_callback(retries)
        self.tracker: TrialTracker | None = None

    def __call__(self, study, trial) -> None:
        if self.tracker:
            self.tracker.end(trial.user_attrs.get("mlflow_runs", []), "KILLED")
        self.retry(study, trial)


def run_search(path: str | Path, *, workers: int = 1, worker_only: bool = False, storage: str | None = None,
               require_grid: bool = False, overrides: "list[str] | tuple[str, ...]" = (),
               output_dir: str | Path | None = None, echo=print) -> dict:
    """Run (or join, or finish) the search in `path`; returns the result the leaderboard is made of.
    `workers` > 1 starts that many worker processes on the study; `worker_only` runs trials and
    returns (an extra machine, or one of those processes). `overrides` (KEY=VALUE) are applied to
    the file's base config (and make another study than the file alone when they change it).
    Runs, the study's default storage and the leaderboard go under `output_dir`, else the base's
    logging.output_dir when it is not `outputs`, else $MNISTMAX_OUTPUT_DIR, else outputs. The storage:
    `storage`, else $MNISTMAX_STORAGE_URL, else the file's storage:; its password is never shown."""
    require_extra("optuna", "search", "mnistmax search and grid")
    with secret_kept(storage or os.environ.get(STORAGE_ENV)):  # a bad file may quote its storage: too
        search = load_search(path, require_grid, overrides)
    base_cfg = config_for(search.base, {}, source=str(search.path))
    root = str(output_root(output_dir, base_cfg.logging.output_dir))
    search.base.setdefault("logging", {})["output_dir"] = root  # every trial's runs (logging is not fingerprinted)
    base_cfg.logging.output_dir = root
    url = storage_url(search.spec.storage, storage, base_cfg.logging.output_dir)
    with secret_kept(url):  # no error that leaves here quotes the storage's password
        return _run_search(search, base_cfg, url, path, workers, worker_only, output_dir, echo)


def _run_search(search: Search, base_cfg: RunConfig, url: str, path, workers: int, worker_only: bool,
                output_dir, echo) -> dict:
    check_storage(url)
    use_mlflow = mlflow_wanted(search.base, echo)  # every check is done before the first write
    hb = search.spec.heartbeat
    on_stale = StaleTrials(hb.retries)
    store = open_storage(url, hb.interval, hb.grace, on_stale)
    study, enqueued = prepare_study(store, url, search.name, fingerprint(search), slots(search), build_sampler(search),
                                    build_pruner(search))
    study.set_user_attr(SCORED_ON, describe_validation(search))  # the one protocol its trials are ranked on
    study.set_user_attr(OVERRIDES, list(search.overrides))  # in the fingerprint too, through the base they change
    before = finished(study)
    tracker = TrialTracker(mlflow_tracking_uri(base_cfg), f"{search.kind}-{search.name}") if use_mlflow else None
    on_stale.tracker = tracker
    if not worker_only:
        echo(f"{search.kind} {search.name}: {search.trials} trials ({search.sampler} sampler, pruner "
             f"{search.spec.pruner}) × {search.cv.folds} folds; study in {shown(url)}"
             + (f"; MLflow at {shown(tracker.tracking_uri)}" if tracker else ""))
        echo(f"scored on: {describe_validation(search)}")
        if search.overrides:
            echo(f"overrides {describe_overrides(search.overrides)}")
        if sqlite_path(url) is None and journal_path(url) is None:  # a server other machines can reach
            echo(join_hint(path, url, search.overrides))
    if workers > 1 and not worker_only:
        spawn_workers(search.path, url, workers, echo, search.overrides, output_dir)
    if worker_only:
        study.sampler.reseed_rng()  # workers started together must not draw the same configurations

    def make_objective():
        pool = training_pool(base_cfg, search.cv.folds, search.cv.seed, search.cv.splits_file)
        return Objective(search, pool, tracker, echo)

    ran = work(study, store, url, make_objective, hb.interval, hb.grace, on_stale)
    if worker_only:
        echo(f"worker {os.getpid()}: ran {ran} trials of study {search.name}")
        return {"search": search, "ran": ran}
    result = collect(study, search, base_cfg, before)
    echo(f"ran {result['ran']} jobs, skipped {result['skipped']} already finished (a job is one fold of one trial)")
    result.update(study=study, url=url, enqueued=enqueued)
    return result


def join_hint(path, url: str, overrides: "tuple[str, ...]" = ()) -> str:
    """How another machine joins the study: the URL in $MNISTMAX_STORAGE_URL (masked here)."""
    hidden = shown(url)
    command = shlex.join(["mnistmax", "search", "-c", str(path), "--worker", *(["--", *overrides] if overrides
                                                                              else [])])
    return (f"other machines join with: {STORAGE_ENV}={shlex.quote(hidden)} {command}"
            + (f" (the password in place of {HIDDEN})" if hidden != url else ""))


def spawn_workers(path: Path, url: str, workers: int, echo=print, overrides: "tuple[str, ...]" = (),
                  output_dir: str | Path | None = None) -> None:
    """`workers` processes of `mnistmax search --worker` on the study (with the parent's overrides
    and --output-dir), each with its share of the cores; returns when all have exited, raises if
    one failed. The storage URL goes to them in $MNISTMAX_STORAGE_URL: a command line is world-readable
    (`ps`), a process's environment is not."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = max(1, cores // workers)
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        threads = min(threads, int(os.environ["OMP_NUM_THREADS"]))
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), STORAGE_ENV: url}
    command = [sys.executable, "-m", "mnistmax", "search", "-c", str(Path(path).resolve()), "--worker",
               *(["--output-dir", str(Path(output_dir).resolve())] if output_dir is not None else []),
               *(["--", *overrides] if overrides else [])]
    echo(f"starting {workers} workers ({threads} thread{'s' * (threads > 1)} each)")
    procs = [subprocess.Popen(command, env=env) for _ in range(workers)]
    try:
        codes = [p.wait() for p in procs]
    except KeyboardInterrupt:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
        raise
    failed = [f"{i + 1} (exit {c})" for i, c in enumerate(codes) if c != 0]
    if failed:
        raise RunError(f"worker {', '.join(failed)} of {workers} failed; finished trials stay in the study "
                       f"({shown(url)}): run the same command again to retry the rest")


def finished(study) -> set[int]:
    return {t.number for t in study.get_trials(deepcopy=False) if t.state.name in ("COMPLETE", "PRUNED")}


def collect(study, search: Search, base_cfg: RunConfig, before: set[int]) -> dict:
    """The study's trials as leaderboard rows: completed ones ranked by mean validation loss,
    pruned ones after them; jobs (folds) run now and found finished."""
    rows, pruned, ran, skipped = [], [], 0, 0
    for t in study.get_trials(deepcopy=False):
        if t.state.name not in ("COMPLETE", "PRUNED") or "summary" not in t.user_attrs:
            continue
        n_folds = len(t.user_attrs.get("folds", []))
        skipped, ran = (skipped + n_folds, ran) if t.number in before else (skipped, ran + n_folds)
        params = {k: search.dims[k].decode(v) for k, v in t.params.items() if k in search.dims}
        row = {"trial": t.number, "config_key": t.user_attrs.get("config_key", config_key(params)), "params": params,
               "folds": n_folds, "state": t.state.name, **t.user_attrs["summary"]}
        (rows if t.state.name == "COMPLETE" else pruned).append(row)
    rows.sort(key=lambda r: r["val_loss_mean"])
    done = {t.user_attrs.get(SLOT) for t in study.get_trials(deepcopy=False) if t.state.name in ("COMPLETE", "PRUNED")}
    missing = [s for s in slots(search) if s not in done]
    folder = "grids" if search.kind == "grid" else "searches"
    return {"search": search, "spec": search.spec, "base": search.base, "rows": rows, "pruned": pruned,
            "missing": missing, "ran": ran, "skipped": skipped,
            "output": Path(base_cfg.logging.output_dir) / folder / search.name}


def finish_search(result: dict, test: bool = True, echo=print) -> tuple[Path, dict | None]:
    """(output folder, test): retrain and test the best configuration once (`test`), write the
    leaderboard and the plots."""
    with secret_kept(result.get("url")):  # the plots read the study: a storage error may quote its URL
        return _finish_search(result, test, echo)


def _finish_search(result: dict, test: bool, echo) -> tuple[Path, dict | None]:
    from mnistmax.experiments.leaderboard import test_best, write_leaderboard
    from mnistmax.experiments.plots import write_plots

    search = result["search"]
    if result["missing"]:
        echo(f"{len(result['missing'])} of {search.trials} trials did not finish (failed, retries spent); "
             "run the same command again to retry them")
    if not result["rows"]:
        raise RunError(f"no trial of {search.name} completed; nothing to rank")
    tested = test_best(result, echo=echo) if test else None
    out = write_leaderboard(result, tested)
    write_plots(result["study"], out, echo=echo)
    return out, tested
