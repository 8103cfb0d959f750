"""The app, its sub-apps, shared options and the error handling of every command.

Heavy imports (torch, Lightning) happen inside the commands so `mnistmax --help` is quick.
Every user-facing problem is a MnistmaxError: one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import functools
import os
import sys

import typer
from rich.console import Console

from mnistmax.errors import MnistmaxError

app = typer.Typer(
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
app.add_typer(config_app, name="config")
latent_app = typer.Typer(help="Explore the latent space of a conv_ae or vae_conv run.", no_args_is_help=True)
app.add_typer(latent_app, name="latent")
viz_app = typer.Typer(help="Pictures of a run (written under the run directory).", no_args_is_help=True)
app.add_typer(viz_app, name="viz")

# Piped or redirected output has no terminal width; rich would assume 80 columns and cut
# every cell of a wide table (compare models) to one or two characters. COLUMNS still wins.
console = Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 200)
OVERRIDES = typer.Argument(None, help="KEY=VALUE overrides, e.g. train.epochs=3 model.name=conv_dae",
                           show_default=False)
CONFIG = typer.Option(..., "--config", "-c", help="YAML config file, or a shipped recipe by name (mnist, "
                      "models/simclr; `mnistmax config list`)")
RUN = typer.Argument(..., help="run directory, run name under outputs/runs, 'latest', or zoo:<name> (a pretrained "
                     "model: `mnistmax zoo list`)")
CHECKPOINT = typer.Option(None, "--checkpoint",
                          help="best, last, interrupted or a .ckpt path (default: eval.checkpoint)")


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
    """Turn MnistmaxError into `error: ...` on stderr and its exit code; Ctrl-C into exit 130."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except MnistmaxError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper
