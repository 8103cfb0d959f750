"""The tables of the docs that are derived from the code, never typed by hand.

A block in a Markdown file between `<!-- generated: NAME -->` and `<!-- end generated: NAME -->`
is the output of `BLOCKS[NAME]()`. `mkdocs build` fills every block when it renders a page (the
hook in docs/hooks/mnistmax_docs.py); this script rewrites the blocks in the files, so that the
Markdown read on GitHub says the same, and `tests/test_docs.py` checks that it does:

    python docs/hooks/generated.py          # rewrite the blocks in README.md and docs/*.md
    python docs/hooks/generated.py --check  # exit 1 and name the stale blocks

Blocks in BUILD_ONLY (the CLI reference) are long and follow every help text; the files keep a
one-line placeholder and only the site has them.
"""

from __future__ import annotations

import re
import subprocess
import sys
import typing
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"(<!-- generated: (?P<name>[a-z0-9-]+) -->\n)(?P<body>.*?)(<!-- end generated: (?P=name) -->)",
                   re.S)
ZOO_START, ZOO_END = "<!-- zoo table: made by `mnistmax zoo build`; do not edit -->", "<!-- end of zoo table -->"


def markdown_files() -> list[Path]:
    """README.md and every page of the site (docs/**/*.md)."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(columns: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _first_sentence(doc: str | None) -> str:
    text = " ".join((doc or "").split())
    match = re.match(r"(.+?\.)(\s|$)", text)
    return match.group(1) if match else text


def _bounds(metadata) -> str:
    low = high = None
    for item in metadata:
        for attr, op in (("ge", ">="), ("gt", ">")):
            if getattr(item, attr, None) is not None:
                low = (op, getattr(item, attr))
        for attr, op in (("le", "<="), ("lt", "<")):
            if getattr(item, attr, None) is not None:
                high = (op, getattr(item, attr))
    if low and high and low[0] == ">=" and high[0] == "<=":
        return f"{low[1]}..{high[1]}"
    return ", ".join(f"{op} {v}" for op, v in filter(None, (low, high)))


def _value(value) -> str:
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    return str(value)


def networks() -> str:
    """Every registered network: the tasks it serves, parameters at its defaults, its model.* arguments."""
    from mnistmax.models import count_parameters, create_model, get_entry, list_models
    from mnistmax.models._registry import _options_model
    from mnistmax.tasks import TASKS

    task_of: dict[str, list[str]] = {}
    for name, cls in TASKS.items():
        for family in cls.families():
            task_of.setdefault(family, []).append(name)
    rows = []
    for name in list_models():
        entry = get_entry(name)
        args = []
        for key, field in _options_model(name).model_fields.items():
            bounds = _bounds(field.metadata)
            args.append(f"`{key}={_value(field.default)}`" + (f" ({bounds})" if bounds else ""))
        gated = f"gated `{entry.wraps}`" if entry.wraps else ""
        rows.append([f"`{name}`", ", ".join(task_of.get(entry.family, ["-"])),
                     f"{count_parameters(create_model(name)):,}", ", ".join(args) or "-", gated])
    return _table(["`model.name`", "task", "parameters (defaults)", "`model.*` arguments (default, range)", "note"],
                  rows)


def tasks() -> str:
    """Every task: the networks it takes, its own config section, what a trained model of it can do."""
    from mnistmax.models import list_models
    from mnistmax.tasks import TASKS

    rows = []
    for name, cls in TASKS.items():
        nets = sorted({n for family in cls.families() for n in list_models(family) if not n.startswith("ablation_")})
        gated = any(n.startswith("ablation_") for family in cls.families() for n in list_models(family))
        listed = ", ".join(f"`{n}`" for n in nets) + (" and their `ablation_*` forms" if gated else "")
        rows.append([f"`{name}`", listed,
                     ", ".join(f"`{s}:`" for s in cls.options) or "-",
                     ", ".join(f"`{c}`" for c in sorted(cls.capabilities))])
    return _table(["`task`", "networks (`model.name`)", "own section", "`mnistmax.load(...)` methods"], rows)


def noise_kinds() -> str:
    """Every noise kind: what its level means (its function's docstring) and its noise.params.<kind>."""
    from mnistmax.data.noise import ADDITIVE_KINDS, NOISE, noise_params

    rows = []
    for kind, fn in NOISE.items():
        params = ", ".join(f"`{k}` {_value(v)}" for k, v in noise_params(kind).items()) or "-"
        rows.append([f"`{kind}`", "adds ink only" if kind in ADDITIVE_KINDS else "destructive",
                     _first_sentence(fn.__doc__), params])
    return _table(["`noise.kind`", "", "what a level does", "`noise.params.<kind>` (defaults)"], rows)


def noise_presets() -> str:
    """noise.preset: the settings each preset fills in."""
    from mnistmax.data.noise import PRESETS

    rows = []
    for name, values in PRESETS.items():
        params = "; ".join(f"{kind}: " + ", ".join(f"{k} {_value(v)}" for k, v in p.items())
                           for kind, p in values.get("params", {}).items()) or "-"
        rows.append([f"`{name}`", str(values["train_sigma_range"]), str(values["test_sigmas"]),
                     str(values["kinds_per_image"]), params])
    return _table(["preset", "`train_sigma_range`", "`test_sigmas`", "`kinds_per_image`", "`params`"], rows)


def augment_presets() -> str:
    """augment.preset: the strengths each preset fills in."""
    from mnistmax.data.augment import AUGMENT_PRESETS

    keys = list(next(iter(AUGMENT_PRESETS.values())))
    return _table(["preset", *(f"`{k}`" for k in keys)],
                  [[f"`{name}`", *(_value(values[k]) for k in keys)] for name, values in AUGMENT_PRESETS.items()])


def losses() -> str:
    """train.loss: every reconstruction loss, with its docstring's first sentence."""
    from mnistmax.losses import LOSSES

    return _table(["`train.loss`", "what it computes"],
                  [[f"`{name}`", _first_sentence(getattr(fn, "__doc__", "")) or KNOWN.get(name, "")]
                   for name, fn in LOSSES.items()])


KNOWN = {"l2": "Mean squared error.", "l1": "Mean absolute error."}  # the two losses without a docstring


def _choices(annotation, metadata=()) -> str:
    """The values a field takes when they are a list: a Literal's values, true / false, a registry's names."""
    for item in (*metadata, *getattr(annotation, "__metadata__", ())):
        registry = getattr(getattr(item, "func", None), "__self__", None)
        if registry is not None and hasattr(registry, "names"):
            return " | ".join(f"`{n}`" for n in registry.names())
    if typing.get_origin(annotation) is typing.Literal:
        return " | ".join(f"`{_value(v)}`" for v in typing.get_args(annotation))
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, getattr(__import__("types"), "UnionType", None)) and args:
        parts = [_choices(a) or ("`true` | `false`" if a is bool else "") for a in args]
        if all(parts):
            return " | ".join(parts)
    return ""


