"""`mnistmax grid`: a 2-configuration x 2-fold grid of real tiny trainings through the CLI, on
an Optuna study and a MLflow store (temporary SQLite files); folds and splits files."""

import csv
import json

import mlflow
import optuna
import pytest
import torch
from typer.testing import CliRunner

from mnistmax.cli import app
from mnistmax.data.splits import stratified_kfold
from tests.helpers import assert_picture, grid_file

runner = CliRunner()


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grid")
    path = grid_file(tmp)
    result = runner.invoke(app, ["grid", "-c", str(path)])
    assert result.exit_code == 0, result.output
    return tmp, path, result.output


def test_store_holds_a_parent_per_trial_with_nested_folds(grid_run):
    tmp, _, _ = grid_run
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}")
    exp = client.get_experiment_by_name("grid-tiny-grid")
    runs = client.search_runs([exp.experiment_id], max_results=100)
    parents = [r for r in runs if r.data.tags.get("kind") == "config"]
    children = [r for r in runs if r.data.tags.get("kind") == "fold"]
    assert len(parents) == 2 and len(children) == 4
    assert sorted(p.data.tags["trial"] for p in parents) == ["0", "1"]
    for parent in parents:
        assert parent.data.tags["study"] == "tiny-grid"
        kids = [c for c in children if c.data.tags["mlflow.parentRunId"] == parent.info.run_id]
        assert sorted(c.data.tags["fold"] for c in kids) == ["0", "1"]
        assert {c.data.tags["trial"] for c in kids} == {parent.data.tags["trial"]}
        assert parent.info.status == "FINISHED" and parent.data.params["train.lr"] in ("0.001", "0.003")
        assert {"val_loss_mean", "val_loss_std", "val_psnr_mean"} <= set(parent.data.metrics)
        mean = sum(c.data.metrics["fold_val_loss"] for c in kids) / 2
        assert parent.data.metrics["val_loss_mean"] == pytest.approx(mean)
        for kid in kids:
            assert kid.info.status == "FINISHED"
            assert "fold_val_loss" in kid.data.metrics and "val/loss" in kid.data.metrics
            names = {a.path for a in client.list_artifacts(kid.info.run_id)}
            assert {"model", "grids", "training_metrics.json"} <= names


def test_study_ran_each_grid_point_once_in_its_own_run_directories(grid_run):
    tmp, _, _ = grid_run
    study = optuna.load_study(study_name="tiny-grid", storage=f"sqlite:///{tmp / 'out' / 'optuna.db'}")
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
    assert sorted(t.params["train.lr"] for t in study.trials) == [0.001, 0.003]
    dirs = [f["run_dir"] for t in study.trials for f in t.user_attrs["folds"]]
    assert len(set(dirs)) == 4 and all("tiny-grid-t" in d for d in dirs)
    for t in study.trials:
        losses = [f["val_loss"] for f in t.user_attrs["folds"]]
        assert t.value == pytest.approx(sum(losses) / 2)
        assert t.intermediate_values == pytest.approx({0: losses[0], 1: sum(losses) / 2})  # running mean per fold


def test_leaderboard_files_rank_by_mean_validation_loss(grid_run):
    tmp, _, output = grid_run
    out = tmp / "out" / "grids" / "tiny-grid"
    for name in ("leaderboard.csv", "leaderboard.md", "leaderboard.tex", "leaderboard.json"):
        assert (out / name).is_file()
    rows = list(csv.DictReader(open(out / "leaderboard.csv")))
    ranked = [r for r in rows if r["rank"] != "baseline"]
    losses = [float(r["val_loss"].split(" ± ")[0]) for r in ranked]
    assert losses == sorted(losses) and len(ranked) == 2
    baselines = {r["configuration"] for r in rows if r["rank"] == "baseline"}
    assert baselines == {"identity", "gaussian_filter", "median_filter"}
    assert ranked[0]["test"] != "" and ranked[1]["test"] == ""
    assert r"\begin{tabular}" in (out / "leaderboard.tex").read_text()
    board = json.loads((out / "leaderboard.json").read_text())
    assert board["test"]["trial"] == int(ranked[0]["trial"]) and board["missing"] == []
    for plot in ("optimization_history", "param_importances", "parallel_coordinate"):
        assert_picture(out / f"{plot}.png")


def test_second_invocation_trains_nothing(grid_run):
    tmp, path, _ = grid_run
    before = sorted((tmp / "out" / "runs").iterdir())
    result = runner.invoke(app, ["grid", "-c", str(path)])
    assert result.exit_code == 0, result.output
    assert "ran 0 jobs, skipped 4 already finished" in result.output and "tested before" in result.output
    assert sorted((tmp / "out" / "runs").iterdir()) == before  # not a fold, not the best: nothing trained


def test_folds_are_disjoint_cover_and_repeat():
    labels = torch.arange(10).repeat_interleave(57)
    folds = stratified_kfold(labels, 5, seed=3)
    assert torch.equal(folds, stratified_kfold(labels, 5, seed=3))
    assert not torch.equal(folds, stratified_kfold(labels, 5, seed=4))
    assert set(folds.tolist()) == set(range(5))  # every digit in exactly one fold
    sizes = torch.bincount(folds)
    assert sizes.max() - sizes.min() <= 1
    for f in range(5):
        per_class = torch.bincount(labels[folds == f], minlength=10)
        assert per_class.max() - per_class.min() <= 1  # stratified


def test_splits_file_round_trip(tmp_path):
    result = runner.invoke(app, ["splits", "--folds", "3", "-o", str(tmp_path / "splits.csv"), "-c", "quick"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(open(tmp_path / "splits.csv")))
    assert len(rows) == 2000 + 450 and {r["fold"] for r in rows} == {"0", "1", "2"}
    bad = grid_file(tmp_path, {"splits_file": str(tmp_path / "splits.csv")})  # written for other data: refused
    result = runner.invoke(app, ["grid", "-c", str(bad), "--no-test"])
    assert result.exit_code == 2 and "does not match this data" in result.output


def test_bad_grid_key_is_named(tmp_path):
    path = grid_file(tmp_path)
    path.write_text(path.read_text().replace("train.lr", "train.learning_rate"))
    result = runner.invoke(app, ["grid", "-c", str(path)])
    assert result.exit_code == 2 and "train.learning_rate" in result.output


def test_a_search_file_is_not_a_grid_file(tmp_path):
    from tests.experiments.files import search_file

    result = runner.invoke(app, ["grid", "-c", str(search_file(tmp_path))])
    assert result.exit_code == 2 and "grid: Field required" in result.output
