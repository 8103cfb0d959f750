"""Bitmap and ablation scores on hand-made 4x4 images, checked against hand counts."""

import math

import torch

from mnistmax.eval.metrics import COUNT_KEYS, binary_count_tensor, binary_counts, binary_scores, summed_binary_scores
from mnistmax.losses import combined_loss, dice_loss, false_positive_penalty, precision_bce_loss, weighted_bce_loss


def img(rows):
    return torch.tensor(rows, dtype=torch.float32).view(1, 1, 4, 4)


CLEAN = img([[0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]])  # 4 ink pixels
NOISY = img([[1, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 1], [1, 1, 0, 0]])  # + 4 noise pixels
OUTPUT = img([[0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]])  # 1 ink lost, 1 noise kept


def test_counts_by_hand():
    c = binary_counts(OUTPUT, NOISY, CLEAN)
    assert c == {"tp": 3, "fp": 1, "fn": 1, "tn": 11, "noise": 4, "noise_removed": 3, "signal": 4, "signal_kept": 3}


def test_scores_by_hand():
    s = binary_scores(binary_counts(OUTPUT, NOISY, CLEAN), n_images=1)
    assert s["accuracy"] == 14 / 16
    assert s["precision"] == 3 / 4 and s["recall"] == 3 / 4
    assert s["dice"] == 6 / 8 and s["iou"] == 3 / 5
    assert s["hamming"] == 2
    assert s["specificity"] == 11 / 12 and s["fpr"] == 1 / 12
    assert s["ablation_efficiency"] == 3 / 4 and s["pixel_conservation"] == 3 / 4


def test_perfect_output_and_empty_denominators():
    s = binary_scores(binary_counts(CLEAN, NOISY, CLEAN), 1)
    assert s["precision"] == s["recall"] == s["ablation_efficiency"] == s["dice"] == 1.0 and s["hamming"] == 0
    s = binary_scores(binary_counts(CLEAN, CLEAN, CLEAN), 1)  # no noise added
    assert math.isnan(s["ablation_efficiency"])


def test_bitmap_losses():
    assert dice_loss(CLEAN, CLEAN).item() < 0.05 and dice_loss(1 - CLEAN, CLEAN).item() > 0.9
    assert false_positive_penalty(CLEAN, CLEAN) == 0 and false_positive_penalty(NOISY, CLEAN) == 4 / 16
    fp = CLEAN.clone()
    fp[0, 0, 3, 3] = 0.9  # one false positive
    fn = CLEAN.clone()
    fn[0, 0, 0, 1] = 0.1  # one missed ink pixel, equally wrong
    assert precision_bce_loss(fp, CLEAN) > 2 * precision_bce_loss(fn, CLEAN)
    assert weighted_bce_loss(fn, CLEAN) > weighted_bce_loss(fp, CLEAN)
    assert combined_loss(fp, CLEAN) > combined_loss(CLEAN, CLEAN)


# ---------------------------------------------------------------- epoch scores from summed counts

OUTPUT_B = img([[0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])  # 1 ink kept, no noise left


def test_count_tensor_is_binary_counts_in_key_order():
    assert binary_count_tensor(OUTPUT, NOISY, CLEAN).tolist() == list(binary_counts(OUTPUT, NOISY, CLEAN).values())
    torch.manual_seed(0)
    out, noisy, clean = torch.rand(3, 5, 1, 28, 28)
    counts = binary_count_tensor(out, noisy, clean, threshold=0.3)
    assert counts.dtype == torch.int64
    assert counts.tolist() == [binary_counts(out, noisy, clean, 0.3)[k] for k in COUNT_KEYS]


def test_epoch_scores_are_ratios_of_summed_counts_not_means_of_batch_ratios():
    batches = torch.stack([binary_count_tensor(OUTPUT, NOISY, CLEAN), binary_count_tensor(OUTPUT_B, NOISY, CLEAN)])
    pooled = summed_binary_scores(batches, n_images=2)
    # batch 1: tp 3, fp 1, tn 11, noise removed 3 of 4; batch 2: tp 1, fp 0, tn 12, noise removed 4 of 4
    assert pooled["precision"] == 4 / 5 and pooled["recall"] == 4 / 8
    assert pooled["specificity"] == 23 / 24 and pooled["ablation_efficiency"] == 7 / 8
    per_batch = [binary_scores(binary_counts(o, NOISY, CLEAN), 1) for o in (OUTPUT, OUTPUT_B)]
    assert (per_batch[0]["precision"] + per_batch[1]["precision"]) / 2 == 7 / 8 != pooled["precision"]
    # processes x batches (what all_gather returns) pool the same way
    assert summed_binary_scores(torch.stack([batches, batches]), 4)["precision"] == 4 / 5
