"""mnistmax viz ... and mnistmax latent ...: pictures of a run."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from mnistmax.analysis.modes import LATENT_SPLITS
from mnistmax.cli.common import (
    CHECKPOINT,
    DEVICE,
    OUTPUT_DIR,
    RUN,
    SampleMode,
    choices,
    echo,
    handle_errors,
    latent_app,
    print_tables,
    viz_app,
)

LatentSplit = choices("LatentSplit", LATENT_SPLITS)


def _open(run: str, checkpoint: str | None, device: str = "cpu", output_dir: Path | None = None):
    from mnistmax.runs import load_run

    return load_run(run, checkpoint, output_dir, device)


@viz_app.command("recon-grid")
@handle_errors
def viz_recon_grid(run: str = RUN, checkpoint: str = CHECKPOINT, device: str = DEVICE,
                   output_dir: Optional[Path] = OUTPUT_DIR):
    """Fixed test digits and their reconstructions with the error map -> grids/recon_test.png (a denoiser: clean |
    noisy | denoised | error; an autoencoder or VAE: clean | reconstruction | error, with each digit's MSE)."""
    from mnistmax.viz import commands

    echo(f"wrote {commands.recon_grid(_open(run, checkpoint, device, output_dir))}")


@viz_app.command("sigma-panel")
@handle_errors
def viz_sigma_panel(run: str = RUN, checkpoint: str = CHECKPOINT, device: str = DEVICE,
                    output_dir: Optional[Path] = OUTPUT_DIR):
    """The same test digits across σ = 0 ... 1 with PSNR -> panels/sigma_panel_test.png."""
    from mnistmax.viz import commands

    echo(f"wrote {commands.sigma_panel(_open(run, checkpoint, device, output_dir))}")


@viz_app.command("curves")
@handle_errors
def viz_curves(run: str = RUN, output_dir: Optional[Path] = OUTPUT_DIR):
    """Train/val loss and val PSNR per epoch from metrics.csv -> reports/curves.png."""
    from mnistmax.runs import resolve_run
    from mnistmax.viz import commands

    echo(f"wrote {commands.curves(resolve_run(run, output_dir))}")


@viz_app.command("psnr-curve")
@handle_errors
def viz_psnr_curve(run: str = RUN, output_dir: Optional[Path] = OUTPUT_DIR):
    """PSNR against σ per evaluated noise kind, model and baselines, from eval/eval.json -> reports/psnr_curve.png."""
    from mnistmax.files import read_run_yaml
    from mnistmax.runs import resolve_run
    from mnistmax.tasks import get_task
    from mnistmax.viz import commands

    run_dir = resolve_run(run, output_dir)
    echo(f"wrote {commands.psnr_curve(run_dir, get_task(read_run_yaml(run_dir)['task']))}")


@viz_app.command("operating-points")
@handle_errors
def viz_operating_points(run: str = RUN, checkpoint: str = CHECKPOINT, device: str = DEVICE,
                         output_dir: Optional[Path] = OUTPUT_DIR,
                         levels: Optional[str] = typer.Option(None, help="noise levels, e.g. 0.3,0.5 (default: the "
                                                                           "operating point's, else the eval levels)")):
    """A bitmap denoiser's precision / recall / efficiency at every output threshold, validation and test, the
    chosen point marked (eval.operating_point) and the reference ablation design's reported point drawn ->
    reports/operating_points.png."""
    from mnistmax.errors import ConfigError
    from mnistmax.viz import commands

    try:
        parsed = [float(v) for v in levels.split(",")] if levels else None
    except ValueError:
        raise ConfigError(f"--levels {levels!r}: give numbers in [0, 1] separated by commas") from None
    if parsed and not all(0 <= v <= 1 for v in parsed):
        raise ConfigError(f"--levels {levels!r}: every level must be in [0, 1]")
    path, table = commands.operating_points(_open(run, checkpoint, device, output_dir), parsed)
    for r in table:
        echo(f"{r['point']:>14} t={r['threshold']:.2f}  {r['noise']} {r['level']:g}  "
             + "  ".join(f"{split} P {100 * r[f'{split}_precision']:.2f} R {100 * r[f'{split}_recall']:.2f} "
                         f"Rvis {100 * r[f'{split}_recall_visible']:.2f} S {100 * r[f'{split}_specificity']:.2f} "
                         f"E {100 * r[f'{split}_ablation_efficiency']:.2f}" for split in ("validation", "test")))
    echo(f"wrote {path}")


@viz_app.command("ablation-map")
@handle_errors
def viz_ablation_map(run: str = RUN, checkpoint: str = CHECKPOINT, device: str = DEVICE,
                     output_dir: Optional[Path] = OUTPUT_DIR):
    """Kept signal / removed noise / wrongly removed / missed noise in four colours -> grids/ablation_map_test.png."""
    from mnistmax.viz import commands

    echo(f"wrote {commands.ablation_map(_open(run, checkpoint, device, output_dir))}")


@viz_app.command("embeddings")
@handle_errors
def viz_embeddings(run: str = RUN, checkpoint: str = CHECKPOINT, device: str = DEVICE,
                   output_dir: Optional[Path] = OUTPUT_DIR):
    """PCA and t-SNE (and UMAP with umap-learn installed) of an encoder's test embeddings -> grids/embeddings_*.png."""
    from mnistmax.viz import commands

    echo("wrote " + ", ".join(map(str, commands.embedding_plots(_open(run, checkpoint, device, output_dir)))))


@viz_app.command("cases")
@handle_errors
def viz_cases(run: str = RUN, checkpoint: str = CHECKPOINT, device: str = DEVICE,
              output_dir: Optional[Path] = OUTPUT_DIR, k: int = typer.Option(6, min=1, help="digits per side")):
    """The best and worst denoised test digits by PSNR -> grids/cases.png."""
    from mnistmax.viz import commands

    echo(f"wrote {commands.cases(_open(run, checkpoint, device, output_dir), k)}")


@viz_app.command("all")
@handle_errors
def viz_all(run: str = RUN, checkpoint: str = CHECKPOINT, device: str = DEVICE,
            output_dir: Optional[Path] = OUTPUT_DIR):
    """Every picture above that the run's task supports (curves, reconstruction grid, σ panel, cases, ablation map,
    embeddings; the PSNR curve once the run is evaluated)."""
    from mnistmax.viz import commands

    for path in commands.all_pictures(_open(run, checkpoint, device, output_dir)):
        echo(f"wrote {path}")


@viz_app.command("noise-gallery")
@handle_errors
def viz_noise_gallery(output: Optional[Path] = typer.Option(
        None, "--output", "-o", show_default=False,
        help="folder for the PNG and the GIF (two files: -o is a folder; default <output dir>/gallery)"),
        output_dir: Optional[Path] = OUTPUT_DIR):
    """No model needed: six digits under every noise kind and level, as a PNG and a GIF."""
    from mnistmax.files import output_root
    from mnistmax.userfiles import output_folder
    from mnistmax.viz import commands

    if output is not None:
        output_folder(output, "viz noise-gallery")
    png, gif = commands.noise_gallery(output or output_root(output_dir) / "gallery")
    echo(f"wrote {png} and {gif}")


def _latent(run: str, checkpoint: str | None, device: str, output_dir: Path | None):
    from mnistmax.analysis.latent import LatentSpace

    return LatentSpace(_open(run, checkpoint, device, output_dir))


@latent_app.command("interpolate")
@handle_errors
def latent_interpolate(run: str = RUN, a: int = typer.Option(0, help="index of the first test digit"),
                       b: int = typer.Option(1, help="index of the second test digit"),
                       steps: int = typer.Option(10, min=2), checkpoint: str = CHECKPOINT, device: str = DEVICE,
                       output_dir: Optional[Path] = OUTPUT_DIR):
    """Decode the line between two test digits' latents -> grids/latent_interpolate.png."""
    from mnistmax.analysis import latent

    echo(f"wrote {latent.interpolate(_latent(run, checkpoint, device, output_dir), a, b, steps)}")


@latent_app.command("sample")
@handle_errors
def latent_sample(run: str = RUN, n: int = typer.Option(64, "--n", "-n", min=1, help="how many digits"),
                  mode: Optional[SampleMode] = typer.Option(
                      None, show_default=False, help="how latents are drawn: N(0, I), a uniform box over the training "
                      "latents, or a Gaussian fitted to them (default: normal for a VAE, fitted for an autoencoder)"),
                  seed: int = 0, checkpoint: str = CHECKPOINT, device: str = DEVICE,
                  output_dir: Optional[Path] = OUTPUT_DIR):
    """Decode random latents (N(0,I), uniform, or a Gaussian fitted to the training latents)."""
    from mnistmax.analysis import latent

    space = _latent(run, checkpoint, device, output_dir)
    echo(f"wrote {latent.sample(space, n, mode and mode.value, seed)}")


@latent_app.command("traverse")
@handle_errors
def latent_traverse(run: str = RUN, index: int = typer.Option(0, help="test digit to start from"),
                    steps: int = typer.Option(9, min=2), checkpoint: str = CHECKPOINT, device: str = DEVICE,
                    output_dir: Optional[Path] = OUTPUT_DIR):
    """Sweep every latent dimension from -3σ to +3σ, one row per dimension."""
    from mnistmax.analysis import latent

    echo(f"wrote {latent.traverse(_latent(run, checkpoint, device, output_dir), index, steps)}")


@latent_app.command("arithmetic")
@handle_errors
def latent_arithmetic(run: str = RUN, expr: str = typer.Option(
                          "7-1+4", help="digit classes (their training digits' mean code) or #N (test digit N's code) "
                          "joined by + and -, e.g. 7-1+4 or '#12-#40+#7' (quote it: a shell drops what follows #)"),
                      checkpoint: str = CHECKPOINT, device: str = DEVICE,
                      output_dir: Optional[Path] = OUTPUT_DIR):
    """Latent arithmetic on class means (7-1+4: mean(7) - mean(1) + mean(4)) or chosen test digits (#12-#40+#7), the
    operands and the result decoded -> grids/latent_arithmetic.png."""
    from mnistmax.analysis import latent

    echo(f"wrote {latent.arithmetic(_latent(run, checkpoint, device, output_dir), expr)}")


@latent_app.command("decode")
@handle_errors
def latent_decode(run: str = RUN,
                  file: Optional[List[Path]] = typer.Option(
                      None, "--file", "-f", show_default=False, help="latent vectors: an .npy array (N, latent_dim) "
                      "or (latent_dim,), or a text/CSV file with one vector per line; may be given several times"),
                  z: Optional[List[str]] = typer.Option(
                      None, "--z", show_default=False, help="one latent vector, its latent_dim numbers separated by "
                      "commas (--z 0.1,-0.2,...); may be given several times"),
                  npy: bool = typer.Option(False, "--npy", help="also write the decoded digits as "
                                           "grids/latent_decode.npy, an (N, 28, 28) uint8 array"),
                  checkpoint: str = CHECKPOINT, device: str = DEVICE, output_dir: Optional[Path] = OUTPUT_DIR):
    """Decode your own latent vectors (--file and/or --z), 10 to a row -> grids/latent_decode.png."""
    from mnistmax.analysis import latent

    space = _latent(run, checkpoint, device, output_dir)
    z_all = latent.read_latents(space, file or [], z or [])
    for path in latent.decode(space, z_all, npy):
        echo(f"wrote {path}")


@latent_app.command("stats")
@handle_errors
def latent_stats(run: str = RUN, split: LatentSplit = typer.Option("test", help="whose latent codes"),
                 checkpoint: str = CHECKPOINT, device: str = DEVICE, output_dir: Optional[Path] = OUTPUT_DIR):
    """Per-dimension mean, std, min and max of the test (or train) latents and their correlation matrix, as a table
    -> eval/latent_stats_<split>.json and .csv, grids/latent_stats_<split>.png (bars and a heatmap)."""
    from mnistmax.analysis import latent

    table, paths = latent.stats(_latent(run, checkpoint, device, output_dir), split.value)
    print_tables([latent.stats_rows(table)])
    for path in paths:
        echo(f"wrote {path}")


@latent_app.command("real-vs-generated")
@handle_errors
def latent_real_vs_generated(run: str = RUN, n: int = typer.Option(10, "--n", "-n", min=1, help="digits per row"),
                             rows: int = typer.Option(1, min=1, help="rows of real digits, and as many generated"),
                             mode: Optional[SampleMode] = typer.Option(
                                 None, show_default=False, help="how the generated digits' latents are drawn "
                                 "(default: fitted to the training latents for an autoencoder, normal for a VAE)"),
                             seed: int = 0, checkpoint: str = CHECKPOINT, device: str = DEVICE,
                             output_dir: Optional[Path] = OUTPUT_DIR):
    """Real test digits (labelled with class and index) above decoded samples -> grids/latent_real_vs_<mode>.png."""
    from mnistmax.analysis import latent

    space = _latent(run, checkpoint, device, output_dir)
    echo(f"wrote {latent.real_vs_generated(space, n, rows, mode and mode.value, seed)}")


@latent_app.command("pca")
@handle_errors
def latent_pca(run: str = RUN, checkpoint: str = CHECKPOINT, device: str = DEVICE,
               output_dir: Optional[Path] = OUTPUT_DIR):
    """2-D PCA of the test latents coloured by digit -> grids/latent_pca.png."""
    from mnistmax.analysis import latent

    echo(f"wrote {latent.pca(_latent(run, checkpoint, device, output_dir))}")
