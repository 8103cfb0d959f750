"""Every shell and Python snippet of the README and the docs runs as written.

Each page's fenced `bash` and `python` blocks run in order, in one fresh folder per page outside
the checkout (so mnistmax is found as installed, never through the working directory), with
MNISTMAX_OUTPUT_DIR inside that folder: a block may use what an earlier block of its page made
(`latest`, a file). A block marked `<!-- not-run: REASON -->` is skipped and reported with its
reason; `<!-- exits: N -->` must end with exit code N. Each page prints its blocks' times and the
blocks it skipped, with their reasons (`pytest -s`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.test_docs import Block, pages, snippets

pytestmark = pytest.mark.slow

BLOCK_TIMEOUT = 600  # seconds; the slowest block (a short search) takes well under a minute


def environment(folder: Path) -> dict:
    """The user's environment, minus anything that would find the checkout, plus the venv's scripts."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MNISTMAX_OUTPUT_DIR", "VIRTUAL_ENV")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MNISTMAX_OUTPUT_DIR"] = str(folder / "outputs")
    env["MNISTMAX_CACHE"] = str(folder / "cache")
    env["MPLBACKEND"] = "Agg"
    env.setdefault("COLUMNS", "200")
    return env


def run_block(block: Block, folder: Path, env: dict, index: int) -> subprocess.CompletedProcess:
    if block.language == "python":
        script = folder / f"snippet_{index}.py"
        script.write_text(block.code)
        command = [sys.executable, str(script)]
    else:
        command = ["bash", "-e", "-o", "pipefail", "-c", block.code]
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT)


@pytest.mark.parametrize("page", [p for p in pages() if snippets(p)], ids=lambda p: str(p.relative_to(ROOT)))
def test_the_snippets_of_a_page_run(page, tmp_path_factory):
    folder = tmp_path_factory.mktemp(page.stem.lower())
    assert ROOT not in folder.resolve().parents  # outside the checkout
    env = environment(folder)
    found = subprocess.run([sys.executable, "-c", "import mnistmax, sys; print(mnistmax.__file__)"], cwd=folder,
                           env=env, capture_output=True, text=True)
    assert found.returncode == 0 and Path(found.stdout.strip()).parent.parent != folder, found.stderr

    started, ran, skipped = time.monotonic(), 0, []
    for index, block in enumerate(snippets(page)):
        if block.not_run is not None:
            skipped.append(f"{block.where()}: {block.not_run}")
            continue
        t0 = time.monotonic()
        result = run_block(block, folder, env, index)
        assert result.returncode == block.exits, (
            f"{block.where()} ended with exit code {result.returncode} (expected {block.exits}):\n{block.code}\n"
            f"--- stdout (end)\n{result.stdout[-3000:]}\n--- stderr (end)\n{result.stderr[-3000:]}")
        if block.exits == 0:
            assert "Traceback" not in result.stderr, f"{block.where()} printed a traceback:\n{result.stderr[-3000:]}"
        ran += 1
        print(f"{block.where()}: {time.monotonic() - t0:.1f} s")
    total = len(snippets(page))
    assert ran + len(skipped) == total
    print(f"{page.relative_to(ROOT)}: {ran} of {total} blocks run in {time.monotonic() - started:.0f} s"
          + "".join(f"\n    not run, {line}" for line in skipped))

