"""MkDocs hooks (mkdocs.yml `hooks:`): fill the generated blocks of each page as it is rendered.

Every `<!-- generated: NAME -->` block (the tables derived from the registries, and the CLI
reference made from the Typer app) and the zoo table are made again from the installed code, so
the site never shows a stale table. The functions live in docs/hooks/generated.py.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location("mnistmax_docs_generated", Path(__file__).with_name("generated.py"))
generated = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = generated
_spec.loader.exec_module(generated)

_CACHE: dict = {}  # one build makes each block once
ROOT = Path(__file__).resolve().parents[2]


def on_config(config):
    # the changelog page includes ../CHANGELOG.md: found from the repository root, whatever the cwd
    snippets = config["mdx_configs"].setdefault("pymdownx.snippets", {})
    snippets["base_path"] = [str(ROOT)]
    return config


def on_page_markdown(markdown: str, page, config, files) -> str:
    return generated.fill(markdown, build=True, cache=_CACHE)
