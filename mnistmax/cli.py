"""The `mnistmax` command line: thin wrappers over plain functions.

Heavy imports (torch, Lightning) happen inside the commands so `mnistmax --help` is quick.
Every user-facing problem is a MnistmaxError: one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from mnistmax.errors import MnistmaxError

app = typer.Typer(
    help="mnistmax: train, evaluate and compare MNIST denoisers and encoders.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect configs.", no_args_is_help=True)
app.add_typer(config_app, name="config")
latent_app = typer.Typer(help="Explore the latent space of a conv_ae or vae_conv run.", no_args_is_help=True)
app.add_typer(latent_app, name="latent")
viz_app = typer.Typer(help="Pictures of a run (written under the run directory).", no_args_is_help=True)
app.add_typer(viz_app, name="viz")

console = Console()
OVERRIDES = typer.Argument(None, help="KEY=VALUE overrides, e.g. train.epochs=3 model.name=conv_dae", show_default=False)
CONFIG = typer.Option(..., "--config", "-c", help="YAML config file, e.g. configs/mnist.yaml")
RUN = typer.Argument(..., help="run directory, run name under outputs/runs, or 'latest'")
CHECKPOINT = typer.Option("best", "--checkpoint", help="best or last")


def echo(message: str) -> None:
    console.print(message, highlight=False, soft_wrap=True)


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


@app.command()
@handle_errors
def train(config: Path = CONFIG, overrides: Optional[List[str]] = OVERRIDES):
    """Train a model; writes outputs/runs/<name>-<time>/ and prints where."""
    from mnistmax.config import load_config
    from mnistmax.training import train as train_run

    cfg = load_config(config, overrides or [])
    run_dir = train_run(cfg, echo=echo)
    echo(f"[green]done[/green]: {run_dir}  (next: mnistmax eval {run_dir})")


@app.command("eval")
@handle_errors
def eval_command(
    run: str = RUN,
    overrides: Optional[List[str]] = OVERRIDES,
    lpips: bool = typer.Option(False, "--lpips", help="also compute LPIPS (needs its backbone weights)"),
    checkpoint: str = CHECKPOINT,
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
        rows = evaluate_run(run_dir, cfg, task, use_lpips=lpips, warn=lambda m: typer.echo(m, err=True))
        print_eval_table(rows, cfg.model.name)
    out = write_eval(run_dir, rows)
    echo(f"wrote {out}/eval.json, eval.csv, eval.md")


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


def _open(run: str, checkpoint: str):
    from mnistmax.runs import resolve_run
    from mnistmax.viz.commands import open_run

    return open_run(resolve_run(run), checkpoint)


@viz_app.command("recon-grid")
@handle_errors
def viz_recon_grid(run: str = RUN, checkpoint: str = CHECKPOINT):
    """Fixed test digits: clean | noisy | denoised | error map -> grids/recon_test.png."""
    from mnistmax.viz import commands

    echo(f"wrote {commands.recon_grid(_open(run, checkpoint))}")


@viz_app.command("sigma-panel")
@handle_errors
def viz_sigma_panel(run: str = RUN, checkpoint: str = CHECKPOINT):
    """The same test digits across σ = 0 ... 1 with PSNR -> panels/sigma_panel_test.png."""
    from mnistmax.viz import commands

    echo(f"wrote {commands.sigma_panel(_open(run, checkpoint))}")


@viz_app.command("curves")
@handle_errors
def viz_curves(run: str = RUN):
    """Train/val loss and val PSNR per epoch from metrics.csv -> reports/curves.png."""
    from mnistmax.runs import resolve_run
    from mnistmax.viz import commands

    echo(f"wrote {commands.curves(resolve_run(run))}")


@viz_app.command("ablation-map")
@handle_errors
def viz_ablation_map(run: str = RUN, checkpoint: str = CHECKPOINT):
    """Kept signal / removed noise / wrongly removed / missed noise in four colours -> grids/ablation_map_test.png."""
    from mnistmax.viz import commands

    echo(f"wrote {commands.ablation_map(_open(run, checkpoint))}")


@viz_app.command("embeddings")
@handle_errors
def viz_embeddings(run: str = RUN, checkpoint: str = CHECKPOINT):
    """PCA and t-SNE scatter of an encoder's test embeddings -> grids/embeddings_{pca,tsne}.png."""
    from mnistmax.runs import resolve_run
    from mnistmax.viz import commands

    pca, tsne = commands.embedding_plots(resolve_run(run), checkpoint)
    echo(f"wrote {pca} and {tsne}")


@viz_app.command("cases")
@handle_errors
def viz_cases(run: str = RUN, checkpoint: str = CHECKPOINT, k: int = typer.Option(6, min=1, help="digits per side")):
    """The best and worst denoised test digits by PSNR -> grids/cases.png."""
    from mnistmax.viz import commands

    echo(f"wrote {commands.cases(_open(run, checkpoint), k)}")


