"""mnistmax denoise / classify / embed / sample: use a trained model on your own images."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from mnistmax.cli.common import CHECKPOINT, RUN, app, echo, handle_errors

INPUTS = typer.Argument(..., help="image files (PNG, JPEG, ...), folders of them, .npy / .npz arrays or IDX files",
                        show_default=False)
NO_PREPROCESS = typer.Option(False, "--no-preprocess", help="image files are already MNIST-style 28x28 digits "
                             "(light on dark); default: fit each the MNIST way (polarity, 20x20 box, centre of mass)")
DEVICE = typer.Option("cpu", "--device", help="cpu, cuda, cuda:1, mps")
BATCH = typer.Option(256, "--batch-size", min=1, help="images per forward pass")
PROGRESS_FROM = 300  # a progress bar for more images than this


def _model(run: str, checkpoint: str | None, device: str, batch_size: int):
    import mnistmax

    return mnistmax.load(run, checkpoint, device=device, batch_size=batch_size)


def _blocks(method, files, batch_size: int) -> list[dict]:
    """`method` over every input's arrays (image files stacked into one batch), in blocks of
    `batch_size` images, with a progress bar past PROGRESS_FROM images. Per file: key -> list of
    block outputs (one for a single (28, 28) image)."""
    import numpy as np
    from rich.progress import Progress

    jobs = []  # (file indices, key, array); image files go together
    image_files = [i for i, f in enumerate(files) if f.kind == "image"]
    if image_files:
        jobs.append((image_files, "", np.stack([files[i].arrays[""] for i in image_files])))
    for i, f in enumerate(files):
        if f.kind != "image":
            jobs += [([i], key, a) for key, a in f.arrays.items()]
    total = sum(1 if a.ndim == 2 else len(a) for _, _, a in jobs)
    results: list[dict] = [{} for _ in files]
    with Progress(transient=True, disable=total <= PROGRESS_FROM) as bar:
        task = bar.add_task(f"{total:,} images", total=total)
        for indices, key, a in jobs:
            if a.ndim == 2:
                outs = [method(a)]
                bar.advance(task, 1)
            else:
                outs = []
                for start in range(0, len(a), batch_size):
                    outs.append(method(a[start:start + batch_size]))
                    bar.advance(task, len(outs[-1][0]) if isinstance(outs[-1], tuple) else len(outs[-1]))
            if len(indices) == 1:
                results[indices[0]][key] = outs
            else:  # stacked image files: split the outputs back, one per file
                stacked = np.concatenate(outs) if not isinstance(outs[0], tuple) else tuple(
                    np.concatenate([o[j] for o in outs]) for j in range(len(outs[0])))
                for n, i in enumerate(indices):
                    results[i][key] = [stacked[n] if not isinstance(stacked, tuple) else tuple(s[n] for s in stacked)]
    return results


def _names(f, key: str, count: int | None) -> list[str]:
    base = f.path.name + (f"[{key}]" if key else "")
    return [base] if count is None else [f"{base}[{i}]" for i in range(count)]


@app.command()
@handle_errors
def denoise(run: str = RUN, inputs: List[str] = INPUTS,
            output: Path = typer.Option(..., "--output", "-o", help="folder for the results (created)"),
            compare: bool = typer.Option(False, "--compare", help="also write compare.png: input | denoised"),
            no_preprocess: bool = NO_PREPROCESS, checkpoint: str = CHECKPOINT, device: str = DEVICE,
            batch_size: int = BATCH, force: bool = typer.Option(False, "--force", help="overwrite existing results")):
    """Denoise your images with a trained denoiser; each result is written as the input's kind."""
    import numpy as np

    from mnistmax.userfiles import check_free, image_output_name, read_inputs, write_like

    model = _model(run, checkpoint, device, batch_size)
    model._require("denoise", "denoise")
    files = read_inputs(inputs, preprocess=not no_preprocess)
    paths = [output / (image_output_name(f) if f.kind == "image" else f.path.name) for f in files]
    check_free(paths + ([output / "compare.png"] if compare else []), force)
    results = _blocks(lambda a: model.denoise(a, preprocess=False), files, batch_size)
    for f, res, path in zip(files, results, paths):
        arrays = {k: (outs[0] if f.arrays[k].ndim == 2 else np.concatenate(outs)) for k, outs in res.items()}
        write_like(f, arrays, path)
    echo(f"wrote {len(files)} file{'s' if len(files) != 1 else ''} to {output}/ "
         f"({sum(f.count() for f in files):,} images, {model.name})")
    if compare:
        echo(f"wrote {_compare_picture(files, results, output / 'compare.png', model.name)}")


def _compare_picture(files, results, path: Path, name: str, limit: int = 32) -> Path:
    """Input | denoised pairs, four pairs a row, for the first `limit` images."""
    import numpy as np
    import torch

    from mnistmax.viz import figures

    pairs = []
    for f, res in zip(files, results):
        for key, a in f.arrays.items():
            out = res[key][0] if a.ndim == 2 else np.concatenate(res[key])
            ins = a[None] if a.ndim == 2 else a.reshape(-1, 28, 28)
            outs = out[None] if a.ndim == 2 else out.reshape(-1, 28, 28)
            pairs += list(zip(ins, outs))
    pairs = pairs[:limit]

    def unit(x):
        t = torch.as_tensor(np.asarray(x)).float()
        return (t / 255.0 if np.asarray(x).dtype == np.uint8 else t)[None]

    per_row = 4
    rows = [[img for pair in pairs[i:i + per_row] for img in (unit(pair[0]), unit(pair[1]))]
            for i in range(0, len(pairs), per_row)]
    return figures.labelled_rows(rows, [""] * len(rows), ["input", "denoised"] * min(per_row, len(pairs)), path,
                                 f"{name}: {len(pairs)} image{'s' if len(pairs) != 1 else ''}")


