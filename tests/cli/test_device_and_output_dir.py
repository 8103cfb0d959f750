"""--device on every command that runs a model (cpu here; a device the machine lacks is one line,
exit 2, before anything is written), and the one output root: --output-dir, else
$MNISTMAX_OUTPUT_DIR, else ./outputs (train: a config's logging.output_dir comes before the
variable), honoured by train, eval, compare, ui and zoo: runs."""

import json
import subprocess

import pytest
import torch
import yaml

import mnistmax
from mnistmax.errors import ConfigError
from mnistmax.files import OUTPUT_DIR_ENV, output_root
from mnistmax.hardware import resolve_device
from mnistmax.runs import load_run, resolve_run
from tests.helpers import ROOT, TINY, invoke, one_error_line

QUICK = str(ROOT / "configs" / "quick.yaml")
FAST = [*TINY, "train.epochs=1", "viz.enabled=false", "logging.progress=none"]


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """The working directory is an empty folder; MNISTMAX_OUTPUT_DIR is unset."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.delenv(OUTPUT_DIR_ENV, raising=False)
    return cwd


@pytest.fixture
def no_gpu(monkeypatch):
    """This machine has no CUDA GPU, whatever the test machine has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny run trained with --output-dir into its own root (not under the working directory)."""
    root = tmp_path_factory.mktemp("root")
    result = invoke("train", "-c", QUICK, *FAST, "--output-dir", root)
    assert result.exit_code == 0, result.output
    (run_dir,) = (root / "runs").iterdir()
    return root, run_dir


# ---------------------------------------------------------------- the output root


def test_output_root_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv(OUTPUT_DIR_ENV, raising=False)
    assert output_root() == output_root(None, "outputs") == output_root(None, "./outputs") == output_root("", None)
    assert str(output_root()) == "outputs"
    monkeypatch.setenv(OUTPUT_DIR_ENV, str(tmp_path / "env"))
    assert output_root() == output_root(None, "outputs") == tmp_path / "env"  # the config's default gives way
    assert output_root(None, tmp_path / "cfg") == tmp_path / "cfg"  # a config that sets it beats the variable
    assert output_root(tmp_path / "opt", tmp_path / "cfg") == tmp_path / "opt"  # the option beats both


def test_train_records_its_root_and_eval_finds_latest_through_the_option(trained, elsewhere):
    root, run_dir = trained
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["logging"]["output_dir"] == str(root)
    assert "no runs under outputs/runs" in one_error_line(invoke("eval", "latest"))
    result = invoke("eval", "latest", "--output-dir", root, "--device", "cpu", "noise.eval_kinds=[gaussian]",
                    "--tag", "opt")
    assert result.exit_code == 0, result.output
    assert (run_dir / "eval" / "eval-opt.json").is_file()
    assert not (elsewhere / "outputs").exists()


def test_eval_and_compare_find_latest_through_the_environment(trained, elsewhere, monkeypatch):
    root, run_dir = trained
    monkeypatch.setenv(OUTPUT_DIR_ENV, str(root))
    assert resolve_run("latest") == run_dir and resolve_run(run_dir.name) == run_dir
    result = invoke("eval", "latest", "noise.eval_kinds=[gaussian]", "--tag", "env")
    assert result.exit_code == 0, result.output
    assert (run_dir / "eval" / "eval-env.json").is_file()
    result = invoke("compare", "models", "latest")
    assert result.exit_code == 0, result.output
    (folder,) = (root / "compare").iterdir()
    assert (folder / "models.json").is_file()
    assert not (elsewhere / "outputs").exists()


def test_compare_takes_the_option_over_the_environment(trained, elsewhere, monkeypatch, tmp_path):
    root, _ = trained
    monkeypatch.setenv(OUTPUT_DIR_ENV, str(tmp_path / "unused"))
    result = invoke("compare", "models", "latest", "--output-dir", root)
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "unused").exists() and not (elsewhere / "outputs").exists()


def test_train_goes_under_the_environment_unless_the_config_sets_a_folder(elsewhere, monkeypatch, tmp_path):
    monkeypatch.setenv(OUTPUT_DIR_ENV, str(tmp_path / "env"))
    result = invoke("train", "-c", QUICK, *FAST)
    assert result.exit_code == 0, result.output
    (run_dir,) = (tmp_path / "env" / "runs").iterdir()
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["logging"]["output_dir"] == str(tmp_path / "env")
    from mnistmax.training.steps import at_output_root
    from tests.helpers import tiny_config

    assert at_output_root(tiny_config(f"logging.output_dir={tmp_path / 'cfg'}")).logging.output_dir == \
        str(tmp_path / "cfg")
    assert at_output_root(tiny_config(), tmp_path / "opt").logging.output_dir == str(tmp_path / "opt")
    assert not (elsewhere / "outputs").exists()


def test_zoo_runs_are_made_under_the_root(elsewhere, monkeypatch, tmp_path):
    monkeypatch.setenv(OUTPUT_DIR_ENV, str(tmp_path / "env"))
    assert resolve_run("zoo:mnist-unet").parent == tmp_path / "env" / "zoo"
    assert resolve_run("zoo:mnist-unet", tmp_path / "opt").parent == tmp_path / "opt" / "zoo"
    assert not (elsewhere / "outputs").exists()


def test_ui_opens_the_store_under_the_root(elsewhere, monkeypatch, tmp_path):
    pytest.importorskip("mlflow")
    called = []
    monkeypatch.setattr(subprocess, "call", lambda argv: called.append(argv) or 0)
    monkeypatch.setenv(OUTPUT_DIR_ENV, str(tmp_path / "env"))
    assert invoke("ui").exit_code == 0
    assert invoke("ui", "--output-dir", tmp_path / "opt").exit_code == 0
    assert [argv[-1] for argv in called] == [f"sqlite:///{tmp_path / 'env' / 'mlflow.db'}",
                                             f"sqlite:///{tmp_path / 'opt' / 'mlflow.db'}"]


def test_splits_defaults_to_the_shipped_recipe_outside_the_checkout(elsewhere):
    result = invoke("splits", "--folds", "2", "-o", elsewhere / "folds" / "splits.csv")
    assert result.exit_code == 0, result.output
    assert (elsewhere / "folds" / "splits.csv").read_text().startswith("index,label,fold")


# ---------------------------------------------------------------- --device


def test_devices_resolve_or_are_refused_in_one_line(no_gpu, monkeypatch):
    assert resolve_device("cpu") == resolve_device(None) == resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "mps")
    with pytest.raises(ConfigError, match=r"device 'cuda': no CUDA GPU is visible on this machine \(available here: "
                                          r"cpu"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="device 'gpu': not a device; use cpu, cuda, cuda:N, mps or auto"):
        resolve_device("gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("CUDA:0") == torch.device("cuda:0") and resolve_device("auto") == torch.device("cuda")
    with pytest.raises(ConfigError, match=r"device 'cuda:1': this machine has 1 CUDA GPU \(available here: cpu, "
                                          r"cuda:0"):
        resolve_device("cuda:1")


def test_the_python_functions_take_a_device(trained):
    _, run_dir = trained
    assert load_run(run_dir, device="cpu").device == torch.device("cpu")
    result = mnistmax.evaluate(run_dir, ["noise.eval_kinds=[gaussian]"], tag="py-cpu", device="cpu")
    assert json.loads(result.files[0].read_text()) == result.rows
    assert mnistmax.load(run_dir, device="cpu").device == torch.device("cpu")


def test_evaluation_batches_go_to_the_device_with_noise_drawn_on_the_cpu(embedded):
    """The meta device stands in for a GPU: the batches move there, the noise drawn before on the CPU
    (a meta generator could not draw it)."""
    from mnistmax.eval.draws import noisy_batches
    from tests.helpers import tiny_config

    images = embedded.train_images[:20]
    cfg = tiny_config("eval.batch_size=8")
    on_meta = list(noisy_batches(images, "add_lines", 0.5, cfg, "meta"))
    on_cpu = list(noisy_batches(images, "add_lines", 0.5, cfg, "cpu"))
    assert len(on_meta) == len(on_cpu) == 3
    assert all(t.device.type == "meta" for batch in on_meta for t in batch)
    assert all(t.device.type == "cpu" for batch in on_cpu for t in batch)


RUN = "zoo:mnist-unet"
REFUSED = {  # a command that runs a model: its arguments before --device
    "eval": ["eval", RUN], "report": ["report", RUN], "probe": ["probe", RUN],
    "viz recon-grid": ["viz", "recon-grid", RUN], "viz all": ["viz", "all", RUN],
    "latent pca": ["latent", "pca", RUN], "compare models": ["compare", "models", RUN],
    "compare encoders": ["compare", "encoders", RUN], "compare limitations": ["compare", "limitations", RUN],
    "export": ["export", RUN], "sample": ["sample", RUN, "-o", "x.png"],
    "denoise": ["denoise", RUN, "x.png", "-o", "out"], "classify": ["classify", RUN, "x.png"],
    "embed": ["embed", RUN, "-o", "x.npz"], "transfer": ["transfer", "--encoder-run", RUN],
}


@pytest.mark.parametrize("args", REFUSED.values(), ids=REFUSED.keys())
def test_a_device_the_machine_lacks_is_one_line_before_anything_is_written(args, no_gpu, elsewhere, tmp_path):
    result = invoke(*args, "--device", "cuda", "--output-dir", tmp_path / "root")
    assert result.exit_code == 2
    assert one_error_line(result) == "error: device 'cuda': no CUDA GPU is visible on this machine (available here: " \
                                     "cpu)"
    assert not (tmp_path / "root").exists() and list(elsewhere.iterdir()) == []  # no zoo: run made, nothing else
