"""Performance knobs (train.strategy / num_nodes / channels_last / compile, fused AdamW, the
fast EMA, device-resident batches) and scripts/bench_throughput.py. Behaviour only: no
timing is asserted here; the numbers live in docs/PERFORMANCE.md."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import pytest
import torch

from mnistmax import training
from mnistmax.data.datamodule import MNISTDataModule, TensorBatches
from mnistmax.errors import ConfigError
from mnistmax.hardware import resolve_channels_last, use_fused_adamw
from mnistmax.tasks import build_task, load_config
from mnistmax.training.callbacks.ema import WarmupEMA

ROOT = Path(__file__).resolve().parents[2]


def tiny(tmp_path, *overrides):
    return load_config(ROOT / "configs" / "quick.yaml", [
        "data.limit_train=128", "data.limit_test=64", "data.batch_size=32", "model.base_ch=8", "train.epochs=1",
        "train.accelerator=cpu", "train.max_time_minutes=null", "viz.enabled=false", "logging.progress=none",
        f"logging.output_dir={tmp_path}", *overrides])


def setup_only(cfg, task):
    """A fit that runs every setup hook and no step (nothing is compiled or trained)."""
    trainer = L.Trainer(accelerator="cpu", max_epochs=1, limit_train_batches=0, limit_val_batches=0, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(task, datamodule=MNISTDataModule(cfg))
    return trainer


def conv_weights(module):
    """4-d weights whose layout is not ambiguous (several input channels, a kernel wider than 1)."""
    return [m.weight for m in module.modules()
            if isinstance(m, torch.nn.Conv2d) and m.weight.shape[1] > 1 and m.weight.shape[-1] > 1]


# ---------------------------------------------------------------- config


@pytest.mark.parametrize("override, key, value", [
    ("train.strategy=ddp", "strategy", "ddp"),
    ("train.strategy=ddp_spawn", "strategy", "ddp_spawn"),
    ("train.num_nodes=4", "num_nodes", 4),
    ("train.channels_last=true", "channels_last", True),
    ("train.channels_last=false", "channels_last", False),
    ("train.channels_last=auto", "channels_last", "auto"),
    ("train.compile=true", "compile", True),
])
def test_performance_keys_are_accepted(override, key, value):
    assert getattr(load_config(None, [override]).train, key) == value


def test_performance_defaults():
    t = load_config().train
    assert (t.strategy, t.num_nodes, t.channels_last, t.compile) == ("auto", 1, "auto", False)


@pytest.mark.parametrize("override, message", [
    ("train.strategy=dpp", "train.strategy: unknown strategy 'dpp'; valid: auto, ddp"),
    ("train.num_nodes=0", "train.num_nodes"),
    ("train.channels_last=sometimes", "train.channels_last"),
    ("train.compile=maybe", "train.compile"),
    ("trainer.devices=2", "trainer: unknown key"),  # the section is called `train`
])
def test_bad_performance_keys_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_config(None, [override])


# ---------------------------------------------------------------- hardware choices


def test_channels_last_auto_is_on_for_the_cpu_only():
    assert resolve_channels_last("auto", "cpu") is True
    assert resolve_channels_last("auto", "cuda") is False
    assert resolve_channels_last(True, "cuda") is True and resolve_channels_last(False, "cpu") is False


@pytest.mark.parametrize("device, precision, clip, fused", [
    ("cpu", "bf16-mixed", 1.0, True), ("cuda", "bf16-mixed", 1.0, True), ("cuda", "16-mixed", None, True),
    ("cuda", "16-mixed", 1.0, False),  # a fused step unscales itself: Lightning could not clip first
    ("mps", "32-true", 1.0, False),
])
def test_fused_adamw_where_it_can_run(device, precision, clip, fused):
    assert use_fused_adamw(device, precision, clip) is fused


# ---------------------------------------------------------------- wiring


def test_strategy_and_num_nodes_reach_the_trainer(tmp_path):
    cfg = tiny(tmp_path, "train.strategy=ddp", "train.num_nodes=2")
    trainer = training.build_trainer(cfg, tmp_path, echo=lambda m: None)
    assert type(trainer.strategy).__name__ == "DDPStrategy"
    assert trainer.num_nodes == 2


@pytest.mark.parametrize("setting, expected", [("auto", True), ("false", False)])
def test_channels_last_reaches_the_weights_and_the_ema_copy(tmp_path, setting, expected):
    cfg = tiny(tmp_path, f"train.channels_last={setting}")
    task = build_task(cfg)
    ema = WarmupEMA(decay=0.9)
    trainer = L.Trainer(accelerator="cpu", max_epochs=1, limit_train_batches=0, limit_val_batches=0, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[ema])
    trainer.fit(task, datamodule=MNISTDataModule(cfg))
    weights = conv_weights(task.net)
    assert weights and all(w.is_contiguous(memory_format=torch.channels_last) == expected for w in weights)
    averaged = conv_weights(ema._average_model.module.net)
    assert [w.stride() for w in averaged] == [w.stride() for w in weights]


def test_channels_last_batches(tmp_path):
    cfg = tiny(tmp_path, "train.channels_last=true")
    data = MNISTDataModule(cfg)
    data.setup()
    images, labels, seed = next(iter(data.train_dataloader()))
    data.trainer = SimpleNamespace(lightning_module=build_task(cfg), training=True)  # the task makes the batch
    batch = data.on_after_batch_transfer((images, labels, seed), 0)
    assert all(batch[k].is_contiguous(memory_format=torch.channels_last) for k in ("noisy", "clean"))


def test_compile_flag_compiles_the_step(tmp_path):
    task = build_task(tiny(tmp_path, "train.compile=true"))
    setup_only(tiny(tmp_path, "train.compile=true"), task)
    assert hasattr(task.model_step, "_torchdynamo_orig_callable")  # compiled lazily: nothing ran yet
    plain = build_task(tiny(tmp_path))
    setup_only(tiny(tmp_path), plain)
    assert not hasattr(plain.model_step, "_torchdynamo_orig_callable")


def test_optimizer_is_fused_on_the_cpu(tmp_path):
    cfg = tiny(tmp_path)
    task = build_task(cfg)
    trainer = setup_only(cfg, task)
    assert trainer.optimizers[0].defaults["fused"] is True


def test_fast_ema_matches_the_warmup_rule(tmp_path):
    """Two steps of the paired-list update give the documented numbers: copy, then
    lerp with weight 1 - min(decay, (1 + n) / (10 + n))."""
    cfg = tiny(tmp_path)
    task = build_task(cfg)
    ema = WarmupEMA(decay=0.5)
    L.Trainer(accelerator="cpu", max_epochs=1, limit_train_batches=0, limit_val_batches=0, logger=False,
              enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
              callbacks=[ema]).fit(task, datamodule=MNISTDataModule(cfg))
    trainer = type("T", (), {"global_step": 1})()
    p, avg = task.net.head.weight, ema._average_model.module.net.head.weight
    with torch.no_grad():
        p.fill_(1.0)
        ema.on_train_batch_end(trainer, task, None, None, 0)  # n = 0: copy
        assert torch.equal(avg, p)
        p.fill_(3.0)
        trainer.global_step = 2
        ema.on_train_batch_end(trainer, task, None, None, 1)  # n = 1: d = min(0.5, 2 / 11)
    d = 2 / 11
    assert torch.allclose(avg, torch.full_like(avg, 1.0 + (3.0 - 1.0) * (1 - d)))
    assert int(ema._average_model.n_averaged) == 2


def test_loaders_shard_per_rank_without_overlap():
    images, labels = torch.arange(100, dtype=torch.uint8).view(100, 1, 1).expand(100, 2, 2), torch.arange(100) % 10
    shards = [TensorBatches(images, labels, 8, shuffle=True, seed=1, drop_last=True, rank=r,
                            world_size=2) for r in (0, 1)]
    seen = [torch.cat([b[0][:, 0, 0] for b in shard]) for shard in shards]
    assert len(shards[0]) == len(shards[1]) == 50 // 8
    assert not set(seen[0].tolist()) & set(seen[1].tolist())
    seeds = [[b[2] for b in shard] for shard in shards]
    assert not set(seeds[0]) & set(seeds[1])  # every rank draws its own noise


def test_train_loss_is_the_epoch_mean(tmp_path):
    """train/loss is summed on the device and logged once per epoch: it equals the mean of
    the per-batch losses weighted by batch size, one row per epoch in metrics.csv."""
    cfg = tiny(tmp_path, "train.epochs=2", "train.ema=false")
    losses = []

    class Record(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            losses.append(float(outputs["loss"]))

    run = training.train(cfg, callbacks=[Record()], echo=lambda m: None).run_dir
    rows = [line.split(",") for line in (run / "metrics.csv").read_text().splitlines()]
    column = rows[0].index("train/loss")
    logged = [float(r[column]) for r in rows[1:] if r[column]]
    per_epoch = len(losses) // 2
    assert len(logged) == 2
    for epoch, value in enumerate(logged):
        assert value == pytest.approx(sum(losses[epoch * per_epoch:(epoch + 1) * per_epoch]) / per_epoch, rel=1e-5)


# ---------------------------------------------------------------- the benchmark script


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_throughput", ROOT / "scripts" / "bench_throughput.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_prints_both_loops_and_their_ratio(tmp_path, capsys):
    bench = load_bench()
    out = tmp_path / "bench.json"
    assert bench.main(["--models", "conv_dae", "--repeats", "1", "--epochs", "2", "--train-size", "128",
                       "--json", str(out)]) == 0
    text = capsys.readouterr().out
    header = next(line for line in text.splitlines() if line.startswith("model"))
    for column in ("mnistmax img/s", "bare img/s", "ratio", "epoch s", "1st ep s", "peak MiB"):
        assert column in header
    assert any(line.startswith("conv_dae") for line in text.splitlines())
    result = json.loads(out.read_text())["results"][0]
    assert result["model"] == "conv_dae" and result["train_images"] == 128
    for key in ("train_ratio", "epoch_ratio"):
        assert math.isfinite(result[key]) and result[key] > 0
    assert result["mnistmax"]["peak_mib"] > 0 and result["bare"]["peak_mib"] > 0


def test_bench_eval_reports_every_batch_size(tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))  # as `python scripts/bench_eval.py` has it
    spec = importlib.util.spec_from_file_location("bench_eval", ROOT / "scripts" / "bench_eval.py")
    bench_eval = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_eval)
    out = tmp_path / "eval.json"
    assert bench_eval.main(["--test-size", "60", "--batch-sizes", "20,60", "--set", "noise.test_sigmas=[0.5]",
                            "--json", str(out)]) == 0
    results = json.loads(out.read_text())["results"]
    assert [r["batch_size"] for r in results] == [20, 60]
    for r in results:
        assert r["conditions"] == 3  # the default config's three eval kinds at one σ
        assert r["model"]["img_s"] > 0 and r["baselines"]["methods"] == 3
    assert "model img/s" in capsys.readouterr().out
