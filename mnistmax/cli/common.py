"""The app, its sub-apps, shared options and the error handling of every command.

Heavy imports (torch, Lightning) happen inside the commands so `mnistmax --help` is quick.
Every user-facing problem is a MnistmaxError: one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import functools
import os
import sys
from enum import Enum
from typing import Iterable

import typer
from rich.console import Console
from typer.core import TyperGroup, TyperOption

# Light modules only (no torch): the names the CLI offers as choices come from where they are defined.
from mnistmax.analysis.modes import SAMPLE_MODES, TRANSFER_MODES
from mnistmax.errors import MnistmaxError
from mnistmax.exported import FORMATS
from mnistmax.files import CHECKPOINTS, os_error_line
from mnistmax.zoo import ENTRIES

# The panels of `mnistmax --help`, in this order; every command and sub-app names one (rich_help_panel=).
TRAIN, USE, PICTURES, STUDIES, SETUP = PANELS = (
    "Train and evaluate", "Use a model", "Pictures and reports", "Studies", "Setup")


def choices(name: str, values: Iterable[str]) -> type[Enum]:
    """A str Enum of `values` (names from the registry or tuple that defines them): typer lists them
    in --help, completes them in the shell, and refuses any other value with exit 2 and the valid
    ones. The command gets a member; pass `.value` on (a plain str)."""
    return Enum(name, [(v, v) for v in values], type=str)


ExportFormat = choices("ExportFormat", FORMATS)
SampleMode = choices("SampleMode", SAMPLE_MODES)
TransferMode = choices("TransferMode", (*TRANSFER_MODES, "all"))
ZooEntry = choices("ZooEntry", ENTRIES)


def _flag_type(display_type_rich):
    """typer 0.29 draws every option's type in the help panels (`--force <bool>`), flags too: its
    rich help calls display_type_rich, which, unlike the plain help record, does not skip flags.
    A flag takes no value, so it shows none."""

    @functools.wraps(display_type_rich)
    def shown(self, ctx):
        return None if self.is_flag else display_type_rich(self, ctx)

    return shown


TyperOption.display_type_rich = _flag_type(TyperOption.display_type_rich)


class PanelGroup(TyperGroup):
    """Lists its commands panel by panel, in PANELS order (typer orders panels by first appearance)."""

    def list_commands(self, ctx) -> list[str]:
        def rank(name: str) -> int:
            panel = getattr(self.commands[name], "rich_help_panel", None)
            return PANELS.index(panel) if panel in PANELS else len(PANELS)

        return sorted(super().list_commands(ctx), key=rank)


app = typer.Typer(
    cls=PanelGroup,
    help="mnistmax: train, evaluate, picture and compare models on MNIST-style digits. A config's `task` decides "
         "what is trained and how it is evaluated; `mnistmax models` lists the networks each task takes and their "
         "arguments.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish, PowerShell
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from mnistmax._version import __version__

        typer.echo(f"mnistmax {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="print the version and exit")):
    """mnistmax: train, evaluate, picture and compare models on MNIST-style digits."""
config_app = typer.Typer(help="Inspect configs.", no_args_is_help=True)
app.add_typer(config_app, name="config", rich_help_panel=SETUP)
latent_app = typer.Typer(help="Explore the latent space of a conv_ae or vae_conv run.", no_args_is_help=True)
app.add_typer(latent_app, name="latent", rich_help_panel=PICTURES)
viz_app = typer.Typer(help="Pictures of a run (written under the run directory).", no_args_is_help=True)
app.add_typer(viz_app, name="viz", rich_help_panel=PICTURES)

# Piped or redirected output has no terminal width; rich would assume 80 columns and cut
# every cell of a wide table (compare models) to one or two characters. COLUMNS still wins.
console = Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 200)
OVERRIDES = typer.Argument(None, help="KEY=VALUE overrides, e.g. train.epochs=3 model.name=conv_dae",
                           show_default=False)
CONFIG = typer.Option(..., "--config", "-c", help="YAML config file, or a shipped recipe by name (mnist, "
                      "models/simclr; `mnistmax config list`)")
RUN = typer.Argument(..., help="run directory, run name under <output dir>/runs, 'latest', or zoo:<name> (a pretrained "
                     "model: `mnistmax zoo list`)")


def _complete_checkpoint(incomplete: str) -> list[str]:
    """--checkpoint's names, and .ckpt files below the folder being typed."""
    from pathlib import Path

    folder = Path(incomplete).parent if incomplete else Path(".")
    found = [str(p) for p in folder.glob("*.ckpt")] if folder.is_dir() else []
    return [c for c in [*CHECKPOINTS, *sorted(found)] if c.startswith(incomplete)]


CHECKPOINT = typer.Option(None, "--checkpoint", autocompletion=_complete_checkpoint,
                          help=f"{', '.join(CHECKPOINTS)} or a .ckpt path (default: eval.checkpoint)")
# Where a model runs, for every command that runs one (mnistmax.hardware.resolve_device checks it
# before anything is written). Not a choice: cuda:N names any GPU.
DEVICE = typer.Option("cpu", "--device", autocompletion=lambda incomplete: [
    d for d in ("cpu", "cuda", "cuda:0", "cuda:1", "mps", "auto") if d.startswith(incomplete)],
    help="where the model runs: cpu, cuda, cuda:N, mps, or auto (cuda when there is a GPU, else mps, else cpu); "
         "a device this machine lacks is refused")
# The one root folder (mnistmax.files.output_root): runs found as `latest` or by name, zoo:<name>
# runs, comparisons, searches and the MLflow store.
OUTPUT_DIR = typer.Option(None, "--output-dir", show_default=False,
                          help="root folder of runs (`latest`, run names, zoo: runs), comparisons, searches and "
                               "mlflow.db; default $MNISTMAX_OUTPUT_DIR, else ./outputs. train, search and grid: this "
                               "option, else the config's logging.output_dir when it is not `outputs`, else "
                               "$MNISTMAX_OUTPUT_DIR, else ./outputs")


def echo(message: str) -> None:
    console.print(message, highlight=False, soft_wrap=True)


def print_tables(tables: list[dict]) -> None:
    """Draw plain table specs ({"title", "columns", "rows"}, optional "highlight" column and
    "highlight_row") with rich."""
    from rich.table import Table

    for spec in tables:
        table = Table(title=spec["title"])
        for i, column in enumerate(spec["columns"]):
            table.add_column(column, justify="left" if column == "method" else "right",
                             style="bold green" if i == spec.get("highlight") else None)
        for i, row in enumerate(spec["rows"]):
            table.add_row(*row, style="bold green" if i == spec.get("highlight_row") else None)
        console.print(table)


def handle_errors(fn):
    """Turn MnistmaxError into `error: ...` on stderr and its exit code, an OSError (disk full, permission,
    not a directory) into one line naming the path and exit 1; Ctrl-C into exit 130."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except MnistmaxError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except OSError as exc:  # the machine's side: no space, no permission, read-only, not a directory
            typer.echo(f"error: {os_error_line(exc)}", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper
