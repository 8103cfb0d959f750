"""The notebooks in examples/ are committed without outputs (tests/slow/test_notebooks.py runs them)."""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "examples").glob("*.ipynb"))


def test_the_examples_are_there():
    names = {p.name for p in NOTEBOOKS}
    assert {"01_first_denoiser.ipynb", "03_latent_space.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_stripped(path):
    nb = json.loads(path.read_text())  # plain JSON: no nbformat needed for this check
    assert nb["nbformat"] == 4
    code = [cell for cell in nb["cells"] if cell["cell_type"] == "code"]
    assert code, f"{path.name} has no code cells"
    kept = [i for i, cell in enumerate(nb["cells"])
            if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not kept, f"{path.name}: cells {kept} keep outputs or execution counts; clear them before committing"