@app.command()
@handle_errors
def classify(run: str = RUN, inputs: List[str] = INPUTS,
             as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
             no_preprocess: bool = NO_PREPROCESS, checkpoint: str = CHECKPOINT, device: str = DEVICE,
             batch_size: int = BATCH):
    """The digit in each of your images, with its probability (classifier runs)."""
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from mnistmax.userfiles import read_inputs

    model = _model(run, checkpoint, device, batch_size)
    model._require("classify", "classify")
    files = read_inputs(inputs, preprocess=not no_preprocess)

    def method(a):
        c = model.classify(a, preprocess=False)
        return np.atleast_1d(np.asarray(c.digits)), np.atleast_1d(np.asarray(c.probabilities))

    rows = []
    for f, res in zip(files, _blocks(method, files, batch_size)):
        for key, outs in res.items():
            digits = np.concatenate([np.atleast_1d(o[0]) for o in outs])
            probs = np.concatenate([np.atleast_1d(o[1]) for o in outs])
            names = _names(f, key, None if f.arrays[key].ndim == 2 else len(digits))
            rows += [{"input": n, "digit": int(d), "probability": round(float(p), 4)}
                     for n, d, p in zip(names, digits, probs)]
    if as_json:
        typer.echo(json.dumps(rows, indent=1))
        return
    table = Table(title=f"{model.name}: predicted digits")
    for col in ("input", "digit", "probability"):
        table.add_column(col, justify="left" if col == "input" else "right")
    for r in rows:
        table.add_row(r["input"], str(r["digit"]), f"{r['probability']:.3f}")
    Console().print(table)


def embed_inputs(run: str, inputs: list[str], output: Path, checkpoint: str | None, no_preprocess: bool,
                 device: str, batch_size: int, force: bool) -> Path:
    """`mnistmax embed RUN INPUT... -o out.npz`: embeddings (N, D) and the input names (N,)."""
    import io

    import numpy as np

    from mnistmax.files import write_atomic
    from mnistmax.userfiles import check_free, read_inputs

    model = _model(run, checkpoint, device, batch_size)
    model._require("embed", "embed")
    files = read_inputs(inputs, preprocess=not no_preprocess)
    check_free([output], force)
    names, vectors = [], []
    for f, res in zip(files, _blocks(lambda a: np.atleast_2d(model.embed(a, preprocess=False)), files, batch_size)):
        for key, outs in res.items():
            z = np.concatenate([np.atleast_2d(o) for o in outs])
            names += _names(f, key, None if f.arrays[key].ndim == 2 else len(z))
            vectors.append(z)
    buf = io.BytesIO()
    np.savez_compressed(buf, embeddings=np.concatenate(vectors).astype(np.float32), names=np.array(names))
    return write_atomic(output, buf.getvalue())


@app.command()
@handle_errors
def sample(run: str = RUN, n: int = typer.Option(64, "-n", min=1, help="how many digits"),
           output: Path = typer.Option(..., "--output", "-o", help="a .png grid, or .npy for the (n, 28, 28) array"),
           seed: int = typer.Option(0, help="random seed"),
           mode: Optional[str] = typer.Option(None, help="normal, uniform or fitted (default: normal for a VAE, "
                                              "fitted to the training latents for an autoencoder)"),
           checkpoint: str = CHECKPOINT, force: bool = typer.Option(False, "--force", help="overwrite OUTPUT")):
    """New digits from a VAE or an autoencoder run's latent space."""
    import io

    import numpy as np

    from mnistmax.files import write_atomic
    from mnistmax.userfiles import check_free

    model = _model(run, checkpoint, "cpu", 256)
    check_free([output], force)
    images = model.sample(n, seed=seed, mode=mode)
    if output.suffix.lower() == ".npy":
        buf = io.BytesIO()
        np.save(buf, np.round(images[:, 0].numpy() * 255).astype(np.uint8))
        echo(f"wrote {write_atomic(output, buf.getvalue())}")
        return
    from mnistmax.viz import figures

    cols = int(np.ceil(np.sqrt(n)))
    rows = [list(images[i:i + cols]) for i in range(0, n, cols)]
    echo(f"wrote {figures.labelled_rows(rows, [''] * len(rows), [], output, f'{model.name}: {n} samples')}")


@app.command()
@handle_errors
def export(run: str = RUN,
           format: str = typer.Option("onnx", "--format", help="onnx, torchscript or safetensors (weights only)"),
           output: Optional[Path] = typer.Option(None, "--output", "-o", help="folder (default: <run>/export)"),
           checkpoint: str = CHECKPOINT, force: bool = typer.Option(False, "--force", help="replace existing files")):
    """Export a trained model (checked against PyTorch) with model.json describing it."""
    from mnistmax.export import export_run
    from mnistmax.report.card import write_model_card
    from mnistmax.runs import load_run

    loaded = load_run(run, checkpoint)
    echo(f"wrote {export_run(loaded, format, output, force, echo=echo)}")
    if output is None or Path(output).resolve() == (loaded.run_dir / "export").resolve():
        echo(f"wrote {write_model_card(loaded.run_dir)} (model card)")
