"""The live view: reports/curves_latest.png redrawn every viz.every_n_steps steps and every epoch
from the numbers kept in memory (off the training thread, drained at the end), only when the task
draws while training and viz.enabled; and the epoch line's `* new best` mark."""

from __future__ import annotations

import hashlib
import threading
from types import SimpleNamespace

import pytest
import torch

import mnistmax.training.trainer as trainer_module
from mnistmax.errors import WriteError
from mnistmax.tasks import load_config
from mnistmax.training import train
from mnistmax.training.callbacks.curves import BackgroundDrawer, LiveCurves
from mnistmax.training.callbacks.progress import EpochSummary
from mnistmax.training.trainer import build_callbacks
from tests.helpers import ROOT, TINY_ANY, assert_picture, tiny_config


class CountedCurves(LiveCurves):
    """Draws in the training thread, unthrottled, and remembers what the file held after each draw."""

    made: list[CountedCurves] = []

    def __init__(self, cfg, run_dir):
        super().__init__(cfg, run_dir, background=False, max_share=1.0)
        self.seen: list[tuple[int, int, str]] = []  # (epoch, global step, sha1 of the file)
        CountedCurves.made.append(self)

    def _request(self):
        super()._request()
        epoch, step = self.at
        self.seen.append((epoch, step, hashlib.sha1(self.path.read_bytes()).hexdigest()))

    def on_train_end(self, trainer, pl_module):
        super().on_train_end(trainer, pl_module)
        self.steps = trainer.global_step


def test_a_tiny_run_redraws_the_curves_every_n_steps_and_every_epoch(tmp_path, monkeypatch):
    CountedCurves.made.clear()
    monkeypatch.setattr(trainer_module, "LiveCurves", CountedCurves)
    lines: list[str] = []
    result = train(tiny_config("train.epochs=2", "viz.every_n_steps=4", "viz.panel_sigmas=[0.5]",
                               f"logging.output_dir={tmp_path}"), echo=lines.append)
    (curves,) = CountedCurves.made
    assert result.epochs_completed == 2 and curves.steps >= 8
    assert curves.draws == curves.steps // 4 + 2  # every 4th step, and each epoch's end
    first_epoch = {sha for epoch, _, sha in curves.seen if epoch == 1}
    assert len(first_epoch) >= 2  # redrawn within the first epoch, not only at its end
    between = [x for x, _ in curves.history["train/loss"] if x != int(x)]
    assert between and len(curves.history["val/loss"]) == 2  # steps between epochs; val/loss once an epoch
    latest = result.run_dir / "reports" / "curves_latest.png"
    assert_picture(latest)
    assert hashlib.sha1(latest.read_bytes()).hexdigest() == curves.seen[-1][2]
    assert not list(latest.parent.glob("*.tmp"))  # written atomically


def test_in_the_background_the_last_picture_is_complete_when_train_returns(tmp_path):
    result = train(tiny_config("train.epochs=1", "viz.every_n_steps=2", "viz.panel_sigmas=[0.5]",
                               "logging.progress=none", f"logging.output_dir={tmp_path}"), echo=lambda line: None)
    assert_picture(result.run_dir / "reports" / "curves_latest.png")
    assert not [t for t in threading.enumerate() if t.name == "mnistmax-live-curves"]  # the drawer has stopped


def fake_trainer(**kw):
    return SimpleNamespace(**{"global_step": 0, "current_epoch": 0, "num_training_batches": 10, "max_epochs": 1,
                              "callback_metrics": {}, "should_stop": False, **kw})


def test_background_drawing_skips_steps_while_busy_and_is_drained_at_the_end(tmp_path):
    curves = LiveCurves(tiny_config("viz.every_n_steps=1"), tmp_path / "run")
    drawing, gate, real = threading.Event(), threading.Event(), curves._draw
    curves.drawer._draw = lambda item: (drawing.set(), gate.wait(10), real(item))
    module, trainer = SimpleNamespace(train_loss_so_far=lambda: torch.tensor(0.5)), fake_trainer()
    for step in range(10):
        trainer.global_step = step + 1
        curves.on_train_batch_end(trainer, module, None, None, step)
        assert drawing.wait(10)  # the first step's picture is being drawn (held at the gate)
    assert curves.draws == 0 and len(curves.history["train/loss"]) == 10  # the other steps' redraws were skipped
    trainer.callback_metrics = {"train/loss": torch.tensor(0.4), "val/loss": torch.tensor(0.45)}
    curves.on_train_epoch_end(trainer, module)  # an epoch's picture is never skipped: it waits its turn
    gate.set()
    curves.on_train_end(trainer, module)
    assert curves.draws == 2
    assert_picture(tmp_path / "run" / "reports" / "curves_latest.png")


def test_a_failed_draw_is_raised_on_the_training_thread(tmp_path):
    def refuse(item):
        raise WriteError(tmp_path / "curves_latest.png", OSError(28, "No space left on device"))

    drawer = BackgroundDrawer(refuse)
    drawer.submit(1)
    with pytest.raises(WriteError, match="No space left on device"):
        drawer.wait()
    drawer.close()


def test_the_live_curves_follow_viz_enabled_and_the_task(tmp_path):
    def live(cfg):
        return [c for c in build_callbacks(cfg, tmp_path) if isinstance(c, LiveCurves)]

    assert len(live(tiny_config())) == 1
    assert live(tiny_config("viz.enabled=false")) == []
    assert live(load_config(ROOT / "configs/models/classifier.yaml", TINY_ANY)) == []  # it draws nothing while training


def epoch_lines(scores: list[dict[str, float]]) -> list[str]:
    lines: list[str] = []
    summary = EpochSummary(lines.append)
    for epoch, metrics in enumerate(scores):
        trainer = fake_trainer(current_epoch=epoch, max_epochs=len(scores),
                               callback_metrics={k: torch.tensor(v) for k, v in metrics.items()})
        summary.on_train_epoch_end(trainer, None)
    return lines


def test_the_epoch_line_marks_a_new_best_only_when_validation_improves():
    lines = epoch_lines([{"val/loss": 0.3, "val/psnr": p} for p in (14.0, 16.0, 15.0, 16.0, 17.5)])
    assert [line.endswith("* new best val/psnr") for line in lines] == [False, True, False, False, True]
    lines = epoch_lines([{"val/loss": v} for v in (0.5, 0.4, 0.45, 0.39)])  # no PSNR: the lowest val/loss
    assert [line.endswith("* new best val/loss") for line in lines] == [False, True, False, True]
    assert not any("new best" in line for line in epoch_lines([{"train/loss": 0.5}, {"train/loss": 0.4}]))
