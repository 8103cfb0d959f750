"""compare limitations, compare models, compare encoders: several runs side by side."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from mnistmax.cli.common import DEVICE, OUTPUT_DIR, PICTURES, app, console, echo, handle_errors

compare_app = typer.Typer(help="Compare runs: limitations of denoising, denoiser architectures, encoders.",
                          no_args_is_help=True)
app.add_typer(compare_app, name="compare", rich_help_panel=PICTURES)
RUNS = typer.Argument(..., help="run directories, names under outputs/runs, or 'latest'")
OUTPUT = typer.Option(None, "--output", "-o", help="a FOLDER for the comparison files (created; default "
                      "outputs/compare/<kind>-<time>). A new name with a file suffix (x.html) is refused")
BASELINES = typer.Option(True, "--baselines/--no-baselines",
                         help="also score the classical baselines (identity, Gaussian and median filter) as rows, on "
                              "the same test digits and noise draws")


def _noise_kinds(incomplete: str) -> list[str]:
    from mnistmax.data.noise import NOISE  # torch: only when completing or checking --kind

    return [k for k in NOISE if k.startswith(incomplete)]


def _noise_kind(kind: str) -> str:
    from mnistmax.data.noise import NOISE

    if kind not in NOISE:
        raise typer.BadParameter(NOISE.unknown(kind))
    return kind


def _sigmas(text: str) -> list[float]:
    from mnistmax.errors import MnistmaxError

    try:
        return [float(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise MnistmaxError(f"--sigmas: {text!r} is not a comma-separated list of numbers (e.g. 0.1,0.5,1.0)") from None


def _compare_dir(output: Optional[Path], kind: str, output_dir: Optional[Path] = None) -> Path:
    from mnistmax.files import create_unique_dir, output_root

    return output if output is not None else create_unique_dir(output_root(output_dir) / "compare", kind)


def _run_dirs(runs: List[str], device: str, output_dir: Optional[Path]):
    """(the device, checked before any zoo: run is made; the run directories, each once)."""
    from mnistmax.hardware import resolve_device
    from mnistmax.runs import resolve_run

    device = resolve_device(device)
    return device, list(dict.fromkeys(resolve_run(r, output_dir) for r in runs))


def _check_output(output: Optional[Path]) -> None:
    """Refuse a -o that would become a folder named like a file before any work is done."""
    from mnistmax.userfiles import output_folder

    if output is not None:
        output_folder(output, "compare")


@compare_app.command("limitations")
@handle_errors
def limitations(
    runs: List[str] = RUNS,
    sigmas: str = typer.Option("0.1,0.3,0.5,0.7,1.0,1.5", help="Gaussian noise levels; above 1 only for gaussian"),
    kind: str = typer.Option("gaussian", callback=_noise_kind, autocompletion=_noise_kinds,
                             help="a noise kind of the registry (Tab completes them; a wrong one lists them)"),
    classifier: Optional[str] = typer.Option(None,
                                             help="a classify run to judge the digits (default: train one, cached)"),
    draws: int = typer.Option(16, min=2, help="noise draws per digit for the noise-sensitivity score"),
    baselines: bool = BASELINES,
    output: Optional[Path] = OUTPUT,
    device: str = DEVICE,
    output_dir: Optional[Path] = OUTPUT_DIR,
):
    """Over-smoothing, diversity collapse, high frequencies, identity drift, mode averaging, no
    generation: writes <run>/reports/limitations.{json,html}; with several runs also a comparison."""
    from mnistmax.analysis.judge import data_key, judge_for, judge_from_run
    from mnistmax.analysis.limitations import analyse_baselines, analyse_run, draws_key
    from mnistmax.analysis.limitations_report import write_comparison, write_run_files
    from mnistmax.runs import load_run, resolve_run
    from mnistmax.training import quiet_lightning, train

    _check_output(output)
    quiet_lightning()
    device, run_dirs = _run_dirs(runs, device, output_dir)
    judges: dict[str, object] = {}
    scored: dict[tuple, dict] = {}  # the baselines, once per judge and set of test digits and noise draws
    results = []
    levels = _sigmas(sigmas)
    for run_dir in run_dirs:
        run = load_run(run_dir, device=device)
        run.require("reconstruct", "compare limitations")
        if classifier:
            judge = judges.setdefault("run", judge_from_run(resolve_run(classifier, output_dir)))
        else:
            key = data_key(run.cfg)
            judge = judges[key] if key in judges else judges.setdefault(key, judge_for(run.cfg, echo=echo, train=train))
        echo(f"analysing {run_dir.name} ...")
        base = False
        if baselines:
            same = (id(judge), draws_key(run.splits.test[0], run.cfg, kind))
            if same not in scored:
                scored[same] = analyse_baselines(run, judge, levels, kind=kind, draws=draws)
            base = scored[same]
        result = analyse_run(run, judge, levels, kind=kind, draws=draws, baselines=base)
        out = write_run_files(run_dir, result)
        _print_table(result)
        echo(f"wrote {out / 'limitations.json'} and limitations.html")
        results.append(result)
    if len(results) > 1:
        out = write_comparison(results, _compare_dir(output, "limitations", output_dir))
        echo(f"wrote {out / 'limitations.json'} and {out / 'limitations.html'}")


def _print_table(result: dict) -> None:
    from mnistmax.report.limitations import TABLE_KEYS, cell, with_baselines

    short = {"psnr": "PSNR", "oversmoothing": "smoothing", "hf_ratio": "HF ratio", "diversity_collapse": "collapse",
             "noise_sensitivity": "noise sens.", "acc_noisy": "acc noisy", "acc_denoised": "acc out",
             "flip_rate": "changed", "mode_averaging": "blended", "entropy_denoised": "entropy out"}
    keys = [("method", "method")] + [(short.get(k, name), k) for name, k in TABLE_KEYS if k in short or k == "sigma"]
    table = Table(title=f"limitations of {result['name']} ({result['model']}), then the classical baselines; italic: "
                        "levels it never trained on; definitions in limitations.html")
    for name, _ in keys:
        table.add_column(name, justify="left" if name == "method" else "right")
    for r in with_baselines(result):
        table.add_row(*(cell(k, r[k]) for _, k in keys), style=None if r.get("seen", True) else "italic")
    console.print(table)


@compare_app.command("models")
@handle_errors
def models(runs: List[str] = RUNS, baselines: bool = BASELINES, output: Optional[Path] = OUTPUT, device: str = DEVICE,
           output_dir: Optional[Path] = OUTPUT_DIR):
    """Network, parameters, training time, throughput and PSNR/SSIM per σ, one row per run, then
    the classical baselines' rows; psnr_vs_sigma.png: every run's and baseline's PSNR against σ."""
    from mnistmax.analysis.compare import compare_models, write_models, write_psnr_plot
    from mnistmax.runs import load_run

    _check_output(output)
    device, run_dirs = _run_dirs(runs, device, output_dir)
    rows = compare_models((load_run(d, device=device) for d in run_dirs), baselines=baselines, echo=echo)
    out = write_models(rows, _compare_dir(output, "models", output_dir))
    write_psnr_plot(rows, out)
    keys = list(dict.fromkeys(k for r in rows for k in r if not k.startswith("ssim")))
    table = Table(title="models on the test split (Gaussian noise, fixed seeds), then the classical baselines on the "
                        "same digits and noise; SSIM in models.md")
    for key in keys:
        table.add_column(key.replace("_", " "), justify="right")
    for r in rows:
        table.add_row(*("-" if r.get(k) is None else f"{r[k]:,}" if isinstance(r[k], int) else str(r[k]) for k in keys))
    console.print(table)
    echo(f"wrote {out / 'models.json'}, models.csv, models.md, psnr_vs_sigma.png")


