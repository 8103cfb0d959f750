"""Operating points: counts at every threshold, recall_visible / hidden_ink on hand-made 4x4
images, and the threshold each kind of rule picks from a hand-made score table."""

import math

import pytest
import torch

from mnistmax.errors import ConfigError
from mnistmax.eval.operating import SWEEP_KEYS, choose_threshold, point_scores, sweep_counts, sweep_scores
from mnistmax.tasks import load_config
from tests.helpers import ROOT, TINY


def img(rows):
    return torch.tensor(rows, dtype=torch.float32).view(1, 1, 4, 4)


# clean ink: 4 pixels (the left column); the noise adds a bar across row 0 (hiding clean (0,0))
# and a speck at (3,3); the output keeps ink with confidences per pixel
CLEAN = img([[1, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]])
ADDED = img([[1, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]])
NOISY = torch.maximum(CLEAN, ADDED)
OUTPUT = img([[0.6, 0.7, 0.2, 0], [0.9, 0, 0, 0], [0.4, 0, 0, 0], [0.8, 0, 0, 0.3]])


def counts_at(t, added=ADDED):
    row = sweep_counts(OUTPUT, NOISY, CLEAN, added, torch.tensor([t]))[0]
    return dict(zip(SWEEP_KEYS, row.tolist()))


def test_counts_and_visible_recall_on_a_hand_made_image():
    c = counts_at(0.5)  # kept: (0,0) .6, (0,1) .7, (1,0) .9, (3,0) .8
    assert (c["tp"], c["fp"], c["fn"], c["tn"]) == (3, 1, 1, 11)
    assert (c["noise"], c["noise_removed"]) == (3, 2)  # added ink off the digit: (0,1) kept, (0,2) (3,3) removed
    assert (c["hidden"], c["visible"], c["visible_kept"]) == (1, 3, 2)  # (0,0) is under the bar
    s = point_scores(c, 1)
    assert s["recall"] == pytest.approx(3 / 4) and s["recall_visible"] == pytest.approx(2 / 3)
    assert s["hidden_ink"] == pytest.approx(1 / 4) and s["precision"] == pytest.approx(3 / 4)
    assert s["ablation_efficiency"] == pytest.approx(2 / 3) and s["specificity"] == pytest.approx(11 / 12)
    assert s["f_beta"] == pytest.approx(0.75)


def test_a_lower_threshold_keeps_more_and_counts_match_one_threshold_at_a_time():
    thresholds = torch.tensor([0.1, 0.35, 0.5, 0.65, 0.85])
    table = sweep_counts(OUTPUT, NOISY, CLEAN, ADDED, thresholds)
    for t, row in zip(thresholds.tolist(), table):
        kept = OUTPUT > t
        assert row[SWEEP_KEYS.index("tp")] == int((kept & (CLEAN > 0.5)).sum())
        assert row[SWEEP_KEYS.index("fp")] == int((kept & (CLEAN < 0.5)).sum())
    tp = table[:, SWEEP_KEYS.index("tp")]
    assert bool((tp[:-1] >= tp[1:]).all())
    assert counts_at(0.35)["visible_kept"] == 3  # (1,0) (2,0) (3,0)


def test_without_the_added_ink_mask_the_visible_scores_are_undefined():
    s = point_scores(counts_at(0.5, added=None), 1)
    assert math.isnan(s["recall_visible"]) and math.isnan(s["hidden_ink"]) and s["recall"] == pytest.approx(0.75)


def table(values):
    """{score: [per-threshold values]} -> sweep rows at thresholds 0.2, 0.4, 0.6, 0.8."""
    ts = (0.2, 0.4, 0.6, 0.8)
    return [{"threshold": t, **{k: v[i] for k, v in values.items()}} for i, t in enumerate(ts)]


# two noise levels; recall falls and precision / efficiency rise with the threshold
LOW = table({"recall": [0.995, 0.99, 0.985, 0.95], "precision": [0.95, 0.97, 0.99, 0.995],
             "ablation_efficiency": [0.90, 0.95, 0.98, 0.99], "f_beta": [0.97, 0.98, 0.987, 0.972]})
HIGH = table({"recall": [0.99, 0.987, 0.97, 0.93], "precision": [0.93, 0.96, 0.985, 0.992],
              "ablation_efficiency": [0.85, 0.93, 0.97, 0.99], "f_beta": [0.959, 0.973, 0.977, 0.96]})


