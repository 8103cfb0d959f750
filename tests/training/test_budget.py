"""train.max_time_minutes: the schedule is fitted to the budget, and a run that stops early
says so in meta.json, at the end of its output, in its report and in compare models."""

import json

import pytest
import torch

from mnistmax.report import build_report
from mnistmax.tasks.base import warmup_cosine
from mnistmax.training import trainer as trainer_module
from mnistmax.training.callbacks.budget import MARGIN, BudgetSchedule, epochs_that_fit
from tests.helpers import TINY, invoke

QUIET = ["viz.enabled=false", "eval.baselines=false", "noise.eval_kinds=[gaussian]"]


def test_epochs_that_fit_the_budget():
    assert epochs_that_fit(100.0, 10.0, 10.0, done=1, max_epochs=30) == 1 + int((MARGIN * 100 - 10) // 10)
    assert epochs_that_fit(1000.0, 10.0, 10.0, done=1, max_epochs=30) == 30  # the config's epochs fit
    assert epochs_that_fit(5.0, 10.0, 10.0, done=1, max_epochs=30) == 1  # over budget: nothing more
    assert epochs_that_fit(100.0, 20.0, 5.0, done=2, max_epochs=30) == 2 + int((MARGIN * 100 - 20) // 5)


def run_dir(output):
    return next((output / "runs").iterdir())


class TwentySecondEpochs(BudgetSchedule):
    """Every epoch seems to cost 20 s, so the plan does not depend on this machine's speed."""

    def __init__(self, minutes):
        super().__init__(minutes)
        self.now = 0.0
        self.clock = lambda: self.now

    def on_train_epoch_end(self, trainer, pl_module):
        self.now += 20.0
        super().on_train_epoch_end(trainer, pl_module)


def test_a_budget_cut_run_is_fitted_annealed_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(trainer_module, "BudgetSchedule", TwentySecondEpochs)
    result = invoke("train", "-c", "configs/quick.yaml", *TINY, *QUIET, "train.epochs=500",
                    "train.max_time_minutes=1", f"logging.output_dir={tmp_path}")
    assert result.exit_code == 0, result.output
    run = run_dir(tmp_path)
    meta = json.loads((run / "meta.json").read_text())
    stop = meta["stop_reason"]
    assert meta["status"] == "stopped_early" and stop["by"] == "train.max_time_minutes"
    assert stop["epochs_done"] == meta["epochs_completed"] == stop["fitted_epochs"] == 2  # 1 + (0.92 * 60 - 20) // 20
    assert stop["epochs_planned"] == meta["epochs_planned"] == 500
    line = "warning: stopped by train.max_time_minutes=1 after 2 of 500 epochs"
    assert line in result.output.replace("\n", "") and "the schedule was fitted to it and annealed" in stop["message"]

    # the schedule was laid over the epochs that fit: its last step is at the floor
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["lr_schedulers"][0]["_last_lr"][0] == pytest.approx(3e-3 * warmup_cosine(10, 0, 10))
    assert warmup_cosine(10, 0, 10) == pytest.approx(0.01)

    page = build_report(run).read_text()
    assert '<p class="warn">stopped by train.max_time_minutes=1 after 2 of 500' in page
    compared = invoke("compare", "models", run, "--output", tmp_path / "cmp")
    assert compared.exit_code == 0, compared.output
    assert json.loads((tmp_path / "cmp" / "models.json").read_text())[0]["stopped"] == "train.max_time_minutes"


def test_a_run_the_guard_cuts_before_any_plan_says_it_did_not_anneal(tmp_path):
    result = invoke("train", "-c", "configs/quick.yaml", *TINY, *QUIET, "train.epochs=50",
                    "train.max_time_minutes=0.0005", f"logging.output_dir={tmp_path}")
    assert result.exit_code == 0, result.output
    meta = json.loads((run_dir(tmp_path) / "meta.json").read_text())
    assert meta["status"] == "stopped_early" and meta["stop_reason"]["epochs_done"] <= 1  # cut inside epoch 1
    assert "the schedule had not annealed" in meta["stop_reason"]["message"]


def test_a_run_that_finishes_its_epochs_is_completed(tmp_path):
    result = invoke("train", "-c", "configs/quick.yaml", *TINY, *QUIET, "train.max_time_minutes=30",
                    f"logging.output_dir={tmp_path}")
    assert result.exit_code == 0 and "warning: stopped" not in result.output
    meta = json.loads((run_dir(tmp_path) / "meta.json").read_text())
    assert meta["status"] == "completed" and meta["stop_reason"] is None and meta["epochs_completed"] == 2
    ckpt = torch.load(run_dir(tmp_path) / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["lr_schedulers"][0]["_last_lr"][0] == pytest.approx(3e-3 * 0.01)  # full schedule, annealed
    plan = next(v for k, v in ckpt["callbacks"].items() if "BudgetSchedule" in k)
    assert plan["planned_epochs"] == 2 and plan["measured"] == 2  # stored: a resume follows the same plan
