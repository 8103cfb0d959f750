"""train, eval, models, info, report, config show."""

from __future__ import annotations

import re
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from mnistmax.cli.common import (CHECKPOINT, CONFIG, OVERRIDES, RUN, app, config_app, console, echo, handle_errors)


@app.command()
@handle_errors
def train(config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML config file, e.g. configs/mnist.yaml"),
          overrides: Optional[List[str]] = OVERRIDES,
          resume: Optional[Path] = typer.Option(None, "--resume", help="continue this run directory from its last.ckpt")):
    """Train a model; writes outputs/runs/<name>-<time>/ and prints where (or --resume a run)."""
    from mnistmax.config import load_config
    from mnistmax.errors import ConfigError
    from mnistmax.training import train as train_run

    if resume is not None:
        if config is not None or overrides:
            raise ConfigError("--resume continues a run with its own config.yaml; leave out --config and overrides")
        from mnistmax.runs import resolve_run

        run_dir = resolve_run(resume)
        run_dir = train_run(load_config(run_dir / "config.yaml"), echo=echo, resume_dir=run_dir)
    elif config is None:
        raise ConfigError("train needs --config FILE (e.g. configs/mnist.yaml) or --resume RUN_DIR")
    else:
        run_dir = train_run(load_config(config, overrides or []), echo=echo)
    echo(f"[green]done[/green]: {run_dir}  (next: mnistmax eval {run_dir})")


@app.command("eval")
@handle_errors
def eval_command(
    run: str = RUN,
    overrides: Optional[List[str]] = OVERRIDES,
    lpips: bool = typer.Option(False, "--lpips", help="also compute LPIPS (needs its backbone weights)"),
    checkpoint: str = CHECKPOINT,
    tag: Optional[str] = typer.Option(None, help="write eval/eval-TAG.* instead of eval/eval.* (keeps the main table)"),
):
    """Evaluate a run on its test split: denoisers over noise kinds x σ with baselines; AE/VAE reconstruction and bounds."""
    from mnistmax.config import apply_overrides, config_to_dict, validate_config
    from mnistmax.evaluate import evaluate_run, write_eval
    from mnistmax.errors import RunError
    from mnistmax.runs import load_task, resolve_run

    run_dir = resolve_run(run)
    cfg, task = load_task(run_dir, checkpoint)
    if cfg.task in ("contrastive", "classify"):
        raise RunError(f"{run_dir} is a {cfg.task} run; evaluate its embeddings with `mnistmax probe {run}`")
    cfg = validate_config(apply_overrides(config_to_dict(cfg), overrides or []), source="override")
    if cfg.task in ("autoencoder", "vae"):
        from mnistmax.evaluate import evaluate_autoencoder

        rows = evaluate_autoencoder(cfg, task)
        echo("  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in rows[0].items()))
    else:
        rows = evaluate_run(cfg, task, use_lpips=lpips, warn=lambda m: typer.echo(m, err=True))
        print_eval_table(rows, cfg.model.name)
    if tag is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", tag):
        raise RunError(f"--tag {tag!r}: use letters, digits, '.', '_' and '-' only")
    stem = "eval" if tag is None else f"eval-{tag}"
    out = write_eval(run_dir, rows, stem)
    echo(f"wrote {out}/{stem}.json, {stem}.csv, {stem}.md")


def print_eval_table(rows: list[dict], model: str) -> None:
    methods = list(dict.fromkeys(r["method"] for r in rows))
    for kind in dict.fromkeys(r["noise"] for r in rows):
        table = Table(title=f"{kind} noise: mean per-image PSNR (dB) on the test split, SSIM of {model}")
        table.add_column("σ", justify="right")
        table.add_column(f"{model}", justify="right", style="bold green")
        table.add_column("SSIM", justify="right")
        for m in methods[1:]:
            table.add_column(m.replace("_", "\n"), justify="right")
        for sigma in dict.fromkeys(r["sigma"] for r in rows if r["noise"] == kind):
            by = {r["method"]: r for r in rows if r["noise"] == kind and r["sigma"] == sigma}
            cells = [f"{sigma:g}", f"{by[model]['psnr']:.2f}", f"{by[model]['ssim']:.3f}"]
            table.add_row(*cells, *(f"{by[m]['psnr']:.2f}" for m in methods[1:]))
        console.print(table)
        if "precision" in rows[0]:
            print_ablation_table([r for r in rows if r["noise"] == kind], methods, kind)


def print_ablation_table(rows: list[dict], methods: list[str], kind: str) -> None:
    """Precision / recall / ablation efficiency (%) per method and level (bitmap runs)."""
    table = Table(title=f"{kind}: precision / recall / ablation efficiency (%), pooled over test pixels")
    table.add_column("σ", justify="right")
    for m in methods:
        table.add_column(m.replace("_", "\n"), justify="right", style="bold green" if m == methods[0] else None)
    for sigma in dict.fromkeys(r["sigma"] for r in rows):
        by = {r["method"]: r for r in rows if r["sigma"] == sigma}
        pct = lambda v: "-" if v != v else f"{100 * v:.1f}"  # noqa: E731  (NaN -> -)
        table.add_row(f"{sigma:g}", *(" / ".join(pct(by[m][k]) for k in ("precision", "recall", "ablation_efficiency"))
                                      for m in methods))
    console.print(table)


@app.command()
@handle_errors
def models():
    """List the registered networks with their parameter counts."""
    from mnistmax.registry import count_parameters, create_model, get_entry, list_models

    table = Table(title="registered networks")
    for col in ("name", "family", "parameters"):
        table.add_column(col, justify="right" if col == "parameters" else "left")
    for name in list_models():
        table.add_row(name, get_entry(name).family, f"{count_parameters(create_model(name)):,}")
    console.print(table)


@app.command()
@handle_errors
def info(root: str = typer.Option("data", help="folder searched for local datasets")):
    """Versions, compute device, and which data sources are available here."""
    import torch

    from mnistmax.data.sources import describe_sources
    from mnistmax.hardware import cpu_has_fast_bf16
    from mnistmax.runs import versions

    for key, value in versions().items():
        echo(f"{key:>13}: {value}")
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    echo(f"{'gpu':>13}: {gpu}")
    echo(f"{'cpu threads':>13}: {torch.get_num_threads()}  (native bf16: {'yes' if cpu_has_fast_bf16() else 'no'})")
    table = Table(title="data sources")
    for col in ("source", "dataset", "available", "train", "test", "where"):
        table.add_column(col)
    for row in describe_sources(root):
        table.add_row(row["source"], row["dataset"], "yes" if row["available"] else "no",
                      f"{row.get('train', 0):,}", f"{row.get('test', 0):,}", row.get("path", row.get("note", "")))
    console.print(table)


@app.command()
@handle_errors
def report(run: str = RUN):
    """One self-contained HTML page for a run -> reports/index.html (makes missing pictures and eval)."""
    from mnistmax.report import prepare_and_build
    from mnistmax.runs import resolve_run

    path = prepare_and_build(resolve_run(run), warn=lambda m: typer.echo(m, err=True))
    echo(f"report: {path.resolve()}")


@config_app.command("show")
@handle_errors
def config_show(config: Path = CONFIG, overrides: Optional[List[str]] = OVERRIDES):
    """Print the resolved config (file + overrides, defaults filled in)."""
    from mnistmax.config import dump_yaml, load_config

    typer.echo(dump_yaml(load_config(config, overrides or [])), nl=False)
