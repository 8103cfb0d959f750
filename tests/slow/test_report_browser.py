"""Open a run's HTML report in headless Chromium and check the screenshot shows something."""

import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from mnistmax.cli import app
from tests.helpers import TINY

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
def test_report_renders_in_chromium(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["train", "-c", "configs/quick.yaml", *TINY, f"logging.output_dir={tmp_path}"])
    assert result.exit_code == 0, result.output
    run = next((tmp_path / "runs").iterdir())
    assert runner.invoke(app, ["report", str(run)]).exit_code == 0
    shot = tmp_path / "report.png"
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,2000",
         (run / "reports" / "index.html").resolve().as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    assert pixels.shape == (2000, 1200)
    assert pixels.std() > 20  # text, tables and pictures, not a blank page
    assert (pixels < 60).mean() > 0.01  # dark digit backgrounds from the embedded pictures
