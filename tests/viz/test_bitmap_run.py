"""A tiny bitmap run with additive noise, trained and evaluated once: the live bitmap scores in
metrics.csv, the ablation-map animation, the PSNR-vs-σ curve (`viz psnr-curve`, `viz all`,
the report) and `compare models`' psnr_vs_sigma.png."""

import csv
import json

import pytest
from PIL import Image

from tests.helpers import ROOT, TINY, assert_picture, invoke

# enough steps (640 digits, no warmup, a high lr) that the gated model turns some pixels on by epoch 1
BITMAP_RUN = [*TINY, "data.limit_train=640", "data.binarize=true", "noise.kind=add_mixed",
              "model={name: ablation_unet_dae, base_ch: 8}", "train.loss=precision_bce", "train.warmup_epochs=0",
              "train.lr=1e-2", "noise.eval_kinds=[add_mixed, add_pixels]", "noise.test_sigmas=[0.1, 0.5, 1.0]"]
LIVE_KEYS = ("val/precision", "val/recall", "val/specificity", "val/ablation_efficiency")


def train(out, *overrides):
    result = invoke("train", "-c", ROOT / "configs" / "quick.yaml", *overrides, f"logging.output_dir={out}")
    assert result.exit_code == 0, result.output
    return next((out / "runs").iterdir())


@pytest.fixture(scope="module")
def bitmap_run(tmp_path_factory):
    run = train(tmp_path_factory.mktemp("bitmap"), *BITMAP_RUN)
    result = invoke("eval", run)
    assert result.exit_code == 0, result.output
    return run