@compare_app.command("encoders")
@handle_errors
def encoders(runs: List[str] = RUNS, output: Optional[Path] = OUTPUT, device: str = DEVICE,
             output_dir: Optional[Path] = OUTPUT_DIR):
    """Encoder runs side by side: linear probe, kNN, NMI, ARI, P@1, MAP@R, 1/5/10-shot, training time,
    parameters, with raw pixels as a row; encoders.png: probe accuracy against labels per class."""
    from mnistmax.analysis.compare_encoders import compare_encoders, write_encoders
    from mnistmax.runs import load_run

    _check_output(output)
    device, run_dirs = _run_dirs(runs, device, output_dir)
    table = compare_encoders([load_run(d, device=device) for d in run_dirs], echo=echo)
    out = write_encoders(table, _compare_dir(output, "encoders", output_dir))
    keys = [k for k in table[0] if k not in ("model", "labels_per_class_all")]
    shown = Table(title="encoders: frozen embeddings of the test split (probe accuracies in %)")
    for key in keys:
        shown.add_column(key.replace("_", " ").replace("precision at 1", "P@1").replace("map at r", "MAP@R"),
                         justify="left" if key in ("run", "loss") else "right")
    for r in table:
        shown.add_row(*(_encoder_cell(k, r[k]) for k in keys))
    console.print(shown)
    echo(f"wrote {out / 'encoders.json'}, encoders.csv, encoders.md, encoders.tex, encoders.png")


def _encoder_cell(key: str, value) -> str:
    if value is None:
        return "-"
    if key in ("linear_probe", "knn") or key.endswith("-shot"):
        return f"{100 * value:.1f}"
    if isinstance(value, float):
        return f"{value:.1f}" if key == "train_s" else f"{value:.3f}"
    return f"{value:,}" if isinstance(value, int) else str(value)
