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
    assert len(json.loads((tmp_path / "compare" / "models.json").read_text())) == 2
