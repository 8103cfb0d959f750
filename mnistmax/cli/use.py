"""mnistmax denoise / classify / embed / sample: use a trained model on your own images."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from mnistmax.cli.common import (
    CHECKPOINT,
    DEVICE,
    OUTPUT_DIR,
    RUN,
    USE,
    ExportFormat,
    SampleMode,
    app,
    echo,
    handle_errors,
)

INPUTS = typer.Argument(..., help="image files (PNG, JPEG, ...), folders of them, .npy / .npz arrays or IDX files",
                        show_default=False)
NO_PREPROCESS = typer.Option(False, "--no-preprocess", help="image files are already MNIST-style 28x28 digits "
                             "(light on dark); default: fit each the MNIST way (polarity, 20x20 box, centre of mass)")
BATCH = typer.Option(256, "--batch-size", min=1, help="images per forward pass")


def read_inputs(run: str, inputs: list[str], preprocess: bool, device: str) -> list:
    """For a zoo:<name>, whose first use unpacks it into the output root: the device, the name and
    every input checked first, so that a bad one leaves nothing written. Other runs: the inputs as
    given (read after the model, which writes nothing)."""
    from mnistmax.hardware import resolve_device
    from mnistmax.userfiles import read_inputs
    from mnistmax.zoo import entry, is_zoo

    if not is_zoo(run):
        return inputs
    resolve_device(device)
    entry(run)
    return read_inputs(inputs, preprocess)


def _model(run: str, checkpoint: str | None, device: str, batch_size: int, output_dir: Path | None = None):
    import mnistmax

    return mnistmax.load(run, checkpoint, device=device, batch_size=batch_size, output_dir=output_dir)


@app.command(rich_help_panel=USE)
@handle_errors
def denoise(run: str = RUN, inputs: List[str] = INPUTS,
            output: Path = typer.Option(..., "--output", "-o", help="a FOLDER for the results (created; each "
                                        "named like its input); one picture alone may go to an image FILE "
                                        "instead (digit.png -o clean.png). A new name with a file suffix "
                                        "(x.npy) is refused as a folder"),
            compare: bool = typer.Option(False, "--compare", help="also write compare.png (input | denoised) in the "
                                         "folder; with -o clean.png: clean-compare.png beside it"),
            no_preprocess: bool = NO_PREPROCESS, checkpoint: str = CHECKPOINT, device: str = DEVICE,
            batch_size: int = BATCH, force: bool = typer.Option(False, "--force", help="overwrite existing results"),
            output_dir: Optional[Path] = OUTPUT_DIR):
    """Denoise your images with a trained denoiser; each result is written as the input's kind."""
    from mnistmax.use import denoise_files

    files = read_inputs(run, inputs, not no_preprocess, device)  # refused before a model (or zoo entry) is loaded
    model = _model(run, checkpoint, device, batch_size, output_dir)
    done = denoise_files(model, files, output, compare, not no_preprocess, batch_size, force)
    n = done["files"]
    where = done["paths"][0] if done["paths"] == [output] else f"{n} file{'s' * (n != 1)} to {output}/"
    echo(f"wrote {where} ({done['images']:,} image{'s' * (done['images'] != 1)}, {model.name})")
    if done["compare"]:
        echo(f"wrote {done['compare']}")


@app.command(rich_help_panel=USE)
@handle_errors
def classify(run: str = RUN, inputs: List[str] = INPUTS,
             as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
             no_preprocess: bool = NO_PREPROCESS, checkpoint: str = CHECKPOINT, device: str = DEVICE,
             batch_size: int = BATCH, output_dir: Optional[Path] = OUTPUT_DIR):
    """The digit (or named class) in each of your images, with its probability (classifier runs)."""
    from rich.console import Console
    from rich.table import Table

    from mnistmax.use import classify_files

    files = read_inputs(run, inputs, not no_preprocess, device)  # before a model (or zoo entry) is loaded
    model = _model(run, checkpoint, device, batch_size, output_dir)
    rows = classify_files(model, files, not no_preprocess, batch_size)
    if as_json:
        typer.echo(json.dumps(rows, indent=1))
        return
    named = bool(model.class_names)
    table = Table(title=f"{model.name}: predicted {'classes' if named else 'digits'}")
    for col in ("input", "label", "class", "probability") if named else ("input", "digit", "probability"):
        table.add_column(col, justify="right" if col in ("label", "digit", "probability") else "left")
    for r in rows:
        table.add_row(r["input"], str(r["digit"]), *([r["class"]] if named else []), f"{r['probability']:.3f}")
    Console().print(table)


