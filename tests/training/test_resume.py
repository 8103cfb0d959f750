"""Interrupt a run after its first epoch, resume it, and get the uninterrupted run's weights."""

import json

import lightning as L
import pytest
import torch

import mnistmax.training as training
from mnistmax.tasks import load_config
from tests.helpers import TINY


class InterruptAtEpoch(L.Callback):
    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch:
            raise KeyboardInterrupt


def tiny(tmp_path, name, *extra):
    return load_config("configs/quick.yaml", [*TINY, "train.epochs=3", "viz.enabled=false", "logging.progress=none",
                                              f"logging.output_dir={tmp_path / name}", *extra])


def weights(run_dir):
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


CURRICULUM = "noise.schedule={mode: linear, start: [0.0, 0.2], ramp: 1.0}"


@pytest.mark.parametrize("extra", [(), (CURRICULUM,)], ids=["plain", "curriculum"])
def test_resumed_run_matches_an_uninterrupted_one(tmp_path, extra):
    straight = training.train(tiny(tmp_path, "a", *extra), echo=lambda m: None).run_dir

    with pytest.raises(KeyboardInterrupt):
        training.train(tiny(tmp_path, "b", *extra), callbacks=[InterruptAtEpoch(2)], echo=lambda m: None)
    run_dir = next((tmp_path / "b" / "runs").iterdir())
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "interrupted"
    assert (run_dir / "checkpoints" / "interrupted.ckpt").is_file()

    resumed = training.train(load_config(run_dir / "config.yaml"), echo=lambda m: None, resume_dir=run_dir).run_dir
    assert resumed == run_dir and json.loads((run_dir / "meta.json").read_text())["status"] == "completed"
    a, b = weights(straight), weights(resumed)
    assert a.keys() == b.keys()
    for key in a:  # bit-identical on the CPU: same seed, batch-seeded noise, restored optimizer/scheduler/EMA
        assert torch.equal(a[key], b[key]), key


def test_resume_needs_a_checkpoint(tmp_path):
    from mnistmax.errors import RunError

    cfg = tiny(tmp_path, "c")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunError, match="nothing to resume"):
        training.train(cfg, echo=lambda m: None, resume_dir=tmp_path / "empty")
