"""Autoencoder and VAE runs picture their reconstructions: `viz recon-grid`, `viz all` and the
report draw fixed test digits, what the model makes of them, the error and each digit's MSE;
tasks that cannot reconstruct say which can."""

import pytest
import torch

from mnistmax.eval.metrics import per_image_mse
from mnistmax.runs import load_run
from mnistmax.tasks import build_task, load_config
from mnistmax.viz import commands, figures
from tests.helpers import ROOT, TINY_ANY, assert_picture, fake_run, invoke, one_error_line


def untrained(tmp_path, recipe: str):
    cfg = load_config(ROOT / "configs" / recipe, TINY_ANY)
    torch.manual_seed(0)
    return fake_run(tmp_path, {"state_dict": build_task(cfg).state_dict()}, cfg=cfg)


@pytest.mark.parametrize("recipe", ["models/conv_ae.yaml", "models/vae.yaml"])
def test_recon_grid_of_an_autoencoder_shows_clean_reconstruction_and_mse(tmp_path, monkeypatch, recipe):
    run_dir = untrained(tmp_path, recipe)
    drawn = {}
    real = figures.error_grid

    def spy(columns, target, output, path, title="", labels=None):
        drawn.update(columns=list(columns), target=target, output=output, labels=labels, title=title)
        return real(columns, target, output, path, title, labels)

    monkeypatch.setattr(figures, "error_grid", spy)
    result = invoke("viz", "recon-grid", run_dir)
    assert result.exit_code == 0, result.output
    assert_picture(run_dir / "grids" / "recon_test.png")
    assert drawn["columns"] == ["clean", "reconstruction"]  # no noisy column: an autoencoder sees clean digits
    run = load_run(run_dir)
    clean = commands.fixed_digits(run, run.cfg.viz.n_digits)
    assert torch.equal(drawn["target"], clean) and len(clean) == 8
    with torch.no_grad():
        want = run.task.reconstruct(clean)
    assert torch.allclose(drawn["output"], want, atol=1e-6)
    mse = per_image_mse(want, clean)
    assert drawn["labels"] == [f"{float(v):.4f}" for v in mse]  # each digit's MSE
    assert f"mean MSE {mse.mean():.4f}" in drawn["title"]


def test_viz_all_and_the_report_of_an_autoencoder_show_its_reconstructions(tmp_path):
    run_dir = untrained(tmp_path, "models/conv_ae.yaml")
    result = invoke("viz", "all", run_dir)
    assert result.exit_code == 0, result.output
    assert f"wrote {run_dir / 'grids' / 'recon_test.png'}" in result.output
    (run_dir / "grids" / "recon_test.png").unlink()
    result = invoke("report", run_dir)  # draws what is missing first
    assert result.exit_code == 0, result.output
    assert_picture(run_dir / "grids" / "recon_test.png")
    page = (run_dir / "reports" / "index.html").read_text()
    assert "<h2>Reconstructions</h2>" in page and "clean | reconstruction | absolute error" in page


@pytest.mark.parametrize("recipe", ["models/simclr.yaml", "models/classifier.yaml"])
def test_recon_grid_of_a_task_that_cannot_reconstruct_is_one_line(tmp_path, recipe):
    result = invoke("viz", "recon-grid", untrained(tmp_path, recipe))
    line = one_error_line(result)
    assert result.exit_code == 1
    assert "a reconstruction grid needs a run whose task can reconstruct (" in line
    assert all(name in line for name in ("autoencoder", "denoise", "vae"))
