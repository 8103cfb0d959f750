"""An ablation-gated bitmap run end to end: train, eval table with ungated + bitmap baselines,
ablation map picture, report section."""

import json

import pytest
from typer.testing import CliRunner

from mnistmax.cli import app
from tests.helpers import TINY, assert_picture

runner = CliRunner()


@pytest.fixture(scope="module")
def gated_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ablation")
    result = runner.invoke(app, ["train", "-c", "configs/models/ablation_unet.yaml", *TINY,
                                 "noise.eval_kinds=[add_mixed, add_pixels]", "noise.test_sigmas=[0.3]",
                                 f"logging.output_dir={out}"])
    assert result.exit_code == 0, result.output
    return next((out / "runs").iterdir())


def test_training_draws_ablation_maps(gated_run):
    assert_picture(gated_run / "grids" / "ablation_map_epoch_002.png")
    assert_picture(gated_run / "grids" / "ablation_map_latest.png")


def test_eval_reports_bitmap_and_ablation_scores(gated_run):
    result = runner.invoke(app, ["eval", str(gated_run)])
    assert result.exit_code == 0, result.output
    assert "precision / recall / ablation efficiency" in result.output
    rows = json.loads((gated_run / "eval" / "eval.json").read_text())
    methods = {r["method"] for r in rows}
    assert {"ablation_unet_dae", "unet_dae (ungated)", "opening", "component_filter", "identity"} <= methods
    for r in rows:
        for key in ("accuracy", "dice", "iou", "hamming", "precision", "recall", "specificity", "fpr",
                    "ablation_efficiency", "pixel_conservation"):
            assert key in r
        if r["method"] in ("ablation_unet_dae", "opening", "component_filter", "identity"):
            # none of these can add a pixel: every false positive is a noise pixel left on
            assert r["ablation_efficiency"] <= 1 and r["specificity"] <= 1
    identity = next(r for r in rows if r["method"] == "identity" and r["noise"] == "add_mixed")
    assert identity["ablation_efficiency"] == 0 and identity["recall"] == 1  # doing nothing keeps all ink


def test_ablation_map_command_and_report(gated_run):
    result = runner.invoke(app, ["viz", "ablation-map", str(gated_run)])
    assert result.exit_code == 0, result.output
    assert_picture(gated_run / "grids" / "ablation_map_test.png")
    assert runner.invoke(app, ["report", str(gated_run)]).exit_code == 0
    page = (gated_run / "reports" / "index.html").read_text()
    assert "Ablation scores (bitmaps)" in page and "Ablation map" in page


def test_the_threshold_sweep_matches_eval_and_trades_recall_for_precision(gated_run):
    from mnistmax.eval.operating import THRESHOLDS, model_sweeps, sweep_scores
    from mnistmax.runs import load_run

    run = load_run(gated_run)
    counts = model_sweeps(run.cfg, run.task.reconstruct, run.test_images, "add_mixed", [0.3], run.cfg.eval.seed)[0.3]
    rows = sweep_scores(counts, THRESHOLDS, len(run.test_images))
    tp = [int(c) for c in counts[:, 0]]
    fp = [int(c) for c in counts[:, 1]]
    assert fp == sorted(fp, reverse=True) and tp == sorted(tp, reverse=True)  # a higher threshold keeps fewer pixels
    assert runner.invoke(app, ["eval", str(gated_run)]).exit_code == 0
    evaluated = {r["method"]: r for r in json.loads((gated_run / "eval" / "eval.json").read_text())
                 if r["noise"] == "add_mixed" and r["sigma"] == 0.3}
    # the recipe's operating point, chosen on validation, is the threshold `mnistmax eval` reports the model at
    model = evaluated["ablation_unet_dae"]
    assert model["point"] == "seed000" and model["threshold"] in THRESHOLDS
    at = rows[THRESHOLDS.index(model["threshold"])]
    for key in ("precision", "recall", "recall_visible", "hidden_ink", "ablation_efficiency", "specificity"):
        assert at[key] == pytest.approx(model[key], nan_ok=True)
    assert evaluated["ablation_unet_dae @precise"]["point"] == "precise"
