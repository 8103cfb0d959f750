"""A trained model on the user's files (`mnistmax denoise / classify / embed`), as plain functions:
inputs read (images, folders, .npy / .npz, IDX), run in blocks of `batch_size` images (image files
stacked into one batch), results written like the inputs. The CLI only parses."""

from __future__ import annotations

from pathlib import Path

from mnistmax.files import write_atomic
from mnistmax.userfiles import check_free, image_output_name, output_folder, read_inputs, write_like

PROGRESS_FROM = 300  # a progress bar for more images than this


def denoise_files(model, inputs: list[str], output: Path, compare: bool = False, preprocess: bool = True,
                  batch_size: int = 256, force: bool = False) -> dict:
    """Denoise every input into the folder `output` (each as the input's kind; compare.png: input |
    denoised); one picture alone with an image file name as `output` (digit.png -> clean.png) is
    written to that file (its comparison to clean-compare.png). Returns {"files", "images",
    "compare", "paths"}."""
    import numpy as np

    from mnistmax.data.inputs import IMAGE_SUFFIXES

    model.require("denoise", "denoise")
    files = read_inputs(inputs, preprocess=preprocess)
    output = Path(output)
    if len(files) == 1 and files[0].kind == "image" and output.suffix.lower() in IMAGE_SUFFIXES and not output.is_dir():
        paths, compare_path = [output], output.with_name(f"{output.stem}-compare.png")
    else:
        output = output_folder(output, "denoise", single=" unless one picture is denoised into an image file "
                               "(digit.png -o clean.png)")
        paths = [output / (image_output_name(f) if f.kind == "image" else f.path.name) for f in files]
        compare_path = output / "compare.png"
    check_free(paths + ([compare_path] if compare else []), force)
    results = run_in_blocks(lambda a: model.denoise(a, preprocess=False), files, batch_size)
    for f, res, path in zip(files, results, paths):
        arrays = {k: (outs[0] if f.arrays[k].ndim == 2 else np.concatenate(outs)) for k, outs in res.items()}
        write_like(f, arrays, path)
    picture = compare_picture(files, results, compare_path, model.name) if compare else None
    return {"files": len(files), "images": sum(f.count() for f in files), "compare": picture, "paths": paths}


def classify_files(model, inputs: list[str], preprocess: bool = True, batch_size: int = 256) -> list[dict]:
    """[{"input", "digit", "probability"}] for every image of every input, and "class" (its name) when the
    model's classes have names."""
    import numpy as np

    model.require("classify", "classify")
    files = read_inputs(inputs, preprocess=preprocess)

    def method(a):
        c = model.classify(a, preprocess=False)
        return np.atleast_1d(np.asarray(c.digits)), np.atleast_1d(np.asarray(c.probabilities))

    rows = []
    for f, res in zip(files, run_in_blocks(method, files, batch_size)):
        for key, outs in res.items():
            digits = np.concatenate([np.atleast_1d(o[0]) for o in outs])
            probs = np.concatenate([np.atleast_1d(o[1]) for o in outs])
            names = input_names(f, key, None if f.arrays[key].ndim == 2 else len(digits))
            rows += [{"input": n, "digit": int(d), "probability": round(float(p), 4),
                      **({"class": model.class_names[int(d)]} if model.class_names else {})}
                     for n, d, p in zip(names, digits, probs)]
    return rows


def embed_files(model, inputs: list[str], output: Path, preprocess: bool = True, batch_size: int = 256,
                force: bool = False) -> Path:
    """embeddings (N, D) and the input names (N,) of every image -> `output` (.npz)."""
    import io

    import numpy as np

    model.require("embed", "embed")
    files = read_inputs(inputs, preprocess=preprocess)
    check_free([output], force)
    names, vectors = [], []
    for f, res in zip(files, run_in_blocks(lambda a: np.atleast_2d(model.embed(a, preprocess=False)), files,
                                           batch_size)):
        for key, outs in res.items():
            z = np.concatenate([np.atleast_2d(o) for o in outs])
            names += input_names(f, key, None if f.arrays[key].ndim == 2 else len(z))
            vectors.append(z)
    buf = io.BytesIO()
    np.savez_compressed(buf, embeddings=np.concatenate(vectors).astype(np.float32), names=np.array(names))
    return write_atomic(output, buf.getvalue())


def run_in_blocks(method, files, batch_size: int) -> list[dict]:
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
            if files[indices[0]].kind != "image":  # one file's array: its block outputs as they are
                results[indices[0]][key] = outs
            else:  # stacked image files: split the outputs back, one per file
                stacked = np.concatenate(outs) if not isinstance(outs[0], tuple) else tuple(
                    np.concatenate([o[j] for o in outs]) for j in range(len(outs[0])))
                for n, i in enumerate(indices):
                    results[i][key] = [stacked[n] if not isinstance(stacked, tuple) else tuple(s[n] for s in stacked)]
    return results


def input_names(f, key: str, count: int | None) -> list[str]:
    """How rows name an input: the file, its array key, and the index of each image in it."""
    base = f.path.name + (f"[{key}]" if key else "")
    return [base] if count is None else [f"{base}[{i}]" for i in range(count)]


def compare_picture(files, results, path: Path, name: str, limit: int = 32) -> Path:
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
