"""noise.schedule: the training level range at epoch e, the levels drawn inside it, the
range in metrics.csv every epoch, and bad schedules refused naming the key."""

import csv

import pytest
import torch

import mnistmax.training as training
from mnistmax.data.datamodule import noisy_batch
from mnistmax.data.noise import curriculum_range, sample_levels
from mnistmax.data.sources import load_embedded
from mnistmax.errors import ConfigError
from tests.helpers import tiny_config


@pytest.mark.parametrize("epoch, expected", [(0, (0.0, 0.2)), (2, (0.0, 0.36)), (5, (0.0, 0.6)), (10, (0.0, 1.0)),
                                             (15, (0.0, 1.0))])
def test_linear_range_at_epoch(epoch, expected):
    # 20 planned epochs, ramp 0.5: the upper end moves 0.08 an epoch and arrives at epoch 10
    got = curriculum_range((0.0, 0.2), (0.0, 1.0), epoch, 20, "linear", 0.5)
    assert got == pytest.approx(expected)


@pytest.mark.parametrize("epoch, high", [(0, 0.2), (3, 0.2), (4, 0.4), (7, 0.4), (8, 0.6), (11, 0.6), (12, 0.8),
                                         (40, 0.8)])
def test_step_range_jumps_in_equal_steps(epoch, high):
    # 12 planned epochs, ramp 1.0, 3 steps: a jump of 0.2 every 4 epochs, the final range from epoch 12
    assert curriculum_range((0.1, 0.2), (0.1, 0.8), epoch, 12, "step", 1.0, steps=3) == pytest.approx((0.1, high))


def test_levels_are_drawn_inside_the_current_range():
    g = torch.Generator().manual_seed(0)
    levels = sample_levels(4000, level_range=(0.0, 1.0), generator=g, within=(0.1, 0.3))
    assert levels.min() >= 0.1 and levels.max() <= 0.3 and levels.max() > 0.29
    choices = sample_levels(4000, [0.1, 0.3, 0.5, 0.7, 0.9], generator=g, within=(0.0, 0.4))
    assert sorted({round(c, 6) for c in choices.tolist()}) == [0.1, 0.3]
    nearest = sample_levels(100, [0.5, 0.9], generator=g, within=(0.0, 0.2))  # no choice inside: the nearest one
    assert set(nearest.tolist()) == {0.5}


def test_training_batches_follow_the_schedule_and_validation_does_not():
    images = load_embedded().train_images[:64]
    cfg = tiny_config("noise.train_sigma_range=[0.0, 1.0]", "noise.schedule={start: [0.0, 0.1]}")
    g = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    train = noisy_batch(images, torch.zeros(64), cfg, g(), training=True, within=(0.0, 0.1))
    assert train["sigma"].max() <= 0.1
    val = noisy_batch(images, torch.zeros(64), cfg, g(), training=False)
    assert val["sigma"].max() > 0.5


@pytest.mark.parametrize("schedule, key", [
    ("{start: [0.5, 0.2]}", "noise.schedule.start"),
    ("{start: [0.0, 0.3], mode: cosine}", "noise.schedule.mode"),
    ("{start: [0.0, 0.3], ramp: 0}", "noise.schedule.ramp"),
    ("{start: [0.0, 0.3], shape: linear}", "noise.schedule.shape"),
    ("{start: [0.0, 0.9]}", "schedule.start"),  # outside the final range [0.1, 0.5]
])
def test_bad_schedule_is_refused_naming_the_key(schedule, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        tiny_config("noise.train_sigma_range=[0.1, 0.5]", f"noise.schedule={schedule}")


def test_steps_without_step_mode_is_refused():
    with pytest.raises(ConfigError, match="noise.schedule.steps"):
        tiny_config("noise.schedule={start: [0.0, 0.3], steps: 3}")


def test_the_range_is_logged_every_epoch(tmp_path):
    cfg = tiny_config("train.epochs=4", "viz.enabled=false", "logging.progress=none",
                      f"logging.output_dir={tmp_path}", "noise.train_sigma_range=[0.0, 0.8]",
                      "noise.schedule={mode: step, start: [0.0, 0.2], ramp: 1.0, steps: 2}")
    run_dir = training.train(cfg, echo=lambda m: None).run_dir
    rows = [r for r in csv.DictReader(open(run_dir / "metrics.csv")) if r.get("noise/level_high")]
    highs = [float(r["noise/level_high"]) for r in rows]
    assert highs == pytest.approx([0.2, 0.2, 0.5, 0.5])
    assert all(float(r["noise/level_low"]) == 0.0 for r in rows)
