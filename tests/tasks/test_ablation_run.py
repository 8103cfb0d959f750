"""An ablation-gated bitmap run end to end: train, eval table with ungated + bitmap baselines,
ablation map picture, report section."""

import json

import pytest
import torch
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


def stored_points(run_dir) -> list[dict]:
    (entry,) = json.loads((run_dir / "operating_points.json").read_text()).values()
    return entry["points"]


def test_eval_on_a_test_only_idx_folder_uses_the_thresholds_the_run_chose_on_its_own_validation(gated_run, tmp_path):
    import mnistmax
    from mnistmax.data.sources import load_embedded, write_idx

    points = stored_points(gated_run)  # chosen when training ended, on the run's own validation split
    assert [p["point"] for p in points] == ["seed000", "precise"]
    assert all(p["validation_images"] == 450 and p["met"] in (True, False) for p in points)
    assert points[0]["threshold"] != points[1]["threshold"]
    folder = tmp_path / "mnist-test-only"  # only t10k files: this data has no train or validation split
    bundle = load_embedded()
    write_idx(folder / "t10k-images-idx3-ubyte", bundle.train_images[:60])
    write_idx(folder / "t10k-labels-idx1-ubyte", bundle.train_labels[:60].to(torch.uint8))
    result = runner.invoke(app, ["eval", str(gated_run), "data.source=idx", f"data.root={folder}",
                                 "data.limit_test=null", "--tag", "idx"])
    assert result.exit_code == 0, result.output
    assert "chosen on the training run's validation split, 450 digits" in result.output
    rows = json.loads((gated_run / "eval" / "eval-idx.json").read_text())
    model = {r["method"]: r for r in rows if r["method"].startswith("ablation_unet_dae")}
    assert {r["n"] for r in model.values()} == {60}
    for name, p in (("ablation_unet_dae", points[0]), ("ablation_unet_dae @precise", points[1])):
        assert model[name]["threshold"] == p["threshold"] and model[name]["point_met"] == p["met"]
        assert model[name]["point_validation_images"] == 450
    assert mnistmax.load(gated_run).threshold == points[0]["threshold"]  # the API cuts at the same one
    assert stored_points(gated_run) == points  # evaluated on other data: nothing chosen again


def test_a_run_without_a_validation_split_does_not_claim_its_rules(tmp_path):
    from types import SimpleNamespace

    from mnistmax.eval.operating import describe_point, run_points
    from tests.helpers import tiny_config

    cfg = tiny_config("data.binarize=true", "noise.kind=add_mixed", "noise.eval_kinds=[add_mixed]",
                      "eval.operating_point={maximize: ablation_efficiency, subject_to: {recall: 0.99}}")
    run = SimpleNamespace(cfg=cfg, trained_cfg=cfg, run_dir=tmp_path, checkpoint="best", checkpoint_path=None,
                          validation_images=torch.zeros(0, 28, 28, dtype=torch.uint8), task=None)
    (point,) = run_points(run)
    assert point["threshold"] == cfg.eval.threshold and point["met"] is None and point["validation_images"] == 0
    assert "NOT chosen, the training run has no validation split" in describe_point(point)
