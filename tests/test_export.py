"""mnistmax export: ONNX and TorchScript match PyTorch for every registered network; safetensors
loads back through mnistmax.load; model.json describes the model."""

import json

import numpy as np
import pytest
import torch

import mnistmax
from mnistmax.data.sources import load_embedded
from mnistmax.errors import MissingExtraError
from mnistmax.export import TOLERANCE, ExportError, export_run, run_onnx, run_torchscript
from mnistmax.models import get_entry, list_models
from mnistmax.runs import load_run
from mnistmax.tasks import build_task, load_config
from tests.helpers import ROOT, TINY_ANY, fake_run, hide_module, invoke, one_error_line

RECIPE = {"denoise": "quick.yaml", "autoencoder": "models/conv_ae.yaml", "vae": "models/vae.yaml",
          "encoder": "models/simclr.yaml", "classifier": "models/classifier.yaml"}
SMALL = {"denoise": ["model.base_ch=8"], "encoder": []}


def run_of(tmp_path, name: str):
    family = get_entry(name).family
    extra = [f"model.name={name}"] if family in ("denoise", "encoder") else []
    if family == "classifier":  # the recipe's own network's keys do not fit every classifier
        extra = [f"model={{name: {name}}}"]
    small = SMALL.get(family, [])
    if family == "denoise" and "base_ch" not in get_entry(name).accepted_kwargs():  # a VAE denoiser
        extra, small = [f"model={{name: {name}}}"], []
    if name.startswith("ablation_"):
        extra += ["data.binarize=true", "noise.kind=add_mixed", "noise.eval_kinds=[add_mixed]"]
        extra += ["train.loss=precision_bce"] if small else []  # a VAE's loss is its ELBO
    cfg = load_config(ROOT / "configs" / RECIPE[family], [*TINY_ANY, *extra, *small])
    torch.manual_seed(0)
    return fake_run(tmp_path, {"state_dict": build_task(cfg).state_dict()}, cfg=cfg)


@pytest.mark.parametrize("name", list_models())
def test_onnx_matches_pytorch_for_every_network(tmp_path, name):
    run = load_run(run_of(tmp_path, name))
    meta = json.loads(export_run(run, "onnx", echo=lambda *_: None).read_text())
    assert meta["network"] == run.cfg.model.name == name  # every network exports itself
    for file, info in meta["files"].items():
        assert info["max_abs_diff_vs_pytorch"] <= TOLERANCE
        # run it again here, at a batch size never seen, against the PyTorch function
        near = torch.zeros(())
        if info["input"]["name"] == "latent":
            x = torch.randn(7, info["input"]["shape"][1])
            want = run.task.decode(x)
        else:
            x = (load_embedded().train_images[:7, None].float() / 255)
            if run.cfg.data.binarize:
                x = (x >= run.cfg.data.threshold).float()
            method = {"denoise": "reconstruct"}.get(info["method"], info["method"])
            want = getattr(run.task, method)(x)
            if meta["threshold"] is not None:  # a bitmap denoiser's graph ends in its threshold
                assert info["method"] == "denoise" and meta["threshold"] == run.cfg.eval.threshold
                near = (want - meta["threshold"]).abs() <= TOLERANCE  # where runtimes may round either way
                want = (want > meta["threshold"]).float()
        got = run_onnx(run.run_dir / "export" / file, x)
        assert got.shape == want.shape and float(((got - want).abs() * ~near.bool()).max()) <= TOLERANCE


@pytest.mark.parametrize("name", ["unet_dae", "ablation_unet_dae", "conv_ae", "simple_cnn", "cnn_classifier"])
def test_torchscript_matches_pytorch(tmp_path, name):
    run = load_run(run_of(tmp_path, name))
    meta = json.loads(export_run(run, "torchscript", echo=lambda *_: None).read_text())
    main = run.run_dir / "export" / "model.torchscript.pt"
    assert meta["files"]["model.torchscript.pt"]["max_abs_diff_vs_pytorch"] <= TOLERANCE
    x = load_embedded().train_images[:3, None].float() / 255
    if run.cfg.data.binarize:
        x = (x >= 0.5).float()
    out = run_torchscript(main, x)
    assert out.shape[0] == 3


def test_gated_export_never_adds_ink(tmp_path):
    run = load_run(run_of(tmp_path, "ablation_unet_dae"))
    export_run(run, "onnx", echo=lambda *_: None)
    x = (torch.rand(6, 1, 28, 28) > 0.7).float()
    out = run_onnx(run.run_dir / "export" / "model.onnx", x)
    assert bool((out <= x + 1e-6).all())
    assert set(out.unique().tolist()) <= {0.0, 1.0}  # a bitmap in, a bitmap out


