"""train, eval, models, info, report, config show."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from mnistmax.cli.common import (
    CHECKPOINT,
    CONFIG,
    DEVICE,
    OUTPUT_DIR,
    OVERRIDES,
    PICTURES,
    RUN,
    SETUP,
    TRAIN,
    app,
    config_app,
    console,
    echo,
    handle_errors,
    print_tables,
)


@app.command(rich_help_panel=TRAIN)
@handle_errors
def train(config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML config file, or a shipped recipe by "
                                                "name (mnist, models/simclr; `mnistmax config list`)"),
          overrides: Optional[List[str]] = OVERRIDES,
          resume: Optional[Path] = typer.Option(None, "--resume",
                                                help="continue this run directory from its last.ckpt"),
          output_dir: Optional[Path] = OUTPUT_DIR):
    """Train a model; writes <output dir>/runs/<name>-<time>/ and prints where (or --resume a run)."""
    from mnistmax.api import train as train_run
    from mnistmax.config import read_yaml_mapping
    from mnistmax.tasks import get_task

    run_dir = train_run(config, overrides or [], resume=resume, output_dir=output_dir, echo=echo,
                        warn=lambda m: typer.echo(f"warning: {m}", err=True)).run_dir
    task = read_yaml_mapping(run_dir / "config.yaml")["task"]
    echo(f"[green]done[/green]: {run_dir}  (next: mnistmax {get_task(task).next_command} {run_dir})")


@app.command("eval", rich_help_panel=TRAIN)
@handle_errors
def eval_command(
    run: str = RUN,
    overrides: Optional[List[str]] = OVERRIDES,
    lpips: Optional[bool] = typer.Option(None, "--lpips/--no-lpips",
                                         help="also compute LPIPS (needs its backbone weights); default eval.lpips"),
    checkpoint: Optional[str] = CHECKPOINT,
    tag: Optional[str] = typer.Option(None, help="write eval/eval-TAG.* instead of eval/eval.* (keeps the main table)"),
    device: str = DEVICE,
    output_dir: Optional[Path] = OUTPUT_DIR,
):
    """Evaluate a run on its test split, as its task does it (eval/eval.json; encoders: eval/probe.json)."""
    from mnistmax.evaluation import evaluate

    result = evaluate(run, overrides or [], checkpoint, lpips, tag, warn=lambda m: typer.echo(m, err=True),
                      output_dir=output_dir, device=device)
    print_tables(result.tables)
    json_file, *others = result.files
    echo(f"wrote {json_file}, {', '.join(p.name for p in others)}")


@app.command(rich_help_panel=SETUP)
@handle_errors
def models():
    """List the registered networks: the task each serves, parameters, and the model.* keys it takes."""
    from mnistmax.models import count_parameters, create_model, get_entry, list_models, model_options
    from mnistmax.tasks import TASKS

    task_of: dict[str, str] = {}
    for name, cls in TASKS.items():
        for family in cls.families():
            task_of[family] = ", ".join(filter(None, [task_of.get(family), name]))
    table = Table(title="registered networks (model.name) and their arguments (model.KEY=VALUE, defaults shown)")
    for col in ("name", "task", "parameters", "arguments"):
        table.add_column(col, justify="right" if col == "parameters" else "left")
    for name in list_models():
        options = ", ".join(f"{k}={v}" for k, v in model_options(name, {}).items())
        table.add_row(name, task_of.get(get_entry(name).family, "-"), f"{count_parameters(create_model(name)):,}",
                      options)
    console.print(table)


@app.command(rich_help_panel=SETUP)
@handle_errors
def info(root: str = typer.Option("data", help="folder searched for local datasets; or your own data (a folder "
                                                "of pictures, an .npz or .npy file) to see what mnistmax finds")):
    """Versions, compute device, and which data sources are available here (images and classes of each)."""
    import torch

    from mnistmax.data.sources import describe_sources
    from mnistmax.files import versions
    from mnistmax.hardware import cpu_has_fast_bf16

    for key, value in versions().items():
        echo(f"{key:>13}: {value}")
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    echo(f"{'gpu':>13}: {gpu}")
    echo(f"{'cpu threads':>13}: {torch.get_num_threads()}  (native bf16: {'yes' if cpu_has_fast_bf16() else 'no'})")
    table = Table(title="data sources")
    for col in ("source", "dataset", "available", "train", "test", "classes", "where"):
        table.add_column(col)
    for row in describe_sources(root):
        classes = row.get("classes")
        table.add_row(row["source"], row["dataset"], "yes" if row["available"] else "no",
                      f"{row.get('train', 0):,}", f"{row.get('test', 0):,}",
                      "-" if classes is None else "unlabelled" if classes == 0 else str(classes),
                      row.get("path", row.get("note", "")))
    console.print(table)


@app.command(rich_help_panel=PICTURES)
@handle_errors
def report(run: str = RUN, device: str = DEVICE, output_dir: Optional[Path] = OUTPUT_DIR):
    """One self-contained HTML page for a run -> reports/index.html (makes missing pictures and eval),
    and its model card -> README.md."""
    from mnistmax.hardware import resolve_device
    from mnistmax.report import prepare_and_build, write_card
    from mnistmax.runs import resolve_run
    from mnistmax.training import quiet_lightning

    quiet_lightning()
    device = resolve_device(device)  # before a zoo: run is made
    run_dir = resolve_run(run, output_dir)
    path = prepare_and_build(run_dir, warn=lambda m: typer.echo(m, err=True), device=device)
    echo(f"model card: {write_card(run_dir)}")
    echo(f"report: {path.resolve()}")


@config_app.command("list")
@handle_errors
def config_list():
    """The shipped recipes, by the name `-c` takes (`mnistmax train -c models/simclr`), with their first
    comment line."""
    from mnistmax.config.load import PACKAGED, packaged_recipes

    for name in packaged_recipes():
        first = next((ln.lstrip("# ").strip() for ln in (PACKAGED / f"{name}.yaml").read_text().splitlines()
                      if ln.startswith("#")), "")
        typer.echo(f"{name:<22} {first}")


@config_app.command("show")
@handle_errors
def config_show(config: Path = CONFIG, overrides: Optional[List[str]] = OVERRIDES):
    """Print the resolved config (file + overrides, defaults filled in)."""
    from mnistmax.tasks import dump_yaml, load_config

    cfg = load_config(config, overrides or [], warn=lambda m: typer.echo(f"warning: {m}", err=True))
    typer.echo(dump_yaml(cfg), nl=False)
