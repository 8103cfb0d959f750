"""`mnistmax export`: a trained model for use outside mnistmax's Python.

    <run>/export/
      model.json            what it is: network and arguments, the run's config, graphs with their
                            input/output shapes and ranges, preprocessing, version, metrics
      model.onnx            --format onnx: the task's main function, dynamic batch axis
      encoder.onnx / decoder.onnx   autoencoders and VAEs: encode and decode on their own
      model.torchscript.pt  --format torchscript (traced), same graphs
      model.safetensors     --format safetensors: the network's weights only (mnistmax.load reads
                            the folder back through model.json)

Every ONNX and TorchScript file is checked against the PyTorch model on test digits (a batch
size other than the one traced, so the dynamic axis is exercised); the largest absolute
difference is written to model.json and must be <= 1e-4. A bitmap denoiser's graph ends in its
output threshold (model.json `threshold`: the operating point `mnistmax eval` chose).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from mnistmax.exported import EXPORT_VERSION, FORMATS, ExportError, load_export, read_export  # noqa: F401
from mnistmax.files import write_with
from mnistmax.tasks.graphs import Graph

TOLERANCE = 1e-4


def mismatch(got: torch.Tensor, want: torch.Tensor, graph: Graph, x: torch.Tensor) -> float:
    """The largest difference between an exported graph's output and PyTorch's. A thresholded
    graph's pixels may flip only where the raw output lies within TOLERANCE of the threshold
    (runtimes round differently there); any other flip counts as 1."""
    if graph.threshold is None:
        return float((got - want).abs().max())
    with torch.no_grad():
        near = (graph.raw(x).float() - graph.threshold).abs() <= TOLERANCE
    return float(((got - want).abs() * ~near).max())


class _Wrap(torch.nn.Module):
    """A graph's function as a module whose parameters are the network's."""

    def __init__(self, net: torch.nn.Module, fn):
        super().__init__()
        self.net, self.fn = net, fn

    def forward(self, x):
        return self.fn(x)


def graphs(task, threshold: float | None = None) -> list[Graph]:
    """The graphs a task's model exports (the task says: `export_graphs`)."""
    return task.export_graphs(threshold)


def example_input(graph: Graph, images: torch.Tensor) -> torch.Tensor:
    if graph.input_name == "latent":
        return torch.randn(len(images), graph.input_shape[1], generator=torch.Generator().manual_seed(0))
    return images


def _need(module: str):
    from mnistmax.errors import require_extra

    return require_extra(module, "export", "ONNX export and its check")


def export_onnx(graph: Graph, task, example: torch.Tensor, path: Path) -> None:
    _need("onnx")
    import warnings

    wrapper = _Wrap(task.net, graph.fn).eval()
    fastpath = torch.backends.mha.get_fastpath_enabled()
    # attention's fused inference kernel has no ONNX form; the plain ops give the same numbers
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            write_with(path, lambda buf: torch.onnx.export(
                wrapper, (example,), buf, input_names=[graph.input_name], output_names=[graph.output_name],
                opset_version=17, dynamo=False,
                dynamic_axes={graph.input_name: {0: "batch"}, graph.output_name: {0: "batch"}}))
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)