def _section_rows(section: str, model) -> list[list[str]]:
    rows = []
    for key, field in model.model_fields.items():
        if field.is_required():
            default = "required"
        elif field.default_factory is not None:
            default = f"`{_value(field.default_factory())}`"
        else:
            default = f"`{_value(field.default)}`"
        allowed = _choices(field.annotation, field.metadata) or _bounds(field.metadata)
        rows.append([f"`{section}.{key}`" if section else f"`{key}`", default, allowed])
    return rows


def config_keys() -> str:
    """Every key of a run config with its default, and the values it takes where they are a list or range."""
    from pydantic import BaseModel

    from mnistmax.config import RunConfig
    from mnistmax.tasks.configure import option_sections

    top = [k for k, f in RunConfig.model_fields.items()
           if not (isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel))]
    rows = [row for row in _section_rows("", RunConfig) if row[0].strip("`") in top]
    for key, field in RunConfig.model_fields.items():
        if key == "model":
            rows.append(["`model.name`", f"`{RunConfig().model.name}`",
                         "a network of `mnistmax models`; its arguments sit beside it (`model.base_ch`, ...)"])
        elif key not in top:
            rows += _section_rows(key, field.annotation)
    for section, model in option_sections().items():
        rows += _section_rows(section, model)
    return _table(["key", "default", "takes"], rows)


def cli_reference() -> str:
    """`mnistmax --help` of every command and sub-command, made by Typer's own doc generator."""
    out = subprocess.run([sys.executable, "-m", "typer", "mnistmax.cli", "utils", "docs", "--name", "mnistmax"],
                         capture_output=True, text=True, check=True, cwd=ROOT / "docs").stdout
    # the generator's headings start at #; on the page they sit below its own title
    out = re.sub(r"^(#+) ", lambda m: "#" + m.group(1) + " ", out, flags=re.M)
    return out.split("\n", 1)[1].lstrip("\n") if out.startswith("## `mnistmax`") else out


BLOCKS: dict[str, Callable[[], str]] = {
    "networks": networks, "tasks": tasks, "noise-kinds": noise_kinds, "noise-presets": noise_presets,
    "augment-presets": augment_presets, "losses": losses, "config-keys": config_keys, "cli-reference": cli_reference,
}
BUILD_ONLY = {"cli-reference": "The reference is generated from the app when the site is built "
                               "(`mkdocs build`); here, `mnistmax COMMAND --help` prints the same.\n"}


def zoo_block() -> str:
    from mnistmax.zoo.build import zoo_table

    return zoo_table()


def fill(text: str, build: bool, cache: dict | None = None) -> str:
    """`text` with every generated block (and a zoo table) made again; `build`: BUILD_ONLY blocks too."""
    cache = {} if cache is None else cache

    def made(name: str) -> str:
        if name not in BLOCKS:
            raise KeyError(f"unknown generated block {name!r}; valid: {', '.join(BLOCKS)}")
        if not build and name in BUILD_ONLY:
            return BUILD_ONLY[name]
        if name not in cache:
            cache[name] = BLOCKS[name]()
        return cache[name]

    text = BLOCK.sub(lambda m: m.group(1) + made(m.group("name")) + m.group(4), text)
    if ZOO_START in text and ZOO_END in text:
        head, rest = text.split(ZOO_START, 1)
        _, tail = rest.split(ZOO_END, 1)
        if "zoo" not in cache:
            cache["zoo"] = zoo_block()
        text = f"{head}{ZOO_START}\n{cache['zoo']}{ZOO_END}{tail}"
    return text


def stale_files() -> list[Path]:
    """The Markdown files whose generated blocks differ from what the code makes now."""
    cache: dict = {}
    return [path for path in markdown_files() if fill(path.read_text(), False, cache) != path.read_text()]


def main(argv: list[str]) -> int:
    if "--check" in argv:
        stale = stale_files()
        for path in stale:
            print(f"stale generated tables: {path.relative_to(ROOT)} (run: python docs/hooks/generated.py)")
        return 1 if stale else 0
    cache: dict = {}
    for path in markdown_files():
        text = path.read_text()
        new = fill(text, False, cache)
        if new != text:
            path.write_text(new)
            print(f"rewrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
