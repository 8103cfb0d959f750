"""PSNR-vs-σ figures from hand-made rows, without training anything."""

from mnistmax.analysis.compare import psnr_rows
from mnistmax.viz.psnr_figures import psnr_series, psnr_vs_sigma
from tests.helpers import assert_picture


def eval_rows():
    """Rows shaped like eval/eval.json's, σ out of order, two noise kinds."""
    rows = []
    for kind in ("add_mixed", "add_pixels"):
        for sigma in (0.5, 0.1, 1.0):
            for method, gain in (("ablation_unet_dae", 12.0), ("identity", 0.0), ("median_filter", 4.0)):
                rows.append({"method": method, "noise": kind, "sigma": sigma, "n": 40, "psnr": 30 - 10 * sigma + gain})
    return rows


def test_psnr_series_groups_by_kind_and_method_and_sorts_by_sigma():
    series = psnr_series(eval_rows())
    assert list(series) == ["add_mixed", "add_pixels"]
    assert list(series["add_mixed"]) == ["ablation_unet_dae", "identity", "median_filter"]
    assert series["add_pixels"]["identity"] == [(0.1, 29.0), (0.5, 25.0), (1.0, 20.0)]


def test_psnr_vs_sigma_draws_a_panel_per_kind(tmp_path):
    path = psnr_vs_sigma(eval_rows(), tmp_path / "curve.png", "hand-made rows", baselines={"median_filter"})
    assert_picture(path, (600, 250))
    one = psnr_vs_sigma([r for r in eval_rows() if r["noise"] == "add_mixed"], tmp_path / "one.png")
    assert_picture(one, (300, 250))


def test_compare_rows_one_line_per_run_and_identity_once():
    compared = [{"run": "a", "model": "unet_dae", "psnr@0.1": 30.0, "ssim@0.1": 0.9, "psnr@0.5": 22.0},
                {"run": "b", "model": "conv_dae", "psnr@0.1": 28.0, "ssim@0.1": 0.8, "psnr@0.5": 23.5}]
    rows = psnr_rows(compared, {0.1: 20.0, 0.5: 6.0})
    series = psnr_series(rows)["gaussian"]
    assert series == {"a": [(0.1, 30.0), (0.5, 22.0)], "b": [(0.1, 28.0), (0.5, 23.5)],
                      "identity": [(0.1, 20.0), (0.5, 6.0)]}