@viz_app.command("noise-gallery")
@handle_errors
def viz_noise_gallery(output_dir: Path = typer.Option(Path("outputs/gallery"), help="where to write the PNG and GIF")):
    """No model needed: six digits under every noise kind and level, as a PNG and a GIF."""
    from mnistmax.viz import commands

    png, gif = commands.noise_gallery(output_dir)
    echo(f"wrote {png} and {gif}")


@app.command()
@handle_errors
def probe(run: str = RUN, checkpoint: str = CHECKPOINT):
    """Frozen-embedding evaluation of an encoder run: linear probe, kNN, NMI/ARI, P@1, MAP@R, few-shot."""
    from mnistmax.probe import probe_run
    from mnistmax.runs import resolve_run

    run_dir = resolve_run(run)
    rows = probe_run(run_dir, checkpoint)
    table = Table(title="embeddings of the test split (frozen encoder vs raw pixels)")
    keys = ("linear_probe", "knn", "nmi", "ari", "precision_at_1", "map_at_r")
    table.add_column("method")
    for key in keys:
        table.add_column(key.replace("_", " "), justify="right")
    for row in rows:
        cells = ["-" if row.get(k) is None else (f"{100 * row[k]:.2f}%" if k in ("linear_probe", "knn") else f"{row[k]:.3f}")
                 for k in keys]
        table.add_row(row["method"], *cells, style="bold green" if row is rows[0] else None)
    console.print(table)
    echo(f"wrote {run_dir / 'eval' / 'probe.json'}")


@app.command()
@handle_errors
def embed(run: str = RUN, output: Path = typer.Option(..., "--output", "-o", help="the .npz file to write"),
          checkpoint: str = CHECKPOINT):
    """Export an encoder run's embeddings of every split: embeddings, labels, split -> NPZ."""
    from mnistmax.probe import export_embeddings
    from mnistmax.runs import resolve_run

    echo(f"wrote {export_embeddings(resolve_run(run), output, checkpoint)}")


@app.command()
@handle_errors
def report(run: str = RUN):
    """One self-contained HTML page for a run -> reports/index.html (makes missing pictures and eval)."""
    from mnistmax.report import prepare_and_build
    from mnistmax.runs import resolve_run

    path = prepare_and_build(resolve_run(run), warn=lambda m: typer.echo(m, err=True))
    echo(f"report: {path.resolve()}")


