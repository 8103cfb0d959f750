"""The README and the MkDocs site (docs/): the site builds with --strict, every relative link and
picture resolves, every `mnistmax COMMAND` shown exists, the derived tables are current, the
hand-written tables name what the code has, and every shell and Python snippet is either run by
tests/slow/test_docs_snippets.py or says why not."""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import ROOT

README = ROOT / "README.md"
DOCS = ROOT / "docs"
RUN_LANGUAGES = ("bash", "python")  # fenced blocks the snippet test executes
SHOWN_LANGUAGES = ("text", "yaml", "json", "toml")  # output and files, shown only
MARKER = re.compile(r"<!--\s*(not-run|exits):\s*(.*?)\s*-->")


def pages() -> list[Path]:
    """README.md and every page of the site, in a stable order."""
    return [README, *sorted(p for p in DOCS.rglob("*.md") if "hooks" not in p.relative_to(DOCS).parts)]


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    language: str
    code: str
    not_run: str | None = None  # the reason, when the block is marked not-run
    exits: int = 0  # the exit code the block must end with

    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def fenced_blocks(page: Path) -> list[Block]:
    """Every fenced code block of `page`, with the marker on the last non-blank line before it."""
    lines = page.read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        match = re.match(r"^(`{3,})(\S*)\s*$", lines[i])
        if not match:
            i += 1
            continue
        fence, language, start = match.group(1), match.group(2), i
        body = []
        i += 1
        while i < len(lines) and not lines[i].startswith(fence):
            body.append(lines[i])
            i += 1
        block = Block(page, start + 1, language, "\n".join(body) + "\n")
        before = next((ln for ln in reversed(lines[:start]) if ln.strip()), "")
        marker = MARKER.fullmatch(before.strip())
        if marker and marker.group(1) == "not-run":
            block.not_run = marker.group(2)
        elif marker:
            block.exits = int(marker.group(2))
        blocks.append(block)
        i += 1
    return blocks


def snippets(page: Path) -> list[Block]:
    return [b for b in fenced_blocks(page) if b.language in RUN_LANGUAGES]


def _without_code(text: str) -> str:
    return re.sub(r"^(`{3,}).*?^\1", "", text, flags=re.S | re.M)


# ---------------------------------------------------------------- the pages' own facts


TEST_REFERENCE = re.compile(r"^(?:tests/)?((?:[\w.]+/)*test_\w+\.py)(?:::([\w*\[\]-]+))?$")


def test_every_test_reliability_md_names_exists():
    """Each `file.py::test_name` (or `::test_name` after a file in the same table row, `*` a wildcard)
    in docs/RELIABILITY.md is a file under tests/ that defines such a test."""
    import fnmatch

    checked = 0
    for row in (DOCS / "RELIABILITY.md").read_text().splitlines():
        current = None
        for token in re.findall(r"`([^`]+)`", row):
            match = TEST_REFERENCE.match(token)
            if match:
                current = ROOT / "tests" / match.group(1)
                assert current.is_file(), f"docs/RELIABILITY.md names {token}: no such file under tests/"
                name = match.group(2)
            elif token.startswith("::"):
                assert current is not None, f"docs/RELIABILITY.md: {token} follows no test file in its row: {row[:80]}"
                name = token[2:]
            else:
                continue
            checked += 1
            if name:
                defined = re.findall(r"^def (test_\w+)", current.read_text(), flags=re.M)
                assert fnmatch.filter(defined, name.split("[")[0]), \
                    f"docs/RELIABILITY.md names {token}: {current.relative_to(ROOT)} defines no such test"
    assert checked > 50


def test_every_page_is_in_the_nav():
    import yaml

    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]

    def files(items):
        for item in items:
            value = next(iter(item.values())) if isinstance(item, dict) else item
            yield from files(value) if isinstance(value, list) else [value]

    listed = set(files(nav))
    assert {str(p.relative_to(DOCS)) for p in pages()[1:]} == listed


# ---------------------------------------------------------------- links, commands, length


def test_the_readme_is_a_front_page():
    lines = README.read_text().splitlines()
    assert len(lines) <= 260, f"README.md has {len(lines)} lines; move detail into docs/"


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|<img\s[^>]*src=\"([^\"]+)\"")


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    text = re.sub(r"`[^`\n]*`", "", _without_code(page.read_text()))
    broken = []
    for match in LINK.finditer(text):
        target = match.group(1) or match.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL or an anchor on the same page
        path = (page.parent / target.split("#")[0]).resolve()
        if not path.exists():
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)}: links to missing files: {broken}"


