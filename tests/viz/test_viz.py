"""Pictures: every callback and command writes its files, and they are real images."""

import re

import pytest
from PIL import Image
from typer.testing import CliRunner

from mnistmax.cli import app
from tests.helpers import TINY, assert_picture

runner = CliRunner()


@pytest.fixture(scope="module")
def pictured_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("viz")
    result = runner.invoke(app, ["train", "-c", "configs/quick.yaml", *TINY, "train.epochs=3", "viz.every_n_epochs=1",
                                 f"logging.output_dir={out}"])
    assert result.exit_code == 0, result.output
    return next((out / "runs").iterdir())


def test_callbacks_write_grids_panels_and_animation(pictured_run):
    for epoch in (1, 2, 3):
        assert_picture(pictured_run / "grids" / f"recon_epoch_{epoch:03d}.png")
        assert_picture(pictured_run / "panels" / f"sigma_panel_epoch_{epoch:03d}.png")
    latest = pictured_run / "grids" / "recon_latest.png"
    assert latest.read_bytes() == (pictured_run / "grids" / "recon_epoch_003.png").read_bytes()
    assert_picture(pictured_run / "panels" / "sigma_panel_latest.png")
    with Image.open(pictured_run / "animations" / "training.gif") as gif:
        assert gif.n_frames == 3  # one frame per recorded epoch
        assert gif.info.get("loop") == 0
    # Gaussian noise on grey digits: no ablation maps, no ablation animation, no bitmap scores
    assert not list((pictured_run / "grids").glob("ablation_map_*.png"))
    assert not (pictured_run / "animations" / "ablation.gif").exists()
    header = (pictured_run / "metrics.csv").read_text().splitlines()[0]
    assert "val/psnr" in header and "val/precision" not in header


def test_every_n_epochs_and_last_epoch(tmp_path):
    result = runner.invoke(app, ["train", "-c", "configs/quick.yaml", *TINY, "train.epochs=3", "viz.every_n_epochs=2",
                                 f"logging.output_dir={tmp_path}"])
    assert result.exit_code == 0, result.output
    run = next((tmp_path / "runs").iterdir())
    names = sorted(p.name for p in (run / "grids").glob("recon_epoch_*.png"))
    assert names == ["recon_epoch_002.png", "recon_epoch_003.png"]


@pytest.mark.parametrize(
    "command, path",
    [
        ("recon-grid", "grids/recon_test.png"),
        ("sigma-panel", "panels/sigma_panel_test.png"),
        ("curves", "reports/curves.png"),
        ("cases", "grids/cases.png"),
    ],
)
def test_viz_commands(pictured_run, command, path):
    result = runner.invoke(app, ["viz", command, str(pictured_run)])
    assert result.exit_code == 0, result.output
    assert_picture(pictured_run / path)


def test_viz_all_draws_what_the_task_supports(pictured_run):
    for old in ("grids/recon_test.png", "panels/sigma_panel_test.png", "grids/cases.png", "reports/curves.png"):
        (pictured_run / old).unlink(missing_ok=True)
    result = runner.invoke(app, ["viz", "all", str(pictured_run)])
    assert result.exit_code == 0, result.output
    written = sorted(line.removeprefix("wrote ").split(pictured_run.name + "/")[1]
                     for line in result.output.splitlines() if line.startswith("wrote "))
    assert written == ["grids/cases.png", "grids/recon_test.png", "panels/sigma_panel_test.png", "reports/curves.png"]
    for path in written:
        assert_picture(pictured_run / path)
    assert not (pictured_run / "grids" / "ablation_map_test.png").exists()  # not a bitmap run


def test_psnr_curve_of_an_unevaluated_run_is_one_line(tmp_path):
    from mnistmax.tasks import dump_yaml
    from tests.helpers import one_error_line, tiny_config

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text(dump_yaml(tiny_config()))
    result = runner.invoke(app, ["viz", "psnr-curve", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "eval.json not found" in one_error_line(result) and "mnistmax eval" in result.output


def test_noise_gallery_png_and_gif(tmp_path):
    result = runner.invoke(app, ["viz", "noise-gallery", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert_picture(tmp_path / "noise_gallery.png", (600, 400))
    with Image.open(tmp_path / "noise_gallery.gif") as gif:
        assert gif.n_frames == 21


def test_report_is_self_contained_and_has_the_eval_table(pictured_run):
    result = runner.invoke(app, ["report", str(pictured_run)])
    assert result.exit_code == 0, result.output
    page = (pictured_run / "reports" / "index.html").read_text()
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == 6  # curves, PSNR curve, reconstructions, sigma panel, animation, cases
    assert all(s.startswith("data:image/") for s in sources)
    assert "href=" not in page.replace('href="#', "")
    assert "Evaluation on the test split" in page and "gaussian_filter PSNR" in page and "σ = 0.5" in page
    for heading in ("Training curves", "PSNR against the noise level", "Reconstructions", "Across noise levels",
                    "Training animation", "Best and worst test digits", "Config"):
        assert heading in page
    assert "data:image/gif;base64," in page
    card = (pictured_run / "README.md").read_text()  # the model card, written with the report
    for part in ("## Numbers", "| noise | sigma |", "## Use it", "mnistmax.load("):
        assert part in card


def test_viz_on_a_missing_run_is_one_line(tmp_path):
    result = runner.invoke(app, ["viz", "recon-grid", str(tmp_path / "nope")])
    assert result.exit_code == 1 and "not found" in result.output
