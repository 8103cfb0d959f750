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


def test_operating_points_script_matches_eval_and_trades_recall_for_precision(gated_run, capsys):
    import importlib.util
    from pathlib import Path

    from mnistmax.data.datamodule import test_images
    from mnistmax.runs import load_run

    path = Path(__file__).resolve().parents[2] / "scripts" / "ablation_operating_points.py"
    spec = importlib.util.spec_from_file_location("ablation_operating_points", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    run = load_run(gated_run)
    cfg, task = run.cfg, run.task
    rows = script.sweep(task, test_images(cfg), "add_mixed", 0.3, [0.0, 0.1, 0.3, 0.5, 1.0], cfg)
    fps, fns = [r["fp"] for r in rows], [r["fn"] for r in rows]
    assert fps == sorted(fps, reverse=True) and fns == sorted(fns)  # a higher threshold keeps fewer pixels
    assert rows[-1]["recall"] == 0 and rows[-1]["ablation_efficiency"] == 1  # nothing is above 1.0

    assert runner.invoke(app, ["eval", str(gated_run)]).exit_code == 0
    evaluated = {r["method"]: r for r in json.loads((gated_run / "eval" / "eval.json").read_text())
                 if r["noise"] == "add_mixed" and r["sigma"] == 0.3}
    # threshold 0: a sigmoid is never 0, so every pixel on in the input stays on, like `identity`
    # threshold 0.5: what `mnistmax eval` reports for the model
    for threshold_row, method in ((rows[0], "identity"), (rows[3], "ablation_unet_dae")):
        for key in ("precision", "recall", "ablation_efficiency"):
            assert threshold_row[key] == pytest.approx(evaluated[method][key], nan_ok=True)
    assert rows[0]["recall"] == 1 and rows[0]["ablation_efficiency"] == 0

    script.main([str(gated_run), "--levels", "0.3", "--thresholds", "0.5"])
    printed = capsys.readouterr().out
    assert "threshold 0.5" in printed and "add_blocks" in printed and "touching/apart" in printed
