"""The CLI end to end through typer's CliRunner: train -> eval, and bad input."""

import json

import pytest
import torch

from mnistmax.data.sources import load_embedded, write_idx
from tests.helpers import TINY, invoke


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("outputs")
    result = invoke("train", "-c", "configs/quick.yaml", *TINY, f"logging.output_dir={out}")
    assert result.exit_code == 0, result.output
    runs = sorted((out / "runs").iterdir())
    assert len(runs) == 1
    return runs[0]


def test_train_writes_the_run_directory(trained_run):
    for name in ("config.yaml", "meta.json", "metrics.csv", "checkpoints/best.ckpt", "checkpoints/last.ckpt"):
        assert (trained_run / name).is_file(), name
    meta = json.loads((trained_run / "meta.json").read_text())
    assert meta["status"] == "completed"
    assert meta["seed"] == 42
    assert meta["data"]["source"] == "embedded"
    assert meta["data"]["sizes"] == {"train": 192, "val": 450, "test": 40}
    assert meta["epochs_completed"] == 2
    assert set(meta["versions"]) >= {"torch", "lightning", "python", "mnistmax"}
    header = (trained_run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"epoch", "train/loss", "val/loss", "val/psnr"} <= set(header)


def test_checkpoint_loads_with_weights_only(trained_run):
    ckpt = torch.load(trained_run / "checkpoints" / "best.ckpt", weights_only=True)
    assert ckpt["hyper_parameters"]["config"]["model"]["base_ch"] == 8


def test_eval_writes_tables(trained_run):
    result = invoke("eval", trained_run)
    assert result.exit_code == 0, result.output
    rows = json.loads((trained_run / "eval" / "eval.json").read_text())
    assert {tuple(sorted(r)) for r in rows} == {("method", "mse", "n", "noise", "psnr", "psnr_ci95_hi", "psnr_ci95_lo",
                                                 "sigma", "ssim")}
    methods = {r["method"] for r in rows}
    assert methods == {"unet_dae", "identity", "gaussian_filter", "median_filter"}
    assert {(r["noise"], r["sigma"]) for r in rows} == {(k, s) for k in ("gaussian", "salt_pepper") for s in (0.1, 0.5)}
    assert all(r["n"] == 40 and 0 <= r["ssim"] <= 1 and r["psnr"] > 0 for r in rows)
    assert all(r["psnr_ci95_lo"] < r["psnr"] < r["psnr_ci95_hi"] for r in rows)
    assert (trained_run / "eval" / "eval.csv").read_text().startswith("method,noise,sigma,n,mse,psnr,ssim")
    assert "| method | noise | sigma |" in (trained_run / "eval" / "eval.md").read_text()
    # the noise comes from a fixed seed: a second evaluation gives identical numbers
    assert invoke("eval", trained_run).exit_code == 0
    assert json.loads((trained_run / "eval" / "eval.json").read_text()) == rows


def test_eval_on_another_source_through_overrides(trained_run, tmp_path):
    bundle = load_embedded()
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", bundle.train_images[:24])
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", bundle.train_labels[:24])
    result = invoke("eval", trained_run, "data.source=idx", f"data.root={tmp_path}", "data.limit_test=null",
                    "noise.eval_kinds=[gaussian]")
    assert result.exit_code == 0, result.output
    rows = json.loads((trained_run / "eval" / "eval.json").read_text())
    assert {r["n"] for r in rows} == {24}


def test_lpips_unavailable_is_one_line_and_not_fatal(trained_run, monkeypatch):
    import mnistmax.eval.metrics as metrics

    def broken(device="cpu"):
        raise metrics.LPIPSUnavailable("LPIPS unavailable: no weights")

    monkeypatch.setattr(metrics, "make_lpips", broken)
    result = invoke("eval", trained_run, "--lpips", "noise.eval_kinds=[gaussian]")
    assert result.exit_code == 0
    assert "LPIPS unavailable: no weights" in result.output


def test_a_second_run_never_reuses_a_directory(trained_run):
    out = trained_run.parent.parent
    before = (trained_run / "meta.json").read_text()
    result = invoke("train", "-c", "configs/quick.yaml", *TINY, "train.epochs=1", f"logging.output_dir={out}")
    assert result.exit_code == 0, result.output
    assert len(list((out / "runs").iterdir())) == 2
    assert (trained_run / "meta.json").read_text() == before


@pytest.mark.parametrize(
    "args, code, text",
    [
        (["train", "-c", "configs/quick.yaml", "train.epochs=0"], 2, "train.epochs"),
        (["train", "-c", "configs/quick.yaml", "model.name=nope"], 2, "unet_dae"),
        (["train", "-c", "missing.yaml"], 2, "not found"),
        (["config", "show", "-c", "configs/quick.yaml", "train.bogus=1"], 2, "train.bogus: unknown key"),
        (["eval", "no/such/run"], 1, "not found"),
    ],
)
def test_bad_input_is_one_line(args, code, text):
    result = invoke(*args)
    assert result.exit_code == code
    assert text in result.output
    assert "Traceback" not in result.output


def test_corrupt_checkpoint_is_reported(trained_run, tmp_path):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    (copy / "checkpoints" / "best.ckpt").write_bytes(b"not a checkpoint")
    result = invoke("eval", copy)
    assert result.exit_code == 1
    assert "best.ckpt" in result.output and "corrupt" in result.output


def test_the_checkpoint_decides_which_network_is_built(trained_run, tmp_path):
    """An edited config.yaml does not change what a checkpoint loads into: its own config does."""
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    text = (copy / "config.yaml").read_text().replace("name: unet_dae", "name: conv_dae")
    text = text.replace("  in_ch: 1\n", "").replace("  out_ch: 1\n", "")  # arguments conv_dae does not take
    (copy / "config.yaml").write_text(text)
    result = invoke("eval", copy, "noise.eval_kinds=[gaussian]")
    assert result.exit_code == 0, result.output
    assert {r["method"] for r in json.loads((copy / "eval" / "eval.json").read_text())} >= {"unet_dae"}


def test_config_show_prints_resolved_yaml():
    result = invoke("config", "show", "-c", "configs/quick.yaml", "train.epochs=7")
    assert result.exit_code == 0
    assert "epochs: 7" in result.output and "name: unet_dae" in result.output


def test_models_lists_every_network_with_parameters():
    result = invoke("models")
    assert result.exit_code == 0
    for name in ("conv_dae", "unet_dae", "resnet_dae", "attention_dae"):
        assert name in result.output
    assert "466,593" in result.output  # unet_dae at base_ch 32


def test_info_shows_versions_and_sources(tmp_path):
    result = invoke("info", "--root", tmp_path)
    assert result.exit_code == 0
    assert "torch" in result.output and "embedded" in result.output and "5,000" in result.output


def test_mlflow_logging_records_the_run(tmp_path):
    import mlflow

    db = tmp_path / "mlflow.db"
    result = invoke("train", "-c", "configs/quick.yaml", *TINY, "train.epochs=1", f"logging.output_dir={tmp_path}",
                    "logging.mlflow=true", f"logging.tracking_uri=sqlite:///{db}", "logging.experiment=test")
    assert result.exit_code == 0, result.output
    run_dir = next((tmp_path / "runs").iterdir())
    run_id = json.loads((run_dir / "meta.json").read_text())["mlflow_run_id"]
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{db}")
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert "val/loss" in run.data.metrics and run.data.params["config/model/base_ch"] == "8"
    assert run.data.tags["status"] == "completed" and run.data.tags["stop_reason"] == "completed"
