"""The denoise task's live bitmap scores: val/precision, val/recall, val/specificity and
val/ablation_efficiency pooled over a whole validation epoch (all batches, all processes)."""

import torch

from mnistmax.eval.metrics import binary_count_tensor, summed_binary_scores
from mnistmax.tasks import build_task
from tests.eval.test_metrics_bitmap import CLEAN, NOISY, OUTPUT, OUTPUT_B
from tests.helpers import tiny_config

BITMAP = ["data.binarize=true", "noise.kind=add_mixed", "model={name: ablation_unet_dae, base_ch: 4}",
          "train.loss=precision_bce"]


def test_epoch_end_logs_the_ratios_of_counts_summed_over_batches_and_processes():
    task = build_task(tiny_config(*BITMAP))
    task.on_validation_epoch_start()
    for output in (OUTPUT, OUTPUT_B):  # two validation batches
        task._add_bitmap_counts(output, {"noisy": NOISY, "clean": CLEAN})
    other = binary_count_tensor(CLEAN, NOISY, CLEAN)  # a second process: a perfect batch
    task.all_gather = lambda counts: torch.stack([counts, other])
    logged = {}
    task.log = lambda key, value, **kwargs: logged.__setitem__(key, value)
    task.on_validation_epoch_end()
    # tp 3+1+4, fp 1+0+0, fn 1+3+0, tn 11+12+12; noise removed 3+4+4 of 4+4+4
    assert logged == {"val/precision": 8 / 9, "val/recall": 8 / 12, "val/specificity": 35 / 36,
                      "val/ablation_efficiency": 11 / 12}
    per_batch_mean = (3 / 4 + 1 / 1 + 4 / 4) / 3
    assert logged["val/precision"] != per_batch_mean
    assert task._val_counts is None  # the next epoch starts from zero


def test_model_step_counts_validation_batches_only_and_only_for_bitmaps():
    batch = {"noisy": NOISY.expand(2, 1, 4, 4).clone(), "clean": CLEAN.expand(2, 1, 4, 4).clone()}
    batch = {k: torch.nn.functional.interpolate(v, size=28) for k, v in batch.items()}
    task = build_task(tiny_config(*BITMAP))
    task.on_validation_epoch_start()
    task.model_step(batch, "train")
    assert task._val_counts.sum() == 0
    with torch.no_grad():
        task.model_step(batch, "val")
        expected = binary_count_tensor(task.net(batch["noisy"]), batch["noisy"], batch["clean"])
    assert task._val_counts.tolist() == expected.tolist()
    assert summed_binary_scores(task._val_counts)["specificity"] <= 1

    gaussian = build_task(tiny_config())
    gaussian.on_validation_epoch_start()
    gaussian.model_step(batch, "val")
    assert gaussian._val_counts is None
    gaussian.on_validation_epoch_end()  # logs nothing (no trainer needed)