def run_onnx(path: Path, x: torch.Tensor):
    ort = _need("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return torch.from_numpy(session.run(None, {name: x.numpy()})[0])


def export_torchscript(graph: Graph, task, example: torch.Tensor, path: Path) -> None:
    import warnings

    wrapper = _Wrap(task.net, graph.fn).eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(wrapper, (example,), check_trace=False)
        write_with(path, lambda buf: torch.jit.save(traced, buf))


def run_torchscript(path: Path, x: torch.Tensor) -> torch.Tensor:
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # torch.jit is deprecated in favour of torch.export, still supported
        return torch.jit.load(str(path)).eval()(x)


def model_card_fields(run) -> dict:
    """What model.json says about where the model came from and how good it is."""
    from mnistmax._version import __version__
    from mnistmax.tasks import used_config

    eval_json = run.run_dir / "eval" / f"{type(run.task).eval_stem}.json"  # eval.json, or probe.json (encoders)
    metrics = None
    if eval_json.is_file():
        rows = json.loads(eval_json.read_text())
        try:
            metrics = {"headline": type(run.task).headline(rows), "command": f"mnistmax eval {run.run_dir}"}
        except Exception:  # an eval.json from an older layout: still export, without the numbers
            metrics = None
    return {"mnistmax_version": __version__, "export_version": EXPORT_VERSION, "task": run.cfg.task,
            "network": run.cfg.model.name, "arguments": {k: v for k,
                                                         v in used_config(run.cfg)["model"].items() if k != "name"},
            "capabilities": sorted(run.task.capabilities), "run": str(run.run_dir),
            "checkpoint": run.checkpoint, "config": used_config(run.cfg), "metrics": metrics,
            "preprocessing": {"input": "(B, 1, 28, 28) float32 in [0, 1], light ink on black (MNIST form)",
                              "binarize": (run.cfg.data.threshold if run.cfg.data.binarize else None),
                              "from_pictures": "mnistmax.data.preprocess.to_mnist: polarity, 20x20 box, centre "
                                               "of mass at (14, 14)"}}


def export_run(run, fmt: str, out_dir: Path | None = None, force: bool = False, echo=print) -> Path:
    """Write `fmt` files and model.json into out_dir (default <run>/export); returns model.json."""
    from mnistmax.data.datamodule import clean_images
    from mnistmax.files import write_atomic, write_json

    if fmt not in FORMATS:
        raise ExportError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    out_dir = Path(out_dir or run.run_dir / "export")
    from mnistmax.eval.operating import operating_threshold

    threshold = operating_threshold(run)  # on the run's device (load_run(device=)): a sweep of the validation split
    task = run.task.eval().cpu()  # the files are traced and checked on the CPU: they run anywhere
    gs = graphs(task, threshold)
    files = {"onnx": [out_dir / f"{g.name}.onnx" for g in gs],
             "torchscript": [out_dir / f"{g.name}.torchscript.pt" for g in gs],
             "safetensors": [out_dir / "model.safetensors"]}[fmt]
    taken = [p for p in files if p.exists()]
    if taken and not force:
        raise ExportError(f"{taken[0]} exists; pass --force to replace it")
    meta_path = out_dir / "model.json"
    try:
        meta = read_export(out_dir) if meta_path.is_file() else {}
    except ExportError as exc:  # a damaged or older model.json: one line, nothing written, unless --force
        if not force:
            raise ExportError(f"{exc} (or pass --force to replace the folder's model.json)") from None
        meta = {}
    source = {"run": str(run.run_dir), "checkpoint": run.checkpoint}
    stale = [name for name in meta.get("files", {}) if (out_dir / name).exists() and name not in
             {p.name for p in files}] if meta and {k: meta.get(k) for k in source} != source else []
    if stale and not force:  # one model.json describes one checkpoint: its config, threshold, metrics
        raise ExportError(f"{out_dir} holds {stale[0]} exported from {meta.get('run')} ({meta.get('checkpoint')} "
                          f"checkpoint), not {run.run_dir} ({run.checkpoint}); export into another folder (-o) or "
                          "pass --force to replace that folder's files")
    if meta and {k: meta.get(k) for k in source} != source:
        meta = {}  # another checkpoint's description: none of it carries over
    out_dir.mkdir(parents=True, exist_ok=True)
    meta.update(model_card_fields(run) | {"threshold": threshold})
    meta.setdefault("files", {})
    images = clean_images(run.test_images[:5], run.cfg) if fmt != "safetensors" else None
    if fmt == "safetensors":
        from safetensors import torch as safetensors_torch
        state = {k: v.detach().cpu().contiguous() for k, v in task.net.state_dict().items()}
        write_atomic(files[0], safetensors_torch.save(state))
        meta["files"]["model.safetensors"] = {"weights": "network state_dict (task.net)", "tensors": len(state)}
    else:
        for g, path in zip(gs, files):
            trace_with = example_input(g, images[:2])
            check_with = example_input(g, images)  # another batch size than traced: the batch axis is dynamic
            tmp = path.with_name(f".{path.name}.tmp")
            (export_onnx if fmt == "onnx" else export_torchscript)(g, task, trace_with, tmp)
            with torch.no_grad():
                want = g.fn(check_with).float()
            got = (run_onnx if fmt == "onnx" else run_torchscript)(tmp, check_with).float()
            diff = mismatch(got, want, g, check_with) if got.shape == want.shape else float("inf")
            if diff > TOLERANCE:
                tmp.unlink(missing_ok=True)
                raise ExportError(f"{fmt} export of {g.name} does not match PyTorch (max abs diff {diff:.2e} > "
                                  f"{TOLERANCE:g}); nothing written")
            tmp.replace(path)
            meta["files"][path.name] = {"method": g.method,
                                        "input": {"name": g.input_name, "shape": g.input_shape, "range": g.input_range},
                                        "output": {"name": g.output_name, "shape": g.output_shape,
                                                   "range": g.output_range},
                                        "max_abs_diff_vs_pytorch": diff, "checked_batch": len(check_with)}
            echo(f"wrote {path} (max abs diff vs PyTorch {diff:.1e} on {len(check_with)} test digits)")
    for name in stale:  # --force: the other checkpoint's files go with its description
        (out_dir / name).unlink(missing_ok=True)
        echo(f"removed {out_dir / name} (exported from another checkpoint)")
    write_json(meta_path, meta)
    return meta_path
