"""A 2-configuration x 2-fold grid through the CLI against a temporary SQLite MLflow store."""

import csv

import mlflow
import pytest
import torch
from typer.testing import CliRunner

from mnistmax.cli import app
from mnistmax.data.splits import stratified_kfold
from tests.helpers import grid_file

runner = CliRunner()


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grid")
    path = grid_file(tmp)
    result = runner.invoke(app, ["grid", "-c", str(path)])
    assert result.exit_code == 0, result.output
    return tmp, path, result.output


def test_store_holds_parents_with_nested_folds(grid_run):
    tmp, _, _ = grid_run
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}")
    exp = client.get_experiment_by_name("grid-tiny-grid")
    runs = client.search_runs([exp.experiment_id], max_results=100)
    parents = [r for r in runs if r.data.tags.get("kind") == "config"]
    children = [r for r in runs if r.data.tags.get("kind") == "fold"]
    assert len(parents) == 2 and len(children) == 4
    for parent in parents:
        kids = [c for c in children if c.data.tags["mlflow.parentRunId"] == parent.info.run_id]
        assert sorted(c.data.tags["fold"] for c in kids) == ["0", "1"]
        assert parent.info.status == "FINISHED" and parent.data.params["train.lr"] in ("0.001", "0.003")
        assert {"val_loss_mean", "val_loss_std", "val_psnr_mean"} <= set(parent.data.metrics)
        mean = sum(c.data.metrics["fold_val_loss"] for c in kids) / 2
        assert parent.data.metrics["val_loss_mean"] == pytest.approx(mean)
        for kid in kids:
            assert kid.info.status == "FINISHED" and "fold_val_loss" in kid.data.metrics and "val/loss" in kid.data.metrics
            names = {a.path for a in client.list_artifacts(kid.info.run_id)}
            assert {"model", "grids", "training_metrics.json"} <= names


def test_leaderboard_files_rank_by_mean_validation_loss(grid_run):
    tmp, _, output = grid_run
    out = tmp / "out" / "grids" / "tiny-grid"
    for name in ("leaderboard.csv", "leaderboard.md", "leaderboard.tex"):
        assert (out / name).is_file()
    rows = list(csv.DictReader(open(out / "leaderboard.csv")))
    ranked = [r for r in rows if r["rank"] != "baseline"]
    losses = [float(r["val_loss"].split(" ± ")[0]) for r in ranked]
    assert losses == sorted(losses) and len(ranked) == 2
    assert {r["configuration"] for r in rows if r["rank"] == "baseline"} == {"identity", "gaussian_filter", "median_filter"}
    assert ranked[0]["test"] != ""
    assert r"\begin{tabular}" in (out / "leaderboard.tex").read_text()


def test_second_invocation_skips_finished_jobs(grid_run):
    _, path, _ = grid_run
    result = runner.invoke(app, ["grid", "-c", str(path), "--no-test"])
    assert result.exit_code == 0, result.output
    assert "ran 0 jobs, skipped 4 already finished" in result.output


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
    result = runner.invoke(app, ["splits", "--folds", "3", "--output-dir", str(tmp_path), "-c", "configs/quick.yaml"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(open(tmp_path / "splits.csv")))
    assert len(rows) == 2000 + 450 and {r["fold"] for r in rows} == {"0", "1", "2"}
    bad = grid_file(tmp_path, {"splits_file": str(tmp_path / "splits.csv")})  # written for other data: refused
    result = runner.invoke(app, ["grid", "-c", str(bad), "--no-test"])
    assert result.exit_code == 2 and "does not match this data" in result.output


def test_bad_grid_key_is_named(tmp_path):
    path = grid_file(tmp_path)
    text = path.read_text().replace("train.lr", "train.learning_rate")
    path.write_text(text)
    result = runner.invoke(app, ["grid", "-c", str(path)])
    assert result.exit_code == 2 and "train.learning_rate" in result.output
