"""`mnistmax search` through the CLI: TPE and pruning (over a training that takes no time),
workers started by the parent, a worker SIGKILLed mid-trial (real tiny trainings), and bad
input refused with one line before anything is written."""

import csv
import json
import math
import subprocess
from pathlib import Path

import optuna
import pytest
import torch

from mnistmax.config.load import PACKAGED
from mnistmax.experiments.spec import load_search
from mnistmax.files import create_unique_dir, read_meta
from mnistmax.training import TrainResult
from tests.experiments.files import search_file, tiny_base
from tests.helpers import assert_picture, hide_module, invoke, one_error_line


def fake_train(cfg, echo=print, splits=None, mlflow_run_id=None, **kwargs):
    """A run directory whose one epoch scored val/loss = 10 x the learning rate, at once."""
    run_dir = create_unique_dir(Path(cfg.logging.output_dir) / "runs", cfg.name)
    loss = 10 * cfg.train.lr
    (run_dir / "metrics.csv").write_text(f"epoch,step,val/loss,val/psnr\n0,1,{loss},{-10 * math.log10(loss)}\n")
    return TrainResult(run_dir, "completed", loss, 1, 1)


@pytest.fixture
def no_training(monkeypatch):
    monkeypatch.setattr("mnistmax.training.train", fake_train)


def study_of(tmp, name):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp / 'out' / 'optuna.db'}")


def test_tpe_search_without_mlflow(tmp_path, no_training, monkeypatch):
    hide_module(monkeypatch, "mlflow")
    path = search_file(tmp_path, name="tpe", base=tiny_base(tmp_path), sampler="tpe", trials=4, startup_trials=2,
                       space={"train.lr": {"low": 1e-3, "high": 1e-2, "log": True},
                              "model.base_ch": {"low": 2, "high": 6}})
    result = invoke("search", "-c", path, "--no-test")
    assert result.exit_code == 0, result.output
    assert "MLflow is not installed" in result.output and not (tmp_path / "out" / "mlflow.db").exists()
    trials = study_of(tmp_path, "tpe").get_trials()
    assert len(trials) == 4 and {t.state.name for t in trials} == {"COMPLETE"}
    for t in trials:
        assert 1e-3 <= t.params["train.lr"] <= 1e-2 and isinstance(t.params["model.base_ch"], int)
        assert t.value == pytest.approx(10 * t.params["train.lr"])  # the mean over the 2 folds
        assert len(t.intermediate_values) == 2  # the running mean, reported after each fold
    out = tmp_path / "out" / "searches" / "tpe"
    rows = list(csv.DictReader(open(out / "leaderboard.csv")))
    losses = [float(r["val_loss"].split(" ± ")[0]) for r in rows]
    assert len(rows) == 4 and losses == sorted(losses)
    for plot in ("optimization_history", "param_importances", "parallel_coordinate"):
        assert_picture(out / f"{plot}.png")


def test_median_pruner_stops_a_hopeless_configuration_after_its_first_fold(tmp_path, no_training):
    path = search_file(tmp_path, name="pruned", space={"train.lr": [0.001, 0.01, 0.02]}, pruner="median",
                       cv={"folds": 3, "seed": 0})
    result = invoke("search", "-c", path, "--no-test")
    assert result.exit_code == 0, result.output
    trials = study_of(tmp_path, "pruned").trials
    states = {t.params["train.lr"]: (t.state.name, len(t.user_attrs["folds"])) for t in trials}
    # worse than the median at fold 0
    assert states == {0.001: ("COMPLETE", 3), 0.01: ("PRUNED", 1), 0.02: ("PRUNED", 1)}
    assert "ran 5 jobs" in result.output
    rows = list(csv.DictReader(open(tmp_path / "out" / "searches" / "pruned" / "leaderboard.csv")))
    assert [r["rank"] for r in rows] == ["1", "pruned", "pruned"] and "(1/3 folds)" in rows[1]["val_loss"]
    assert "skipped param_importances.png: importances need 2 completed trials" in result.output


