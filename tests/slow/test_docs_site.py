"""The documentation site builds with `mkdocs build --strict` (about 12 s), and its CLI and API
reference pages hold every command and the public API (the fast checks of the pages' text are in
tests/test_docs.py)."""

import importlib.util
import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT
from tests.test_docs import command_paths

pytestmark = pytest.mark.slow


def test_the_site_builds_with_strict(tmp_path):
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings") is None:
        pytest.skip("mkdocs and mkdocstrings are not installed: pip install -e '.[docs]' (part of [test])")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                             "-d", str(tmp_path / "site")], capture_output=True, text=True, cwd=tmp_path,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    cli = (tmp_path / "site" / "reference" / "cli.html").read_text()
    for path in command_paths():  # every command and sub-command has its section in the CLI reference
        assert f"<code>mnistmax {path}</code>" in cli, path
    api = (tmp_path / "site" / "reference" / "api.html").read_text()
    for name in ("mnistmax.api.train", "mnistmax.api.load", "mnistmax.api.Model", "mnistmax.evaluation.evaluate"):
        assert f'id="{name}"' in api, name
