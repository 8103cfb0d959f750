"""mnistmax draws on its own Figure objects: importing it and drawing leave pyplot's backend and
figure list alone (a notebook's `plt.show()` keeps working)."""

import subprocess
import sys

SCRIPT = """
import matplotlib
matplotlib.use("svg")
import matplotlib.pyplot as plt
import torch
import mnistmax.viz.figures as figures
from mnistmax.viz import limitation_figures, psnr_figures, encoder_figures, operating_figures  # noqa: F401
path = figures.labelled_rows([[torch.rand(28, 28)] * 3], ["row"], ["a", "b", "c"], "{out}", "title")
assert path.stat().st_size > 1000 and path.read_bytes()[:4] == b"\\x89PNG", path
assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
assert plt.get_fignums() == [], plt.get_fignums()
print("ok")
"""


def test_no_global_backend_switch_and_no_pyplot_figures(tmp_path):
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(out=tmp_path / "rows.png")], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
