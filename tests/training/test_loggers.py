"""Loggers: CSV always, TensorBoard and MLflow when asked for; a missing package refused before the run exists."""

import pytest

import mnistmax
from mnistmax.errors import MissingExtraError
from tests.helpers import TINY, hide_module


def test_tensorboard_logs_the_training_curves(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = mnistmax.train("quick", TINY, logging={"output_dir": str(tmp_path), "tensorboard": True},
                         echo=lambda m: None)
    events = EventAccumulator(str(run.run_dir / "tensorboard")).Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "val/loss"} <= tags, tags
    assert len(events.Scalars("val/loss")) == 2  # one per epoch
    assert (run.run_dir / "metrics.csv").is_file()  # the CSV logger is still there


def test_tensorboard_missing_is_one_line_before_a_run_directory(tmp_path, monkeypatch):
    hide_module(monkeypatch, "tensorboard")
    with pytest.raises(MissingExtraError, match=r"logging.tensorboard needs tensorboard.*pip install -e "
                       r"'\.\[tensorboard\]'"):
        mnistmax.train("quick", TINY, logging={"output_dir": str(tmp_path), "tensorboard": True})
    assert not (tmp_path / "runs").exists()
