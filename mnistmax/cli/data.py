"""data stats: an overview of a data source (mnistmax.data.stats)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from mnistmax.cli.common import OUTPUT_DIR, SETUP, app, echo, handle_errors, print_tables

data_app = typer.Typer(help="Look at a data source, as `train` reads it (the same -c config and data.* keys).",
                       no_args_is_help=True)
app.add_typer(data_app, name="data", rich_help_panel=SETUP)


@data_app.command("stats")
@handle_errors
def data_stats(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML config file, or a shipped recipe by name "
                                          "(`mnistmax config list`), whose data: section to read; default the "
                                          "defaults (data.source=auto)"),
    overrides: Optional[List[str]] = typer.Argument(
        None, help="data.KEY=VALUE overrides and seed=N, e.g. data.source=idx data.root=/usr/share/datasets/"
                   "fashion-mnist", show_default=False),
    output: Optional[Path] = typer.Option(None, "--output", "-o", show_default=False,
                                          help="a FOLDER for stats.json and stats.png (created; default <output dir>/"
                                               "data-stats/<source>-<name>). A new name with a file suffix is refused"),
    output_dir: Optional[Path] = OUTPUT_DIR,
):
    """Class balance per split, pixel statistics (mean, std, ink fraction, each class's mean intensity) and the
    mean digit of each class, of the data a config describes, split as training splits it: printed as tables
    and written as stats.json and stats.png (mean digits and class-balance bars). Unlabelled data has no class
    columns."""
    from mnistmax.data import stats as data_stats_module
    from mnistmax.files import output_root
    from mnistmax.tasks import load_config
    from mnistmax.userfiles import output_folder

    overrides = overrides or []
    data_stats_module.check_overrides(overrides)
    if output is not None:
        output_folder(output, "data stats")
    cfg = load_config(config, overrides, warn=lambda m: typer.echo(f"warning: {m}", err=True))
    stats = data_stats_module.data_stats(cfg)
    print_tables(data_stats_module.tables(stats))
    if not stats.labelled:
        echo("unlabelled data: no class columns (no class balance or per-class means; the picture shows the mean "
             "image of all)")
    folder = output or data_stats_module.default_folder(stats, output_root(output_dir, cfg.logging.output_dir),
                                                         cfg.data.root)
    json_file, png = data_stats_module.write(stats, folder)
    echo(f"wrote {json_file} and {png}")