def test_safetensors_folder_loads_back_with_the_same_outputs(tmp_path):
    run_dir = run_of(tmp_path, "unet_dae")
    result = invoke("export", run_dir, "--format", "safetensors")
    assert result.exit_code == 0, result.output
    folder = run_dir / "export"
    meta = json.loads((folder / "model.json").read_text())
    assert meta["network"] == "unet_dae" and meta["arguments"]["base_ch"] == 8 and meta["task"] == "denoise"
    assert meta["preprocessing"]["input"].startswith("(B, 1, 28, 28)")
    x = load_embedded().train_images[:4].numpy()
    assert np.array_equal(mnistmax.load(folder).denoise(x), mnistmax.load(run_dir).denoise(x))


def test_model_json_keeps_every_format_and_the_eval_numbers(tmp_path):
    run_dir = run_of(tmp_path, "unet_dae")
    (run_dir / "eval").mkdir()
    (run_dir / "eval" / "eval.json").write_text(json.dumps(
        [{"noise": "gaussian", "level": 0.5, "method": "unet_dae", "psnr": 20.0, "ssim": 0.8, "mse": 0.01}]))
    for fmt in ("onnx", "safetensors"):
        assert invoke("export", run_dir, "--format", fmt).exit_code == 0
    meta = json.loads((run_dir / "export" / "model.json").read_text())
    assert {"model.onnx", "model.safetensors"} <= set(meta["files"])
    assert meta["metrics"]["command"].startswith("mnistmax eval")
    card = (run_dir / "README.md").read_text()  # the model card names the exported files
    assert "`export/model.onnx`" in card and "| 20 |" in card


def test_an_encoders_model_json_and_card_carry_its_probe_numbers(tmp_path):
    run_dir = run_of(tmp_path, "simple_cnn")
    assert invoke("export", run_dir, "--format", "safetensors").exit_code == 0
    card = (run_dir / "README.md").read_text()  # not probed yet: the card names the encoder's command and file
    assert f"Not evaluated yet: `mnistmax probe {run_dir}` writes eval/probe.json." in card
    assert json.loads((run_dir / "export" / "model.json").read_text())["metrics"] is None
    assert invoke("probe", run_dir).exit_code == 0  # eval/probe.json, not eval/eval.json
    rows = json.loads((run_dir / "eval" / "probe.json").read_text())
    assert invoke("export", run_dir, "--format", "safetensors", "--force").exit_code == 0
    metrics = json.loads((run_dir / "export" / "model.json").read_text())["metrics"]
    assert metrics["headline"]["metric"] == "test linear-probe accuracy"
    assert metrics["headline"]["scores"]["simple_cnn"] == rows[0]["linear_probe"]
    card = (run_dir / "README.md").read_text()
    assert "Not evaluated yet" not in card and "eval/probe.json" in card
    assert "linear_probe" in card and f"{rows[0]['linear_probe']:.4g}" in card


def test_existing_files_need_force_and_bad_format_is_refused(tmp_path):
    run_dir = run_of(tmp_path, "conv_dae")
    assert invoke("export", run_dir).exit_code == 0
    again = invoke("export", run_dir)
    assert again.exit_code == 2 and "exists; pass --force" in one_error_line(again)
    assert invoke("export", run_dir, "--force").exit_code == 0
    bad = invoke("export", run_dir, "--format", "tflite")  # a choice: click's usage message lists the formats
    words = " ".join(bad.output.replace("│", " ").split())
    assert bad.exit_code == 2 and "'tflite' is not one of 'onnx', 'torchscript', 'safetensors'" in words


def test_export_folder_from_another_version_is_refused(tmp_path):
    run_dir = run_of(tmp_path, "conv_dae")
    assert invoke("export", run_dir, "--format", "safetensors").exit_code == 0
    meta_path = run_dir / "export" / "model.json"
    meta = json.loads(meta_path.read_text())
    meta["export_version"] = 99
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ExportError, match="export the run again"):
        mnistmax.load(run_dir / "export")


def test_missing_extra_says_how_to_install_it(tmp_path, monkeypatch):
    run = load_run(run_of(tmp_path, "conv_dae"))
    hide_module(monkeypatch, "onnx")
    with pytest.raises(MissingExtraError, match=r"'onnx>=1.16' 'onnxruntime>=1.18'; from a checkout: "
                       r"pip install -e '\.\[export\]'"):
        export_run(run, "onnx", echo=lambda *_: None)
    assert not (run.run_dir / "export" / "model.onnx").exists()
