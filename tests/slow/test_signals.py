"""SIGTERM to a real `mnistmax train` process: it saves, marks the run interrupted and says
how to resume (the in-process variants are in tests/runs/test_reliability_runs.py)."""

import json

import pytest

from tests.helpers import TINY

pytestmark = pytest.mark.slow


def test_sigterm_saves_marks_interrupted_and_prints_the_resume_command(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    cmd = [sys.executable, "-m", "mnistmax", "train", "-c", "configs/quick.yaml", *TINY, "train.epochs=200",
           "viz.enabled=false", f"logging.output_dir={tmp_path}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until an epoch has finished (last.ckpt exists)
        if list(tmp_path.glob("runs/*/checkpoints/last.ckpt")):
            break
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0
    run_dir = next((tmp_path / "runs").iterdir())
    assert json.loads((run_dir / "meta.json").read_text())["status"] == "interrupted"
    assert (run_dir / "checkpoints" / "interrupted.ckpt").is_file()
    assert f"mnistmax train --resume {run_dir}" in output.replace("\n", "")
