"""Issue 9, runs that go wrong: Ctrl-C (checkpoint, meta.json, MLflow KILLED, the resume
command), a NaN or infinite loss, a kill during a file write, run directories that are never
reused, and determinism (same config and seed, same numbers)."""

import json
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import lightning as L
import pytest
import torch

import mnistmax.files as runs
import mnistmax.training as training
from mnistmax.files import load_checkpoint
from mnistmax.training import trainer as trainer_module
from tests.helpers import TINY, fake_run, invoke, one_error_line, real_checkpoint_bytes, tiny_config

QUIET = ["viz.enabled=false", "data.val_fraction=0.02"]


class AtStep(L.Callback):
    """Run `action(pl_module)` just before optimizer step `step` (6 steps per TINY epoch)."""

    def __init__(self, step: int, action):
        self.step, self.action = step, action

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            self.action(pl_module)


def add_callback(monkeypatch, callback) -> None:
    """Add `callback` to the trainer that a CLI command builds."""
    original = trainer_module.build_callbacks
    monkeypatch.setattr(trainer_module, "build_callbacks", lambda *a, **k: original(*a, **k) + [callback])


@pytest.fixture
def restore_sigint():
    previous = signal.getsignal(signal.SIGINT)  # Lightning ignores SIGINT while it shuts down
    yield
    signal.signal(signal.SIGINT, previous)


def meta(run_dir) -> dict:
    return json.loads((run_dir / "meta.json").read_text())


# ---------------------------------------------------------------- Ctrl-C


def ctrl_c(pl_module):
    raise KeyboardInterrupt


def test_ctrl_c_saves_marks_interrupted_and_kills_the_mlflow_run(tmp_path, monkeypatch, restore_sigint):
    import mlflow

    add_callback(monkeypatch, AtStep(2, ctrl_c))
    result = invoke("train", "-c", "configs/quick.yaml", *TINY, *QUIET, "logging.mlflow=true",
                    f"logging.output_dir={tmp_path}", "logging.experiment=interrupts")
    assert result.exit_code == 130, result.output
    run_dir = next((tmp_path / "runs").iterdir())
    assert f"mnistmax train --resume {run_dir}" in result.output
    assert meta(run_dir)["status"] == "interrupted"
    assert load_checkpoint(run_dir / "checkpoints" / "interrupted.ckpt")["global_step"] == 2
    assert not (run_dir / "checkpoints" / "last.ckpt").exists()  # no epoch finished

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("interrupts")
    found = client.search_runs([experiment.experiment_id], filter_string=f"tags.mlflow.runName = '{run_dir.name}'")
    assert [r.info.status for r in found] == ["KILLED"]
    assert found[0].data.tags["status"] == "interrupted" and found[0].data.tags["stop_reason"] == "interrupt"
    assert meta(run_dir)["stop_reason"]["by"] == "interrupt" and meta(run_dir)["stop_reason"]["epochs_done"] == 0


def lost_sigterm(pl_module):
    """A SIGTERM whose KeyboardInterrupt never surfaced: Lightning's own handler has set
    received_sigterm, so its loop raises SIGTERMException at the end of this batch."""
    pl_module.trainer._signal_connector.received_sigterm = True


def test_sigterm_seen_only_by_lightning_still_saves_and_marks_interrupted(tmp_path, monkeypatch):
    add_callback(monkeypatch, AtStep(3, lost_sigterm))
    result = invoke("train", "-c", "configs/quick.yaml", *TINY, *QUIET, f"logging.output_dir={tmp_path}")
    assert result.exit_code == 130, result.output
    run_dir = next((tmp_path / "runs").iterdir())
    assert meta(run_dir)["status"] == "interrupted"
    assert load_checkpoint(run_dir / "checkpoints" / "interrupted.ckpt")["global_step"] == 4
    assert f"mnistmax train --resume {run_dir}" in result.output


def test_resume_from_a_truncated_last_checkpoint_is_one_line(tmp_path):
    run = fake_run(tmp_path, real_checkpoint_bytes(tmp_path)[:1000], "last")
    result = invoke("train", "--resume", run)
    assert result.exit_code == 1
    assert "last.ckpt is truncated or corrupt" in one_error_line(result)


# ---------------------------------------------------------------- numerical faults


def nan_weight(pl_module):
    with torch.no_grad():
        next(pl_module.net.parameters()).fill_(float("nan"))


def infinite_loss(pl_module):
    pl_module._loss = lambda pred, clean: ((pred - clean).pow(2).mean() + float("inf"), {})