def command_paths() -> set[str]:
    """'train', 'viz', 'viz recon-grid', ...: every command path of the app."""
    import typer

    from mnistmax.cli import app

    out: set[str] = set()

    def walk(command, prefix: str):
        for name, sub in getattr(command, "commands", {}).items():
            out.add(f"{prefix}{name}")
            walk(sub, f"{prefix}{name} ")

    walk(typer.main.get_command(app), "")
    return out


MENTION = re.compile(r"(?<![\w./-])mnistmax +([a-z][a-z0-9-]*)(?![\w.])(?: +([a-z][a-z0-9-]*)(?![\w.]))?")


def mentioned_commands(text: str) -> set[tuple[str, str | None]]:
    """(command, next word) for every `mnistmax COMMAND` in code blocks and inline code."""
    code = [m.group(2) for m in re.finditer(r"^(`{3,})[^\n]*\n(.*?)^\1", text, flags=re.S | re.M)]
    code += re.findall(r"`([^`\n]+)`", _without_code(text))
    return {(m.group(1), m.group(2)) for chunk in code for m in MENTION.finditer(chunk)}


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_command_shown_exists(page):
    paths = command_paths()
    groups = {p.split()[0] for p in paths if " " in p}
    unknown = []
    for command, word in mentioned_commands(page.read_text()):
        if command not in paths:
            unknown.append(command)
        elif command in groups and word is not None and f"{command} {word}" not in paths:
            unknown.append(f"{command} {word}")
    assert not unknown, f"{page.relative_to(ROOT)} shows commands the app does not have: {sorted(set(unknown))}"


# ---------------------------------------------------------------- snippets: run, or say why not


def test_every_snippet_is_run_or_says_why_not():
    problems = []
    for page in pages():
        for block in fenced_blocks(page):
            if block.language not in RUN_LANGUAGES + SHOWN_LANGUAGES:
                problems.append(f"{block.where()}: fenced block of language {block.language!r}; use "
                                f"{' or '.join(RUN_LANGUAGES)} (run) or one of {', '.join(SHOWN_LANGUAGES)} (shown)")
            if block.not_run is not None and len(block.not_run) < 8:
                problems.append(f"{block.where()}: `not-run` needs a reason, e.g. <!-- not-run: needs a GPU -->")
            if block.not_run is not None and block.language not in RUN_LANGUAGES:
                problems.append(f"{block.where()}: a {block.language} block is never run; remove its marker")
    assert not problems, "\n".join(problems)
    assert sum(len(snippets(p)) for p in pages()) > 40  # the parser found the blocks


# ---------------------------------------------------------------- derived and hand-written tables


def _generated():
    spec = importlib.util.spec_from_file_location("docs_generated", DOCS / "hooks" / "generated.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generated_tables_are_current():
    stale = _generated().stale_files()
    assert not stale, (f"stale generated tables in {[str(p.relative_to(ROOT)) for p in stale]}: "
                       "run `python docs/hooks/generated.py`")


def test_the_readme_shows_the_zoo_table():
    from mnistmax.zoo.build import zoo_table

    assert zoo_table() in README.read_text()


def _first_column(page: Path, header: str) -> list[str]:
    """The first cells of the table whose header row starts with `header`."""
    lines = page.read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(f"| {header} |"))
    cells = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells.append(line.split("|")[1].strip())
    return cells


def test_the_recipe_table_names_every_shipped_recipe():
    from mnistmax.config.load import packaged_recipes

    named = set()
    for cell in _first_column(DOCS / "configuration.md", "recipe (`-c`)"):
        named |= set(re.findall(r"`([^`]+)`", cell))
    assert named == set(packaged_recipes())


def test_the_source_table_names_every_data_source():
    from mnistmax.data.sources import SOURCES

    cells = _first_column(DOCS / "data.md", "`data.source`")
    assert {re.search(r"`(\w+)`", c).group(1) for c in cells} == set(SOURCES.names())


def test_the_extras_tables_name_every_extra():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    for page, header in ((DOCS / "getting-started.md", "extra"), (README, "extra")):
        named = set()
        for cell in _first_column(page, header):
            named |= set(re.findall(r"`([^`]+)`", cell))
        assert named == extras, f"{page.name}: extras table {sorted(named)} != pyproject {sorted(extras)}"