def test_hyperband_pruner_runs_the_study_to_the_end(tmp_path, no_training):
    path = search_file(tmp_path, name="hyperband", space={"train.lr": {"low": 1e-3, "high": 1e-1, "log": True}},
                       sampler="random", trials=5, pruner="hyperband", cv={"folds": 3, "seed": 0})
    result = invoke("search", "-c", path, "--no-test")
    assert result.exit_code == 0, result.output
    trials = study_of(tmp_path, "hyperband").trials
    assert len(trials) == 5 and {t.state.name for t in trials} <= {"COMPLETE", "PRUNED"}
    assert trials[0].state.name == "COMPLETE"  # nothing to compare the first trial with


@pytest.mark.parametrize("name", sorted(p.relative_to(PACKAGED).with_suffix("").as_posix()
                                        for p in [*PACKAGED.glob("search/*.yaml"), *PACKAGED.glob("grid/*.yaml")]))
def test_every_shipped_search_and_grid_file_is_valid(name):
    search = load_search(name)
    assert search.trials >= 2 and search.cv.folds >= 2
    assert search.sampler == ("grid" if name.startswith("grid/") else search.spec.sampler or "tpe")


def test_parent_makes_the_study_then_starts_its_workers(tmp_path, no_training, monkeypatch):
    path = search_file(tmp_path, name="spawned")
    started = []

    class FakeWorker:  # records how it was started; the parent's own loop then runs the trials
        def __init__(self, command, env):
            states = [t.state.name for t in study_of(tmp_path, "spawned").trials]
            started.append((command, env, states))

        def wait(self):
            return 0

    monkeypatch.setattr(subprocess, "Popen", FakeWorker)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    result = invoke("search", "-c", path, "--workers", "2", "--no-test")
    assert result.exit_code == 0, result.output
    url = f"sqlite:///{tmp_path / 'out' / 'optuna.db'}"
    assert len(started) == 2
    for command, env, states in started:
        assert command[1:] == ["-m", "mnistmax", "search", "-c", str(path), "--worker"]
        assert env["MNISTMAX_STORAGE_URL"] == url  # the storage, off the command line
        assert env["OMP_NUM_THREADS"] == "1" and states == ["WAITING", "WAITING"]  # made and filled before any worker
    assert {t.state.name for t in study_of(tmp_path, "spawned").trials} == {"COMPLETE"}


def test_a_failed_worker_is_one_line(tmp_path, no_training, monkeypatch):
    class FailingWorker:
        def __init__(self, command, env):
            pass

        def wait(self):
            return 3

    monkeypatch.setattr(subprocess, "Popen", FailingWorker)
    result = invoke("search", "-c", search_file(tmp_path), "--workers", "2", "--no-test")
    last = result.output.strip().splitlines()[-1]
    assert result.exit_code == 1 and last.startswith("error: worker 1 (exit 3), 2 (exit 3) of 2 failed")
    assert "Traceback" not in result.output


def test_a_changed_search_under_the_same_name_is_refused(tmp_path, no_training):
    assert invoke("search", "-c", search_file(tmp_path), "--no-test").exit_code == 0
    changed = search_file(tmp_path, space={"train.lr": [0.001, 0.005]})
    result = invoke("search", "-c", changed, "--no-test")
    assert result.exit_code == 2 and "was made from a different base config, space" in one_error_line(result)


def test_more_trials_extend_the_study_and_train_only_the_new_ones(tmp_path, no_training):
    space = {"train.lr": {"low": 1e-3, "high": 1e-2, "log": True}}
    assert invoke("search", "-c", search_file(tmp_path, sampler="random", trials=2, space=space),
                  "--no-test").exit_code == 0
    result = invoke("search", "-c", search_file(tmp_path, sampler="random", trials=3, space=space), "--no-test")
    assert result.exit_code == 0 and "ran 2 jobs, skipped 4 already finished" in result.output
    assert [t.state.name for t in study_of(tmp_path, "tiny-search").trials] == ["COMPLETE"] * 3


