"""Transfer from any encoder: a contrastive run's encoder in `encoder_classifier` (scratch /
frozen / fine-tuned), the same table and report section as conv_ae; the run's next step
is `probe`, and `eval` on it runs the probe."""

import json

import pytest
import torch

from mnistmax.analysis.transfer import encoder_state
from mnistmax.models import count_parameters, create_model
from mnistmax.runs import load_run
from mnistmax.training import train
from mnistmax.training.classifier import classifier_config, train_classifier
from tests.helpers import TINY, TINY_ANY, invoke, one_error_line

SIMCLR = ["-c", "configs/models/simclr.yaml", *TINY_ANY, "train.epochs=1", "viz.enabled=false",
          "model.embedding_dim=32"]


@pytest.fixture(scope="module")
def simclr_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("simclr")
    result = invoke("train", *SIMCLR, f"logging.output_dir={out}")
    assert result.exit_code == 0, result.output
    run_dir = next((out / "runs").iterdir())
    assert f"(next: mnistmax probe {run_dir})" in result.output
    return run_dir


def test_encoder_classifier_wraps_any_registered_encoder():
    for name in ("simple_cnn", "resnet_enc", "vit_enc"):
        net = create_model("encoder_classifier", encoder=name, encoder_options={"embedding_dim": 16})
        assert net(torch.rand(3, 1, 28, 28)).shape == (3, 10)
        assert count_parameters(net) > count_parameters(net.encoder)
    with pytest.raises(ValueError, match="model.encoder: 'unet_dae' is not a registered encoder"):
        create_model("encoder_classifier", encoder="unet_dae")
    with pytest.raises(ValueError, match=r"model\.encoder_options\.depth: simple_cnn has no such argument"):
        create_model("encoder_classifier", encoder="simple_cnn", encoder_options={"depth": 3})


def test_frozen_keeps_and_finetune_changes_a_contrastive_encoder(simclr_run, tmp_path):
    model, encoder, base = encoder_state(simclr_run)
    assert model["name"] == "encoder_classifier" and model["encoder"] == "simple_cnn"
    assert model["encoder_options"]["embedding_dim"] == 32
    for mode, should_change in (("frozen", False), ("finetune", True)):
        cfg = classifier_config(base, model, 50, overrides=["train.epochs=1", "data.batch_size=16"])
        row = train_classifier(cfg, mode, encoder, tmp_path / mode, train)
        after = load_run(row["run_dir"], "best").task.net.encoder.state_dict()
        changed = any(not torch.equal(after[k], encoder[k]) for k in encoder if after[k].is_floating_point())
        assert changed == should_change, mode
        assert row["n_train"] == 50 and 0 <= row["test_acc"] <= 1


def test_transfer_command_on_a_contrastive_run_and_its_report(simclr_run):
    result = invoke("transfer", "--encoder-run", simclr_run, "--mode", "all", "--labels-per-class", "2",
                    "train.epochs=1")
    assert result.exit_code == 0, result.output
    rows = json.loads((simclr_run / "eval" / "transfer.json").read_text())
    assert [r["mode"] for r in rows] == ["scratch", "frozen", "finetune"]
    assert rows[1]["trainable_params"] < rows[2]["trainable_params"] == rows[0]["trainable_params"]
    report = invoke("report", simclr_run)
    assert report.exit_code == 0, report.output
    html = next((simclr_run / "reports").glob("*.html")).read_text()
    assert "Transfer learning" in html and "Embedding quality" in html


def test_eval_on_an_encoder_runs_the_probe(simclr_run):
    result = invoke("eval", simclr_run)
    assert result.exit_code == 0, result.output
    rows = json.loads((simclr_run / "eval" / "probe.json").read_text())
    assert rows[0]["method"] == "simple_cnn" and 0 <= rows[0]["linear_probe"] <= 1


def test_transfer_from_a_denoiser_is_one_line(tmp_path):
    trained = invoke("train", "-c", "configs/quick.yaml", *TINY, "train.epochs=1", "viz.enabled=false",
                     f"logging.output_dir={tmp_path}")
    assert trained.exit_code == 0 and "(next: mnistmax eval " in trained.output
    run_dir = next((tmp_path / "runs").iterdir())
    result = invoke("transfer", "--encoder-run", run_dir)
    assert "transfer learning needs a run with an encoder" in one_error_line(result)