def test_metrics_csv_has_the_live_bitmap_scores_every_epoch(bitmap_run):
    with open(bitmap_run / "metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["val/loss"]]
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    for r in rows:
        for key in LIVE_KEYS:
            assert 0 <= float(r[key]) <= 1, (key, r[key])


def test_ablation_animation_has_one_frame_per_epoch(bitmap_run):
    assert [p.name for p in sorted((bitmap_run / "grids").glob("ablation_map_epoch_*.png"))] == [
        "ablation_map_epoch_001.png", "ablation_map_epoch_002.png"]
    with Image.open(bitmap_run / "animations" / "ablation.gif") as gif:
        assert gif.n_frames == 2 and gif.info.get("loop") == 0


def test_viz_psnr_curve_and_viz_all(bitmap_run):
    result = invoke("viz", "psnr-curve", bitmap_run)
    assert result.exit_code == 0, result.output
    assert_picture(bitmap_run / "reports" / "psnr_curve.png", (400, 300))
    (bitmap_run / "reports" / "psnr_curve.png").unlink()
    result = invoke("viz", "all", bitmap_run)
    assert result.exit_code == 0, result.output
    assert "reports/psnr_curve.png" in result.output and "grids/ablation_map_test.png" in result.output
    assert_picture(bitmap_run / "reports" / "psnr_curve.png", (400, 300))


def test_report_shows_the_psnr_curve_and_the_ablation_animation(bitmap_run):
    (bitmap_run / "reports" / "psnr_curve.png").unlink(missing_ok=True)
    result = invoke("report", bitmap_run)
    assert result.exit_code == 0, result.output
    page = (bitmap_run / "reports" / "index.html").read_text()
    assert "PSNR against the noise level" in page and "Ablation animation" in page
    assert_picture(bitmap_run / "reports" / "psnr_curve.png")


def test_compare_models_draws_every_run_on_one_psnr_plot(bitmap_run, tmp_path):
    other = train(tmp_path / "gaussian", *TINY, "viz.enabled=false")
    result = invoke("compare", "models", bitmap_run, other, "--output", tmp_path / "compare")
    assert result.exit_code == 0, result.output
    assert "psnr_vs_sigma.png" in result.output
    assert_picture(tmp_path / "compare" / "psnr_vs_sigma.png", (400, 300))
    rows = json.loads((tmp_path / "compare" / "models.json").read_text())
    assert [r["run"] for r in rows[:2]] == [bitmap_run.name, other.name]  # then the baselines, once per set of digits
    assert {r["run"] for r in rows[2:]} == {f"baseline: {bitmap_run.name}", f"baseline: {other.name}"}


# ---------------------------------------------------------------- operating points (eval.operating_point)

POINTS = ("eval.operating_point={loose: {maximize: recall, subject_to: {precision: 0.2}, levels: [0.1, 0.5]}, "
          "strict: {maximize: ablation_efficiency, subject_to: {recall: 0.1}}}")


def test_eval_reports_visible_recall_and_hidden_ink_for_additive_noise(bitmap_run):
    rows = json.loads((bitmap_run / "eval" / "eval.json").read_text())
    additive = [r for r in rows if r["noise"] in ("add_mixed", "add_pixels")]
    assert additive and all(0 <= r["recall_visible"] <= 1 and 0 <= r["hidden_ink"] < 1 for r in additive)
    noisy_in = {(r["noise"], r["sigma"]): r for r in additive if r["method"] == "identity"}
    assert all(r["recall"] == 1 and r["recall_visible"] == 1 for r in noisy_in.values())  # the input keeps all ink
    # the same draws for every method: the hidden share is a property of the noise
    for r in additive:
        assert r["hidden_ink"] == noisy_in[(r["noise"], r["sigma"])]["hidden_ink"]
    assert max(r["hidden_ink"] for r in additive if r["sigma"] == 1.0) > 0
    assert all(r["threshold"] == 0.5 for r in rows)


def test_the_chosen_threshold_round_trips_through_eval_the_api_and_onnx(bitmap_run, tmp_path):
    import torch

    import mnistmax
    from mnistmax.eval.operating import select_points
    from mnistmax.export import export_run, run_onnx
    from mnistmax.runs import load_run

    result = invoke("eval", bitmap_run, POINTS, "--tag", "points")
    assert result.exit_code == 0, result.output
    assert "operating point loose (max recall s.t. precision >= 0.2" in result.output
    loaded = load_run(bitmap_run).with_overrides([POINTS])
    chosen = select_points(loaded.cfg, loaded.task.reconstruct, loaded.splits.val[0])
    assert [p["point"] for p in chosen] == ["loose", "strict"]
    rows = json.loads((bitmap_run / "eval" / "eval-points.json").read_text())
    for p, method in zip(chosen, ["ablation_unet_dae", "ablation_unet_dae @strict"]):
        mine = [r for r in rows if r["method"] == method]
        assert mine and {r["threshold"] for r in mine} == {p["threshold"]}
        assert {r["point"] for r in mine} == {p["point"]}
    # the run under the rule: the threshold export uses; the API cuts a run at its own config's rule
    # (this one has none: eval.threshold), whatever an eval under another rule chose
    t = chosen[0]["threshold"]
    model = mnistmax.load(bitmap_run)
    assert model.threshold == loaded.trained_cfg.eval.threshold == 0.5 != t
    model.threshold = t
    x = torch.maximum(loaded.test_images[:12, None].float().div(255).ge(0.5).float(),
                      (torch.rand(12, 1, 28, 28, generator=torch.Generator().manual_seed(0)) > 0.9).float())
    out = model.denoise(x)
    assert set(out.unique().tolist()) <= {0.0, 1.0} and torch.equal(out, (loaded.task.reconstruct(x) > t).float())
    model.threshold = None
    assert not torch.equal(model.denoise(x), out)  # the raw output
    meta = json.loads(export_run(loaded, "onnx", out_dir=tmp_path / "onnx", echo=lambda *_: None).read_text())
    assert meta["threshold"] == t and meta["files"]["model.onnx"]["max_abs_diff_vs_pytorch"] == 0
    assert torch.equal(run_onnx(tmp_path / "onnx" / "model.onnx", x), out)
    export_run(loaded, "safetensors", out_dir=tmp_path / "st", echo=lambda *_: None)
    assert mnistmax.load(tmp_path / "st").threshold == t


def test_viz_operating_points(bitmap_run):
    result = invoke("viz", "operating-points", bitmap_run, "--levels", "0.5")
    assert result.exit_code == 0, result.output
    assert_picture(bitmap_run / "reports" / "operating_points.png", (600, 300))
    table = json.loads((bitmap_run / "reports" / "operating_points.json").read_text())
    assert [p["level"] for p in table["points"]] == [0.5] and set(table["sweeps"]) == {"validation", "test"}
    assert len(table["sweeps"]["test"]["0.5"]) == 99
    bad = invoke("viz", "operating-points", bitmap_run, "--levels", "0.5,2")
    assert bad.exit_code == 2 and "--levels" in bad.output


def test_viz_operating_points_on_a_grey_level_run_says_why_not(tmp_path):
    from mnistmax.tasks import build_task
    from tests.helpers import fake_run, tiny_config

    cfg = tiny_config()
    run = fake_run(tmp_path, {"state_dict": build_task(cfg).state_dict()}, cfg=cfg)
    result = invoke("viz", "operating-points", run)
    assert result.exit_code == 1 and "data.binarize" in result.output