BAD = [  # (change to the search file, what its one line says)
    ({"space": {"train.learning_rate": [0.1]}}, "train.learning_rate"),
    ({"space": {"train.lr": []}}, "space.train.lr: an empty list"),
    ({"space": {"train.lr": {}}}, "space.train.lr: an empty range"),
    ({"space": {"train.lr": {"low": 0.1, "high": 0.01}}, "sampler": "tpe", "trials": 3}, "low (0.1) > high (0.01)"),
    ({"space": {"train.lr": {"low": 0, "high": 0.1, "log": True}}, "sampler": "tpe", "trials": 3},
     "space.train.lr: a log range needs low > 0 (got 0)"),
    ({"space": {"train.lr": {"low": 1e-3, "high": 1e-2}}}, "space.train.lr: sampler grid needs a list of values"),
    ({"sampler": "tpe"}, "trials: needed with sampler tpe"),
    ({"startup_trials": 3}, "startup_trials: only sampler tpe"),
    ({"heartbeat": {"interval": 5, "grace": 5}}, "heartbeat: grace (5) must be longer than interval (5)"),
    ({"pruner": "sometimes"}, "pruner: Input should be 'none', 'median' or 'hyperband'"),
    ({"storage": "postgresql://nobody@127.0.0.1:9/none"}, "storage 'postgresql://nobody@127.0.0.1:9/none'"),
    ({"storage": "nosuch://x"}, "not a SQLAlchemy URL"),
    ({"cv": {"folds": 2, "score": {"kind": "gaussian"}}}, "cv.score: give either levels: [..] or range: [low, high]"),
    ({"cv": {"folds": 2, "score": {"kind": "smudge", "levels": [0.5]}}}, "cv.score.kind"),
    ({"space": {"noise.validation.kind": ["gaussian"]}}, "space.noise.validation.kind: every trial is validated"),
]


@pytest.mark.parametrize("change, message", BAD, ids=[m.split(":")[0][:30] for _, m in BAD])
def test_bad_search_file_is_one_line_exit_2_and_writes_nothing(tmp_path, change, message):
    path = search_file(tmp_path, **change)
    result = invoke("search", "-c", path)
    assert result.exit_code == 2 and message in one_error_line(result)
    assert [p.name for p in tmp_path.iterdir()] == ["search.yaml"]  # no outputs/, no study, no MLflow store


def recording(monkeypatch) -> list:
    """fake_train, recording each fold's config."""
    seen = []

    def train(cfg, echo=print, splits=None, **kwargs):
        seen.append(cfg)
        return fake_train(cfg, echo, splits)

    monkeypatch.setattr("mnistmax.training.train", train)
    return seen