@pytest.mark.parametrize("poison, value", [(nan_weight, "nan"), (infinite_loss, "inf")], ids=["nan", "inf"])
def test_non_finite_loss_stops_with_epoch_step_and_advice(tmp_path, monkeypatch, poison, value):
    add_callback(monkeypatch, AtStep(8, poison))  # epoch 2 (index 1), after last.ckpt of epoch 1
    result = invoke("train", "-c", "configs/quick.yaml", *TINY, *QUIET, f"logging.output_dir={tmp_path}")
    assert result.exit_code == 1 and "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    advice = "lower train.lr (now 0.003) or set train.grad_clip"
    assert errors == [f"error: train/loss became {value} at epoch 1, step 8; {advice}"]
    run_dir = next((tmp_path / "runs").iterdir())
    assert meta(run_dir)["status"] == "failed"
    good = load_checkpoint(run_dir / "checkpoints" / "last.ckpt")  # the last good checkpoint stays
    assert good["epoch"] == 0 and good["global_step"] == 6
    assert all(torch.isfinite(t).all() for t in good["state_dict"].values() if t.is_floating_point())


# ---------------------------------------------------------------- nothing lost


class KilledHalfway:
    """A file object that writes half of what it is given, then is 'killed'."""

    def __init__(self, f):
        self.f = f

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()

    def write(self, data):
        self.f.write(data[: len(data) // 2])
        self.f.flush()
        raise KeyboardInterrupt


@pytest.mark.parametrize(
    "name, write",
    [
        ("meta.json", lambda path, v: runs.update_meta(path.parent, version=v)),
        ("eval.json", lambda path, v: runs.write_json(path, {"version": v})),
        ("config.yaml", lambda path, v: runs.write_atomic(path, f"version: {v}\n")),
        ("interrupted.ckpt", lambda path, v: runs.write_atomic(path, bytes([v]) * 4096)),
    ],
    ids=["update_meta", "write_json", "write_atomic-text", "write_atomic-bytes"],
)
def test_a_kill_during_a_write_leaves_the_complete_file(tmp_path, monkeypatch, name, write):
    path = tmp_path / name
    write(path, 1)
    before = path.read_bytes()
    fdopen = os.fdopen
    monkeypatch.setattr(runs.os, "fdopen", lambda fd, mode: KilledHalfway(fdopen(fd, mode)))
    with pytest.raises(KeyboardInterrupt):
        write(path, 2)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [name]  # the half-written temporary file is gone


class FrozenClock(datetime):
    @classmethod
    def now(cls, tz=None):
        return datetime(2030, 1, 2, 3, 4, 5, tzinfo=tz)


def test_a_new_run_never_reuses_a_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "datetime", FrozenClock)  # every run starts in the same second
    taken = tmp_path / "runs" / "same-20300102-030405"
    taken.mkdir(parents=True)
    (taken / "meta.json").write_text('{"status": "completed"}')
    made = [runs.create_run_dir(tmp_path, "same") for _ in range(3)]
    assert [p.name for p in made] == [f"same-20300102-030405-{i}" for i in (2, 3, 4)]
    assert all(not any(p.iterdir()) for p in made)
    assert (taken / "meta.json").read_text() == '{"status": "completed"}'


def test_run_directories_made_at_once_are_distinct(tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "datetime", FrozenClock)
    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda _: runs.create_run_dir(tmp_path, "same"), range(24)))
    assert len(set(made)) == 24 and all(p.is_dir() for p in made)


# ---------------------------------------------------------------- determinism


def test_same_config_and_seed_give_identical_runs(tmp_path):
    made = []
    for name in ("a", "b"):
        cfg = tiny_config("data.limit_train=96", *QUIET, "eval.baselines=false", "logging.progress=none",
                          "noise.eval_kinds=[gaussian]", f"logging.output_dir={tmp_path / name}")
        run = training.train(cfg, echo=lambda m: None).run_dir
        assert invoke("eval", run).exit_code == 0
        made.append(run)
    a, b = made

    def column(run, key):
        header, *rows = [line.split(",") for line in (run / "metrics.csv").read_text().splitlines()]
        return [row[header.index(key)] for row in rows if row[header.index(key)]]

    for key in ("train/loss", "val/loss", "val/psnr"):
        assert column(a, key) == column(b, key) and len(column(a, key)) == 2, key
    assert json.loads((a / "eval" / "eval.json").read_text()) == json.loads((b / "eval" / "eval.json").read_text())
    wa, wb = (torch.load(r / "checkpoints" / "best.ckpt", weights_only=True)["state_dict"] for r in made)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
