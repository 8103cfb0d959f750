"""DESIGN.md's structure, checked on the source: every mnistmax import (module level, inside
functions, relative, under TYPE_CHECKING) goes to the module's own layer or below in the
import-order table, so there is no import cycle; and no code outside tasks/ branches on a
task's name."""

import ast
import re
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mnistmax"

# DESIGN.md v3's import-order table; the longest prefix that matches a module names its layer.
LAYERS = {
    0: ["errors", "_version", "files", "hardware", "registry"],  # registry: the one Registry helper
    1: ["models", "losses", "data.noise", "data.augment", "data.splits", "data.preprocess", "data.inputs",
        "data.sources", "data.arrays", "data.folder", "eval.metrics", "eval.baselines", "eval.projection",
        "inference", "viz.figures", "viz.psnr_figures", "viz.animate", "viz.encoder_figures", "viz.limitation_figures",
        "report.html", "analysis.modes"],  # analysis.modes: the analyses' mode names, light for the CLI
    2: ["config"],
    3: ["data"],
    # building blocks given a run or a task: eval runners, callbacks, pictures and report sections of a run
    4: ["eval", "training.callbacks", "training.tracking", "viz.run_figures", "viz.operating_figures", "viz.commands",
        "report.sections", "report.card", "report.denoise", "report.autoencoder", "report.representation",
        "report.limitations", "analysis.latent", "analysis.scores"],
    5: ["tasks"],
    6: ["runs", "training", "analysis", "exported", "zoo"],  # exported: reading an export folder; zoo: its entries
    7: ["report", "experiments", "export", "api", "evaluation", "use", "userfiles", "analysis.compare",
        "analysis.compare_encoders",
        "analysis.limitations_report", "zoo.build"],
    8: ["cli", "__main__", ""],  # "": the package facade (mnistmax.load, mnistmax.Model: the API, lazily)
}
# Imports that may go up, each with its reason. Nothing else may.
ALLOWED: set[tuple[str, str]] = set()


def layer_of(module: str) -> int:
    rel = module.removeprefix("mnistmax").lstrip(".")
    matches = [(len(p), layer) for layer, prefixes in LAYERS.items() for p in prefixes
               if p == "" or rel == p or rel.startswith(p + ".")]
    return max(matches)[1]


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports_of(name: str, path: Path, known: dict) -> set[tuple[str, int]]:
    """(mnistmax module, line) for every import statement anywhere in the file."""
    def resolve(dotted: str) -> str | None:
        while dotted and dotted not in known:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    found = set()
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - (node.level - 1)] + ([node.module] if node.module else []))
            targets = [f"{base}.{a.name}" for a in node.names]
        for target in targets:
            module = resolve(target) if target.startswith("mnistmax") else None
            if module and module != name and not name.startswith(module + "."):
                found.add((module, node.lineno))
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: {m for m, _ in imports_of(name, path, known)} for name, path in known.items()}


def upward_imports() -> list[str]:
    known = modules()
    return sorted(f"{name}:{line} imports {module} (layer {layer_of(name)} -> {layer_of(module)})"
                  for name, path in known.items() for module, line in imports_of(name, path, known)
                  if layer_of(module) > layer_of(name) and (name, module) not in ALLOWED)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_module_has_a_layer_and_the_table_is_in_order():
    assert layer_of("mnistmax.data.noise.additive") == 1 and layer_of("mnistmax.data.datamodule") == 3
    assert layer_of("mnistmax.cli.core") == 8 and layer_of("mnistmax") == 8 and layer_of("mnistmax.tasks.base") == 5
    assert len(modules()) > 90


def test_imports_go_one_way_with_lazy_ones_counted():
    assert upward_imports() == []


def test_no_import_cycles_with_lazy_ones_counted():
    graph = import_graph()
    assert cycles(graph) == []
    # the reader sees imports inside functions and relative ones
    assert "mnistmax.tasks.configure" in graph["mnistmax.tasks"]  # module level
    assert "mnistmax.analysis.judge" in graph["mnistmax.training.loss_networks"]  # inside a function


@pytest.mark.parametrize("planted", ["\n\ndef planted():\n    from mnistmax.runs import load_run\n",
                                     "\nfrom ..runs import load_run  # noqa\n"], ids=["inside a function", "relative"])
def test_a_planted_upward_import_fails(tmp_path, monkeypatch, planted):
    copy = tmp_path / "mnistmax"
    for path in PACKAGE.rglob("*.py"):
        target = copy / path.relative_to(PACKAGE)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text())
    figures = copy / "viz" / "figures.py"  # a layer-1 module reaching up to the run loader (layer 6)
    figures.write_text(figures.read_text() + planted)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", copy)
    assert [line.split(":")[0] for line in upward_imports()] == ["mnistmax.viz.figures"]
    assert any("mnistmax.viz.figures" in c for c in cycles(import_graph()))  # and here it closes a cycle too


def test_nothing_outside_tasks_branches_on_a_task_name():
    pattern = re.compile(r"\btask\s*(==|!=|\bin\b)|\.task\s*(==|!=|\bin\b)")
    hits = [f"{p.relative_to(PACKAGE)}:{i}" for p in PACKAGE.rglob("*.py") if "tasks" not in p.parts
            for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert hits == []
