"""Every notebook in examples/ runs top to bottom (nbclient) in a scratch folder, on the
interpreter that runs the tests, and shows what it promises: pictures and completed runs."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "examples").glob("*.ipynb"))
pytestmark = pytest.mark.slow
KERNEL = "mnistmax-tests"


def kernel_for_this_python(folder: Path) -> Path:
    """A kernelspec that starts this interpreter, so that no other installed `python3` kernel is picked."""
    spec = folder / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"}))
    return folder


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("JUPYTER_PATH", str(kernel_for_this_python(tmp_path / "jupyter")))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    workdir = tmp_path / "work"
    workdir.mkdir()
    nb = nbformat.read(path, as_version=4)
    # raises CellExecutionError, with the cell and its traceback, at the first cell that fails
    NotebookClient(nb, timeout=600, kernel_name=KERNEL, resources={"metadata": {"path": str(workdir)}}).execute()

    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    pictures = [out for out in outputs if "image/png" in out.get("data", {})]
    assert pictures, f"{path.name} displayed no picture"
    for run in (workdir / "outputs" / "runs").glob("*/"):  # a run it trains is short, but must end completed
        assert json.loads((run / "meta.json").read_text())["status"] == "completed", run.name
