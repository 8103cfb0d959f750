"""probe, embed, transfer, search, grid, splits, ui: studies across runs and configurations."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from mnistmax.cli.common import (
    CHECKPOINT,
    DEVICE,
    OUTPUT_DIR,
    OVERRIDES,
    RUN,
    STUDIES,
    TRAIN,
    USE,
    TransferMode,
    app,
    console,
    echo,
    handle_errors,
    print_tables,
)


@app.command(rich_help_panel=TRAIN)
@handle_errors
def probe(run: str = RUN, checkpoint: str = CHECKPOINT, device: str = DEVICE,
          output_dir: Optional[Path] = OUTPUT_DIR):
    """Frozen-embedding evaluation of an encoder run: linear probe, kNN, NMI/ARI, P@1, MAP@R, few-shot."""
    from mnistmax.eval.embeddings import probe_run
    from mnistmax.eval.tables import probe_table
    from mnistmax.runs import load_run

    loaded = load_run(run, checkpoint, output_dir, device)
    print_tables([probe_table(probe_run(loaded))])
    echo(f"wrote {loaded.run_dir / 'eval' / 'probe.json'}")


@app.command(rich_help_panel=USE)
@handle_errors
def embed(run: str = RUN,
          inputs: Optional[List[str]] = typer.Argument(None, help="your images (files, folders, .npy / .npz, IDX); "
                                                       "none: every split of the run's data", show_default=False),
          output: Path = typer.Option(..., "--output", "-o", help="the .npz FILE to write"),
          checkpoint: str = CHECKPOINT,
          no_preprocess: bool = typer.Option(False, "--no-preprocess",
                                             help="image files are already MNIST-style 28x28"),
          device: str = DEVICE,
          batch_size: int = typer.Option(256, "--batch-size", min=1),
          force: bool = typer.Option(False, "--force", help="overwrite OUTPUT"),
          output_dir: Optional[Path] = OUTPUT_DIR):
    """An encoder run's embeddings -> NPZ: of your images (embeddings, names), or of every split
    of its data when no input is given (embeddings, labels, split)."""
    if inputs:
        from mnistmax.cli.use import embed_inputs

        written = embed_inputs(run, inputs, output, checkpoint, no_preprocess, device, batch_size, force, output_dir)
        echo(f"wrote {written}")
        return
    from mnistmax.eval.embeddings import export_embeddings
    from mnistmax.hardware import resolve_device
    from mnistmax.runs import load_run
    from mnistmax.userfiles import check_free

    device = resolve_device(device)
    check_free([output], force)
    echo(f"wrote {export_embeddings(load_run(run, checkpoint, output_dir, device), output)}")


@app.command(rich_help_panel=TRAIN)
@handle_errors
def transfer(
    encoder_run: str = typer.Option(..., "--encoder-run", help="a run whose encoder is reused: conv_ae, vae, or a "
                                    "contrastive run (SimCLR, SupCon, triplet)"),
    mode: TransferMode = typer.Option("all", help="the encoder: random (scratch), pretrained and fixed (frozen), "
                                      "pretrained and trained on (finetune), or all three"),
    labels_per_class: str = typer.Option("10,100,all", help="comma-separated label budgets per class"),
    overrides: Optional[List[str]] = OVERRIDES,
    device: str = typer.Option("cpu", "--device", help="where the trained classifiers are scored: cpu, cuda, cuda:N, "
                               "mps or auto; they train where train.accelerator says (an override: "
                               "train.accelerator=gpu)"),
    output_dir: Optional[Path] = OUTPUT_DIR,
):
    """Classifier on a pretrained encoder: scratch vs frozen vs fine-tuned, at several label budgets."""
    from mnistmax.analysis.transfer import MODES, parse_labels, run_transfer
    from mnistmax.hardware import resolve_device
    from mnistmax.runs import resolve_run
    from mnistmax.training import quiet_lightning

    quiet_lightning()
    device = resolve_device(device)  # before a zoo: run is made
    run_dir = resolve_run(encoder_run, output_dir)
    rows = run_transfer(run_dir, list(MODES) if mode.value == "all" else [mode.value], parse_labels(labels_per_class),
                        overrides or [], echo=echo, device=device)
    table = Table(title=f"transfer from {run_dir.name}: test accuracy")
    for col in ("labels/class", "mode", "test accuracy", "train time", "trainable params"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(str(r["labels_per_class"]), r["mode"], f"{100 * r['test_acc']:.2f}%", f"{r['train_seconds']} s",
                      f"{r['trainable_params']:,}")
    console.print(table)
    echo(f"wrote {run_dir / 'eval' / 'transfer.json'} and transfer.md")


WORKERS = typer.Option(1, "--workers", min=1, help="worker processes on this machine; the study is made first, "
                       "then they share its trials")
WORKER = typer.Option(False, "--worker", help="only run the study's trials until none is left, then exit (an extra "
                      "machine on a shared storage); no leaderboard, no test")
STORAGE = typer.Option(None, "--storage", help="the study's storage, over $MNISTMAX_STORAGE_URL and the file's "
                       "storage: (sqlite:///PATH, postgresql://USER@HOST/DB, journal:PATH); a password is better in "
                       "$MNISTMAX_STORAGE_URL, off the command line (it is never printed)", show_default=False)
TEST = typer.Option(True, help="retrain the best configuration and test it once")


@app.command(rich_help_panel=STUDIES)
@handle_errors
def search(config: Path = typer.Option(..., "--config", "-c", help="search file (base:, space:, sampler:, trials:, "
                                       "cv:, pruner:, storage:), grid file, or shipped one by name (search/unet_tpe)"),
           overrides: Optional[List[str]] = OVERRIDES,
           workers: int = WORKERS, worker: bool = WORKER, storage: Optional[str] = STORAGE, test: bool = TEST,
           output_dir: Optional[Path] = OUTPUT_DIR):
    """Configuration search x stratified k-fold CV on an Optuna study (grid, TPE, random; pruning; many workers
    on one storage); writes <output dir>/searches/<name>/ (leaderboard, plots). KEY=VALUE overrides apply to the
    file's base config (not to a key its space sets), cv.* ones (cv.folds=3) to the file itself; they are part of
    the study: other overrides, another study."""
    _search(config, workers, worker, storage, test, require_grid=False, overrides=overrides, output_dir=output_dir)


@app.command(rich_help_panel=STUDIES)
@handle_errors
def grid(config: Path = typer.Option(..., "--config", "-c", help="grid file (base:, grid:, cv:) or a shipped one "
                                     "by name (grid/denoise)"),
         overrides: Optional[List[str]] = OVERRIDES,
         workers: int = WORKERS, worker: bool = WORKER, storage: Optional[str] = STORAGE, test: bool = TEST,
         output_dir: Optional[Path] = OUTPUT_DIR):
    """Grid search x stratified k-fold CV: `search` with a grid file, every point once; writes
    <output dir>/grids/<name>/ (leaderboard, plots). KEY=VALUE overrides apply to the file's base config (not to a
    key its grid sets), cv.* ones (cv.folds=3) to the file itself; they are part of the study."""
    _search(config, workers, worker, storage, test, require_grid=True, overrides=overrides, output_dir=output_dir)


def _search(config: Path, workers: int, worker: bool, storage: str | None, test: bool, require_grid: bool,
            overrides: list[str] | None = None, output_dir: Path | None = None) -> None:
    from mnistmax.experiments.leaderboard import table_rows
    from mnistmax.experiments.search import finish_search, run_search
    from mnistmax.training import quiet_lightning

    quiet_lightning()
    result = run_search(config, workers=workers, worker_only=worker, storage=storage, require_grid=require_grid,
                        overrides=overrides or [], output_dir=output_dir, echo=echo)
    if worker:
        return
    out, tested = finish_search(result, test, echo=echo)
    rows = table_rows(result, tested)
    title = f"leaderboard {result['search'].name}: validation mean ± std over {result['search'].cv.folds} folds"
    table = Table(title=title + (f"; test = {tested['metric']}" if tested else ""))
    keys = list(dict.fromkeys(k for r in rows for k in r))
    for key in keys:
        table.add_column(key)
    for r in rows:
        table.add_row(*(str(r.get(k, "")) for k in keys))
    console.print(table)
    echo(f"wrote {out}/leaderboard.csv, .md, .tex, .json and plots")


@app.command(rich_help_panel=STUDIES)
@handle_errors
def splits(
    folds: int = typer.Option(5, min=2, help="number of folds"),
    output: Path = typer.Option(..., "--output", "-o", help="the CSV file to write (one file: -o names it)"),
    config: Path = typer.Option(Path("mnist"), "--config", "-c", help="config whose data and seed to use: a file, "
                                "or a shipped recipe by name (`mnistmax config list`)"),
    seed: int = typer.Option(0, help="fold seed (the grid's cv.seed)"),
    force: bool = typer.Option(False, "--force", help="overwrite OUTPUT"),
):
    """Write the stratified fold assignment of the train split as CSV (index, label, fold)."""
    from mnistmax.experiments.folds import training_pool, write_splits_file
    from mnistmax.tasks import load_config
    from mnistmax.userfiles import check_free

    check_free([output], force)
    pool = training_pool(load_config(config), folds, seed)
    path = write_splits_file(output, pool.labels, pool.folds)
    echo(f"wrote {path} ({len(pool.labels):,} digits, {folds} folds); use it with cv.splits_file")


@app.command(rich_help_panel=STUDIES)
@handle_errors
def ui(port: int = typer.Option(5000, help="port on 127.0.0.1"),
       store: Optional[str] = typer.Option(None, show_default=False,
                                           help="SQLite store or any tracking URI (default: <output dir>/mlflow.db)"),
       output_dir: Optional[Path] = OUTPUT_DIR):
    """Start the MLflow UI on 127.0.0.1 against the project's tracking store."""
    import shutil
    import subprocess
    import sys

    from mnistmax.files import output_root
    from mnistmax.training.tracking import require_mlflow

    require_mlflow()
    store = store or str(output_root(output_dir) / "mlflow.db")
    uri = store if "://" in store else f"sqlite:///{Path(store).resolve()}"
    exe = shutil.which("mlflow") or str(Path(sys.executable).with_name("mlflow"))
    echo(f"MLflow UI: http://127.0.0.1:{port}  (store {uri}; Ctrl-C to stop)")
    raise typer.Exit(subprocess.call([exe, "ui", "--host", "127.0.0.1", "--port", str(port), "--backend-store-uri",
                                      uri]))