def embed_inputs(run: str, inputs: list[str], output: Path, checkpoint: str | None, no_preprocess: bool,
                 device: str, batch_size: int, force: bool, output_dir: Path | None = None) -> Path:
    """`mnistmax embed RUN INPUT... -o out.npz`: embeddings (N, D) and the input names (N,)."""
    from mnistmax.use import embed_files

    files = read_inputs(run, inputs, not no_preprocess, device)  # before a model (or zoo entry) is loaded
    return embed_files(_model(run, checkpoint, device, batch_size, output_dir), files, output, not no_preprocess,
                       batch_size, force)


@app.command(rich_help_panel=USE)
@handle_errors
def sample(run: str = RUN, n: int = typer.Option(64, "-n", min=1, help="how many digits"),
           output: Path = typer.Option(..., "--output", "-o", help="the FILE to write: a .png grid, or .npy for the "
                                       "(n, 28, 28) uint8 array"),
           seed: int = typer.Option(0, help="random seed"),
           mode: Optional[SampleMode] = typer.Option(None, help="how latents are drawn (default: normal for a VAE, "
                                                     "fitted to the training latents for an autoencoder)",
                                                     show_default=False),
           checkpoint: str = CHECKPOINT, force: bool = typer.Option(False, "--force", help="overwrite OUTPUT"),
           device: str = DEVICE, output_dir: Optional[Path] = OUTPUT_DIR):
    """New digits from a VAE or an autoencoder run's latent space."""
    import io

    import numpy as np

    from mnistmax.errors import ConfigError
    from mnistmax.files import write_atomic
    from mnistmax.userfiles import check_free

    if output.suffix.lower() not in (".png", ".npy"):
        raise ConfigError(f"-o {output}: -o/--output names the file sample writes: a .png grid or an .npy array")
    check_free([output], force)
    model = _model(run, checkpoint, device, 256, output_dir)
    images = model.sample(n, seed=seed, mode=mode and mode.value)
    if output.suffix.lower() == ".npy":
        buf = io.BytesIO()
        np.save(buf, np.round(images[:, 0].numpy() * 255).astype(np.uint8))
        echo(f"wrote {write_atomic(output, buf.getvalue())}")
        return
    from mnistmax.viz import figures

    cols = int(np.ceil(np.sqrt(n)))
    rows = [list(images[i:i + cols]) for i in range(0, n, cols)]
    echo(f"wrote {figures.labelled_rows(rows, [''] * len(rows), [], output, f'{model.name}: {n} samples')}")


@app.command(rich_help_panel=USE)
@handle_errors
def export(run: str = RUN,
           format: ExportFormat = typer.Option("onnx", "--format", help="safetensors: the weights only"),
           output: Optional[Path] = typer.Option(None, "--output", "-o", help="a FOLDER for the exported files "
                                                 "(created; default <run>/export). A new name with a file suffix "
                                                 "(model.onnx) is refused"),
           checkpoint: str = CHECKPOINT, force: bool = typer.Option(False, "--force", help="replace existing files"),
           device: str = typer.Option("cpu", "--device", help="where the model runs while exporting (choosing a "
                                      "bitmap denoiser's operating point): cpu, cuda, cuda:N, mps or auto; the files "
                                      "are traced and checked on the CPU, so they run anywhere"),
           output_dir: Optional[Path] = OUTPUT_DIR):
    """Export a trained model (checked against PyTorch) with model.json describing it."""
    from mnistmax.export import export_run
    from mnistmax.report.card import write_model_card
    from mnistmax.runs import load_run
    from mnistmax.userfiles import output_folder

    if output is not None:
        output_folder(output, "export")
    loaded = load_run(run, checkpoint, output_dir, device)
    echo(f"wrote {export_run(loaded, format.value, output, force, echo=echo)}")
    if output is None or Path(output).resolve() == (loaded.run_dir / "export").resolve():
        echo(f"wrote {write_model_card(loaded.run_dir, type(loaded.task))} (model card)")