def test_trials_that_differ_only_in_training_noise_are_validated_on_the_same_noise(tmp_path, monkeypatch, embedded):
    from mnistmax.data.datamodule import noisy_batch

    seen = recording(monkeypatch)
    path = search_file(tmp_path, name="noise", space={"noise.train_sigma_range": [[0.0, 0.2], [0.8, 1.0]]})
    result = invoke("search", "-c", path, "--no-test")
    assert result.exit_code == 0, result.output
    assert {tuple(c.noise.train_sigma_range) for c in seen} == {(0.0, 0.2), (0.8, 1.0)} and len(seen) == 4
    # every fold validates under the base config's training noise, whatever its trial trains on
    assert {c.noise.validation.model_dump_json() for c in seen} == {
        '{"kind":"gaussian","levels":null,"range":[0.0,1.0]}'}
    easy, hard = (next(c for c in seen if c.noise.train_sigma_range[1] == high) for high in (0.2, 1.0))
    images, labels = embedded.train_images[:64], embedded.train_labels[:64]

    def draw(cfg, training):
        return noisy_batch(images, labels, cfg, torch.Generator().manual_seed(3), training)

    assert torch.equal(draw(easy, False)["noisy"], draw(hard, False)["noisy"])  # the same test for both
    assert draw(easy, True)["sigma"].max() <= 0.2 < draw(hard, True)["sigma"].min()  # trained on other noise
    words = "val/loss on the held-out fold of 2, every trial under gaussian noise, level uniform in [0, 1]"
    assert words in result.output
    board = json.loads((tmp_path / "out" / "searches" / "noise" / "leaderboard.json").read_text())
    assert words in board["scored_on"] and board["validation_noise"] == {"kind": "gaussian", "range": [0.0, 1.0]}
    assert study_of(tmp_path, "noise").user_attrs["mnistmax:scored_on"] == board["scored_on"]
    assert (tmp_path / "out" / "searches" / "noise" / "leaderboard.md").read_text().startswith(
        "Every configuration scored on: " + words)


def test_cv_score_sets_the_validation_noise_of_every_trial(tmp_path, monkeypatch):
    seen = recording(monkeypatch)
    path = search_file(tmp_path, name="scored", space={"noise.kind": ["gaussian", "salt_pepper"]},
                       cv={"folds": 2, "seed": 0, "score": {"kind": "gaussian", "levels": [0.3, 0.5, 0.8]}})
    result = invoke("search", "-c", path, "--no-test")
    assert result.exit_code == 0, result.output
    assert {c.noise.kind for c in seen} == {"gaussian", "salt_pepper"}
    validation = {(c.noise.validation.kind, tuple(c.noise.validation.levels)) for c in seen}
    assert validation == {("gaussian", (0.3, 0.5, 0.8))}
    assert "gaussian noise at level 0.3 / 0.5 / 0.8 (cv.score)" in result.output


def test_cv_score_on_a_task_without_noise_is_refused(tmp_path):
    base = tiny_base(tmp_path, mlflow=False)
    base.pop("noise")
    base |= {"task": "classify", "model": {"name": "cnn_classifier"}}
    path = search_file(tmp_path, base=base, cv={"folds": 2, "score": {"kind": "gaussian", "levels": [0.5]}})
    result = invoke("search", "-c", path)
    assert result.exit_code == 2 and "cv.score: task classify draws no noise" in one_error_line(result)


def test_the_best_is_retrained_on_every_digit_of_the_folds_without_validation(tmp_path):
    base = tiny_base(tmp_path, mlflow=False)
    base["train"] |= {"epochs": 3}
    path = search_file(tmp_path, name="retrain", base=base, space={"train.lr": [3e-3, 1e-2]})
    result = invoke("search", "-c", path)
    assert result.exit_code == 0, result.output
    board = json.loads((tmp_path / "out" / "searches" / "retrain" / "leaderboard.json").read_text())
    trial = study_of(tmp_path, "retrain").trials[board["rows"][0]["trial"]]
    folds = trial.user_attrs["folds"]
    assert all(1 <= f["epochs"] <= 3 for f in folds)
    want = max(1, round(sum(f["epochs"] for f in folds) / len(folds)))
    best = Path(board["test"]["run_dir"])
    meta = read_meta(best)
    pool = 96 + 450  # the folds' digits: the base config's train (limit_train 96) and validation splits
    assert meta["data"]["sizes"] == {"train": pool, "val": 0, "test": 30}
    assert meta["epochs_completed"] == meta["epochs_planned"] == want and meta["best_val_loss"] is None
    assert board["test"]["retrain"] == {"digits": pool, "epochs": want, "validation": "none"}
    assert (best / "checkpoints" / "best.ckpt").is_file() and (best / "eval" / "eval.json").is_file()
    assert f"retraining on all {pool} digits of the folds for {want} epochs" in result.output
