"""zoo list, zoo show, zoo build: the pretrained models shipped in the package."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from mnistmax.cli.common import OUTPUT_DIR, USE, ZooEntry, app, console, echo, handle_errors
from mnistmax.zoo import ENTRIES

zoo_app = typer.Typer(help="Pretrained models shipped in the package: use one anywhere a run goes as zoo:<name>.",
                      no_args_is_help=True)
app.add_typer(zoo_app, name="zoo", rich_help_panel=USE)


def _entry_names(incomplete: str) -> list[str]:
    """Entry names for the shell, with zoo: when that is being typed."""
    prefix = "zoo:" if incomplete.startswith("zoo:") else ""
    return [prefix + n for n in ENTRIES if (prefix + n).startswith(incomplete)]


@zoo_app.command("list")
@handle_errors
def zoo_list(as_json: bool = typer.Option(False, "--json", help="a JSON list of objects instead of a table"),
             as_markdown: bool = typer.Option(False, "--markdown", help="the markdown table of docs/ZOO.md")):
    """Every entry: name, task, network, parameters, dataset, headline numbers on its test split, size."""
    from mnistmax.zoo import built, entry, summary
    from mnistmax.zoo.build import headline_text, zoo_table

    if as_markdown:
        typer.echo(zoo_table(), nl=False)
        return
    entries = [entry(name) for name in built()]
    if as_json:
        typer.echo(json.dumps([summary(e) for e in entries], indent=1))
        return
    table = Table(title=f"mnistmax zoo: {len(entries)} pretrained models (use as zoo:<name>)")
    for col in ("name", "task", "network", "parameters", "dataset", "headline (test split)", "size"):
        table.add_column(col, justify="right" if col in ("parameters", "size") else "left")
    for e in entries:
        s = summary(e)
        table.add_row(s["name"], s["task"], s["network"], f"{s['parameters']:,}", s["dataset"].split(" (")[0],
                      headline_text(e), f"{s['size_bytes'] / 1e6:.2f} MB")
    console.print(table)


@zoo_app.command("show")
@handle_errors
def zoo_show(name: str = typer.Argument(..., autocompletion=_entry_names,
                                        help="an entry of `mnistmax zoo list` (with or without zoo:)")):
    """An entry's model card: where it came from, its numbers, its licence, how to use it."""
    from mnistmax.zoo import entry

    typer.echo((entry(name).folder / "README.md").read_text())


@zoo_app.command("check")
@handle_errors
def zoo_check(names: Optional[List[ZooEntry]] = typer.Argument(None, help="entries to check (default: all built)",
                                                               show_default=False),
              full: bool = typer.Option(False, "--full", help="every noise kind and the baselines, not only the first"),
              output_dir: Optional[Path] = OUTPUT_DIR):
    """Evaluate entries again on their test split and compare with their recorded numbers (within 0.2 %, or
    one test item for an accuracy)."""
    from mnistmax.errors import MnistmaxError
    from mnistmax.zoo import built
    from mnistmax.zoo.build import TOLERANCE, check_entry

    failed = []
    for name in [n.value for n in names or []] or built():
        results = check_entry(name, output_dir, quick=not full)
        bad = [r for r in results if not r["ok"]]
        echo(f"{name}: {len(results) - len(bad)} of {len(results)} numbers reproduced within {100 * TOLERANCE:g} % "
             "(an accuracy: or one test item)"
             + "".join(f"; {r['row']} {r['key']} {r['measured']:.6g} (recorded {r['recorded']:.6g})" for r in bad[:3]))
        failed += [name] if bad else []
    if failed:
        raise MnistmaxError(f"{len(failed)} entries did not reproduce their numbers: {', '.join(failed)}")


@zoo_app.command("build")
@handle_errors
def zoo_build(names: Optional[List[ZooEntry]] = typer.Argument(None, help="entries to build (default: all)",
                                                               show_default=False),
              run: Optional[Path] = typer.Option(None, "--run", help="package this run instead of training one: it "
                                                 "must have been trained by the entry's recipe (one entry only)"),
              into: Optional[Path] = typer.Option(None, "--into", help="the zoo folder to write (default: "
                                                  "$MNISTMAX_ZOO, else the package's own, mnistmax/zoo)"),
              table: Optional[Path] = typer.Option(None, "--table", help="a markdown file whose zoo table is "
                                                   "rewritten (default: docs/ZOO.md, when building the zoo in use)")):
    """Train each entry from its recipe (seeded), evaluate it, export it and write its card and numbers."""
    from mnistmax.errors import MnistmaxError
    from mnistmax.zoo import zoo_dir
    from mnistmax.zoo.build import build_entry, write_table

    names = [n.value for n in names or []] or list(ENTRIES)
    if run is not None and len(names) != 1:
        raise MnistmaxError("--run packages one run: name exactly one entry")
    root = into or zoo_dir()
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        build_entry(name, run, root, echo=echo)
    table = table or (Path("docs/ZOO.md") if into is None else None)
    if table is not None and write_table(table, root):
        echo(f"zoo table rewritten in {table}")
