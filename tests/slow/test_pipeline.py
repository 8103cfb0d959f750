"""`make demo-mnist` (the full pipeline on configs/quick.yaml) end to end in a scratch folder."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
SMALL = "train.epochs=2 data.limit_train=256 data.limit_test=64 model.base_ch=8 noise.test_sigmas=[0.1,0.5]"


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
def test_demo_pipeline_writes_every_file(tmp_path):
    for name in ("Makefile", "configs", "pyproject.toml", "constraints.txt"):
        os.symlink(ROOT / name, tmp_path / name)
    # the Makefile's .venv/bin/{python,mnistmax} run this interpreter, whatever venv the tests run in
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name, command in (("python", f'exec "{sys.executable}" "$@"'),
                          ("mnistmax", f'exec "{sys.executable}" -m mnistmax "$@"')):
        (bin_dir / name).write_text(f"#!/bin/sh\n{command}\n")
        (bin_dir / name).chmod(0o755)
    (tmp_path / ".venv" / ".installed").touch()  # newer than pyproject.toml: sub-makes install nothing either
    # -o: the installed .venv counts as up to date (this test must not reinstall anything)
    proc = subprocess.run(["make", "-o", ".venv/.installed", "demo-mnist", f"OVERRIDES={SMALL}"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run = next((tmp_path / "outputs" / "runs").iterdir())
    for name in ("eval/eval.json", "grids/recon_test.png", "panels/sigma_panel_test.png", "reports/curves.png",
                 "grids/cases.png", "reports/limitations.json", "reports/limitations.html",
                 "reports/frequency_analysis.png", "reports/index.html"):
        assert (run / name).is_file(), name
    assert json.loads((run / "meta.json").read_text())["status"] == "completed"
    assert "<h2>Limitations</h2>" in (run / "reports" / "index.html").read_text()
    assert f"report: {(run / 'reports' / 'index.html').resolve()}" in proc.stdout.replace("\n", "")