def test_maximize_efficiency_subject_to_recall_at_every_level():
    got = choose_threshold([LOW, HIGH], "ablation_efficiency", {"recall": 0.986})
    assert got["threshold"] == 0.4 and got["met"]  # 0.6 meets it at LOW only
    assert got["objective"] == pytest.approx((0.95 + 0.93) / 2)
    assert choose_threshold([LOW], "ablation_efficiency", {"recall": 0.985})["threshold"] == 0.6


def test_maximize_recall_subject_to_precision_and_efficiency():
    got = choose_threshold([LOW, HIGH], "recall", {"precision": 0.98, "ablation_efficiency": 0.97})
    assert got["threshold"] == 0.6 and got["met"]


def test_f_beta_without_minimums_takes_the_best_mean():
    assert choose_threshold([LOW, HIGH], "f_beta", {})["threshold"] == 0.6


def test_no_threshold_meets_the_rule_takes_the_least_shortfall_and_says_so():
    got = choose_threshold([LOW, HIGH], "ablation_efficiency", {"recall": 0.99, "precision": 0.96})
    assert not got["met"]
    # 0.2: precision misses by .03 at HIGH; 0.4: recall misses by .003; 0.6: by .02
    assert got["threshold"] == 0.4 and got["shortfall"] == pytest.approx(-0.003)


def test_a_score_undefined_at_a_whole_level_does_not_bind_there_but_one_undefined_at_a_threshold_fails():
    clean_level = table({"recall": [0.999, 0.998, 0.997, 0.99], "precision": [0.99] * 4,
                         "ablation_efficiency": [math.nan] * 4, "f_beta": [0.99] * 4})
    got = choose_threshold([LOW, clean_level], "ablation_efficiency", {"recall": 0.986})
    assert got["threshold"] == 0.4 and got["objective"] == pytest.approx(0.95)  # LOW alone: 0.6 misses .986
    holes = table({"recall": [0.99, 0.99, 0.99, 0.0], "precision": [0.9, 0.95, 0.97, math.nan],
                   "ablation_efficiency": [0.9, 0.95, 0.97, 1.0], "f_beta": [0.9] * 4})
    assert choose_threshold([holes], "ablation_efficiency", {"precision": 0.9})["threshold"] == 0.6


def test_sweep_scores_rows_carry_their_threshold():
    rows = sweep_scores(sweep_counts(OUTPUT, NOISY, CLEAN, ADDED, torch.tensor([0.25, 0.5])), [0.25, 0.5], 1)
    assert [r["threshold"] for r in rows] == [0.25, 0.5] and rows[0]["recall"] >= rows[1]["recall"]


# ---------------------------------------------------------------- the config

BITMAP = [*TINY, "data.binarize=true", "noise.kind=add_mixed", "model.name=ablation_unet_dae"]


def test_one_rule_is_the_point_named_main_and_a_mapping_keeps_its_names():
    cfg = load_config(ROOT / "configs" / "quick.yaml",
                      [*BITMAP, "eval.operating_point={maximize: ablation_efficiency, subject_to: {recall: 0.986}}"])
    assert list(cfg.eval.operating_point) == ["main"]
    assert cfg.eval.operating_point["main"].subject_to == {"recall": 0.986}
    cfg = load_config(ROOT / "configs" / "quick.yaml",
                      [*BITMAP, "eval.operating_point={a: {maximize: recall}, b: {maximize: f_beta, beta: 0.5}}"])
    assert list(cfg.eval.operating_point) == ["a", "b"] and cfg.eval.operating_point["b"].beta == 0.5


@pytest.mark.parametrize("override, key", [
    ("eval.operating_point={maximize: ablation_efficiency, subject_to: {recal: 0.9}}", "subject_to.recal"),
    ("eval.operating_point={maximize: ablation_efficiency, subject_to: {recall: 1.5}}", "subject_to"),
    ("eval.operating_point={maximize: accuracy}", "maximize"),
    ("eval.operating_point={maximize: recall, levels: [1.5]}", "levels"),
    ("eval.operating_point={maximize: recall, noise: smudge}", "noise"),
    ("eval.threshold=1.0", "eval.threshold"),
])
def test_a_bad_rule_is_refused_naming_its_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(ROOT / "configs" / "quick.yaml", [*BITMAP, override])


def test_a_threshold_on_a_run_that_is_not_a_bitmap_is_refused():
    with pytest.raises(ConfigError, match=r"eval\.threshold.*data\.binarize"):
        load_config(ROOT / "configs" / "quick.yaml", [*TINY, "eval.threshold=0.4"])