def test_compare_encoders_table_figure_and_files(simclr_run, tmp_path):
    supcon = invoke("train", "-c", "configs/models/supcon.yaml", *TINY_ANY, "train.epochs=1", "viz.enabled=false",
                    "model.embedding_dim=32", f"logging.output_dir={tmp_path / 'supcon'}")
    assert supcon.exit_code == 0, supcon.output
    supcon_run = next((tmp_path / "supcon" / "runs").iterdir())
    result = invoke("compare", "encoders", simclr_run, supcon_run, "-o", tmp_path / "cmp")
    assert result.exit_code == 0, result.output
    table = json.loads((tmp_path / "cmp" / "encoders.json").read_text())
    assert [r["run"] for r in table] == [simclr_run.name, supcon_run.name, "raw pixels"]
    assert [r["loss"] for r in table] == ["ntxent", "supcon", "-"]
    for r in table:
        for key in ("linear_probe", "knn", "1-shot", "5-shot", "10-shot", "precision_at_1", "map_at_r"):
            assert 0 <= r[key] <= 1, (r["run"], key)
    assert table[0]["parameters"] > 0 and table[0]["train_s"] > 0 and table[2]["parameters"] is None
    for suffix in ("csv", "md", "tex"):
        assert "raw pixels" in (tmp_path / "cmp" / f"encoders.{suffix}").read_text()
    assert (tmp_path / "cmp" / "encoders.png").read_bytes()[:4] == b"\x89PNG"
    assert (supcon_run / "eval" / "probe.json").is_file()  # probed on the way


def test_compare_encoders_refuses_a_denoiser_in_one_line(simclr_run, tmp_path):
    trained = invoke("train", "-c", "configs/quick.yaml", *TINY, "train.epochs=1", "viz.enabled=false",
                     f"logging.output_dir={tmp_path}")
    assert trained.exit_code == 0
    result = invoke("compare", "encoders", simclr_run, next((tmp_path / "runs").iterdir()), "-o", tmp_path / "cmp")
    assert "compare encoders needs a run whose task can embed" in one_error_line(result)
    assert not (tmp_path / "cmp").exists()


def test_viz_embeddings_draws_umap_when_umap_is_installed(simclr_run, monkeypatch):
    import sys
    import types

    import numpy as np

    class FakeUMAP:  # umap-learn is an optional extra; its interface: UMAP(...).fit_transform(z)
        def __init__(self, n_components, random_state, n_jobs):
            assert n_components == 2

        def fit_transform(self, z):
            return np.asarray(z)[:, :2]

    fake = types.ModuleType("umap")
    fake.UMAP = FakeUMAP
    fake.__spec__ = types.SimpleNamespace(name="umap")
    monkeypatch.setitem(sys.modules, "umap", fake)
    result = invoke("viz", "embeddings", simclr_run)
    assert result.exit_code == 0, result.output
    assert (simclr_run / "grids" / "embeddings_umap.png").is_file() and "embeddings_umap.png" in result.output


def test_contrastive_runs_ask_for_synchronised_batchnorm_only_across_processes(tmp_path):
    from mnistmax.tasks import load_config
    from mnistmax.training import build_trainer

    cfg = load_config("configs/models/simclr.yaml", [*TINY_ANY, "viz.enabled=false", "logging.progress=none"])
    trainer = build_trainer(cfg, tmp_path, echo=lambda m: None)
    assert trainer._accelerator_connector._layer_sync is not None  # DDP would convert BatchNorm to SyncBatchNorm
    denoiser = build_trainer(load_config("configs/quick.yaml", [*TINY, "logging.progress=none"]), tmp_path / "d",
                             echo=lambda m: None)
    assert denoiser._accelerator_connector._layer_sync is None
    assert not hasattr(trainer.strategy, "_layer_sync")  # one device: the plugin is never applied


def test_the_scratch_baseline_trains_longer_than_a_pretrained_encoder(simclr_run, monkeypatch):
    """A random encoder gets SCRATCH_MIN_STEPS optimiser steps, a pretrained one MIN_STEPS; an epoch
    count the user sets is what runs for every mode."""
    from mnistmax.analysis import transfer

    seen = {}
    monkeypatch.setattr(transfer, "train_classifier", lambda cfg, mode, encoder, run_dir, train, _: seen.setdefault(
        (mode, cfg.data.limit_train), {"mode": mode, "labels_per_class": 10, "test_acc": 0.5, "train_seconds": 0,
                                       "trainable_params": 1, "epochs": cfg.train.epochs,
                                       "steps": cfg.train.epochs * (cfg.data.limit_train // cfg.data.batch_size)}))
    transfer.run_transfer(simclr_run, ["scratch", "frozen"], [10], [], echo=lambda *_: None)
    scratch, frozen = seen[("scratch", 100)], seen[("frozen", 100)]
    assert scratch["steps"] >= transfer.SCRATCH_MIN_STEPS > frozen["steps"] >= transfer.MIN_STEPS
    seen.clear()
    transfer.run_transfer(simclr_run, ["scratch", "frozen"], [10], ["train.epochs=7"], echo=lambda *_: None)
    assert {r["epochs"] for r in seen.values()} == {7}