@app.command()
@handle_errors
def transfer(
    encoder_run: str = typer.Option(..., "--encoder-run", help="a conv_ae run whose encoder is reused"),
    mode: str = typer.Option("all", help="scratch, frozen, finetune or all"),
    labels_per_class: str = typer.Option("10,100,all", help="comma-separated label budgets per class"),
    overrides: Optional[List[str]] = OVERRIDES,
):
    """Classifier on a pretrained encoder: scratch vs frozen vs fine-tuned, at several label budgets."""
    from mnistmax.analysis.transfer import MODES, parse_labels, run_transfer
    from mnistmax.runs import resolve_run
    from mnistmax.training import quiet_lightning

    quiet_lightning()
    run_dir = resolve_run(encoder_run)
    rows = run_transfer(run_dir, list(MODES) if mode == "all" else [mode], parse_labels(labels_per_class),
                        overrides or [], echo=echo)
    table = Table(title=f"transfer from {run_dir.name}: test accuracy")
    for col in ("labels/class", "mode", "test accuracy", "train time", "trainable params"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(str(r["labels_per_class"]), r["mode"], f"{100 * r['test_acc']:.2f}%", f"{r['train_seconds']} s",
                      f"{r['trainable_params']:,}")
    console.print(table)
    echo(f"wrote {run_dir / 'eval' / 'transfer.json'} and transfer.md")


@app.command()
@handle_errors
def grid(config: Path = CONFIG, test: bool = typer.Option(True, help="retrain the best configuration and test it once")):
    """Grid search x stratified k-fold CV, tracked in MLflow; writes outputs/grids/<name>/leaderboard.*"""
    from mnistmax.experiments.grid import run_grid
    from mnistmax.experiments.leaderboard import table_rows, test_best, write_leaderboard
    from mnistmax.training import quiet_lightning

    quiet_lightning()
    result = run_grid(config, echo=echo)
    tested = test_best(result, echo=echo) if test else None
    out = write_leaderboard(result, tested)
    rows = table_rows(result, tested)
    title = f"leaderboard {result['spec'].name}: validation mean ± std over {result['spec'].cv.folds} folds"
    table = Table(title=title + (f"; test = {tested['metric']}" if tested else ""))
    keys = list(dict.fromkeys(k for r in rows for k in r))
    for key in keys:
        table.add_column(key)
    for r in rows:
        table.add_row(*(str(r.get(k, "")) for k in keys))
    console.print(table)
    echo(f"wrote {out}/leaderboard.csv, .md, .tex")


@app.command()
@handle_errors
def splits(
    folds: int = typer.Option(5, min=2, help="number of folds"),
    output_dir: Path = typer.Option(..., help="where to write splits.csv"),
    config: Path = typer.Option(Path("configs/mnist.yaml"), "--config", "-c", help="config whose data and seed to use"),
    seed: int = typer.Option(0, help="fold seed (the grid's cv.seed)"),
):
    """Write the stratified fold assignment of the train split as CSV (index, label, fold)."""
    from mnistmax.config import load_config
    from mnistmax.experiments.grid import training_pool, write_splits_file

    pool = training_pool(load_config(config), folds, seed)
    path = write_splits_file(output_dir / "splits.csv", pool.labels, pool.folds)
    echo(f"wrote {path} ({len(pool.labels):,} digits, {folds} folds); use it with cv.splits_file")


@app.command()
@handle_errors
def ui(port: int = typer.Option(5000, help="port on 127.0.0.1"),
       store: str = typer.Option("outputs/mlflow.db", help="SQLite store or any tracking URI")):
    """Start the MLflow UI on 127.0.0.1 against the project's tracking store."""
    import shutil
    import subprocess
    import sys

    uri = store if "://" in store else f"sqlite:///{Path(store).resolve()}"
    exe = shutil.which("mlflow") or str(Path(sys.executable).with_name("mlflow"))
    echo(f"MLflow UI: http://127.0.0.1:{port}  (store {uri}; Ctrl-C to stop)")
    raise typer.Exit(subprocess.call([exe, "ui", "--host", "127.0.0.1", "--port", str(port), "--backend-store-uri", uri]))


def _latent(run: str, checkpoint: str):
    from mnistmax.analysis.latent import LatentRun
    from mnistmax.runs import resolve_run

    return LatentRun(resolve_run(run), checkpoint)


@latent_app.command("interpolate")
@handle_errors
def latent_interpolate(run: str = RUN, a: int = typer.Option(0, help="index of the first test digit"),
                       b: int = typer.Option(1, help="index of the second test digit"),
                       steps: int = typer.Option(10, min=2), checkpoint: str = CHECKPOINT):
    """Decode the line between two test digits' latents -> grids/latent_interpolate.png."""
    from mnistmax.analysis import latent

    echo(f"wrote {latent.interpolate(_latent(run, checkpoint), a, b, steps)}")


@latent_app.command("sample")
@handle_errors
def latent_sample(run: str = RUN, n: int = typer.Option(64, min=1), mode: str = typer.Option("fitted", help="normal, uniform or fitted"),
                  seed: int = 0, checkpoint: str = CHECKPOINT):
    """Decode random latents (N(0,I), uniform, or a Gaussian fitted to the training latents)."""
    from mnistmax.analysis import latent

    echo(f"wrote {latent.sample(_latent(run, checkpoint), n, mode, seed)}")


@latent_app.command("traverse")
@handle_errors
def latent_traverse(run: str = RUN, index: int = typer.Option(0, help="test digit to start from"),
                    steps: int = typer.Option(9, min=2), checkpoint: str = CHECKPOINT):
    """Sweep every latent dimension from -3σ to +3σ, one row per dimension."""
    from mnistmax.analysis import latent

    echo(f"wrote {latent.traverse(_latent(run, checkpoint), index, steps)}")


@latent_app.command("arithmetic")
@handle_errors
def latent_arithmetic(run: str = RUN, expr: str = typer.Option("7-1+4", help="digits joined by + and -"),
                      checkpoint: str = CHECKPOINT):
    """Class-mean latent arithmetic, e.g. mean(7) - mean(1) + mean(4)."""
    from mnistmax.analysis import latent

    echo(f"wrote {latent.arithmetic(_latent(run, checkpoint), expr)}")


@latent_app.command("pca")
@handle_errors
def latent_pca(run: str = RUN, checkpoint: str = CHECKPOINT):
    """2-D PCA of the test latents coloured by digit -> grids/latent_pca.png."""
    from mnistmax.analysis import latent

    echo(f"wrote {latent.pca(_latent(run, checkpoint))}")


@config_app.command("show")
@handle_errors
def config_show(config: Path = CONFIG, overrides: Optional[List[str]] = OVERRIDES):
    """Print the resolved config (file + overrides, defaults filled in)."""
    from mnistmax.config import dump_yaml, load_config

    typer.echo(dump_yaml(load_config(config, overrides or [])), nl=False)


def main():
    app()


if __name__ == "__main__":
    main()
