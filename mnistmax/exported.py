"""Reading an export folder (`mnistmax export --format safetensors`: model.json and
model.safetensors) back into a task: what `mnistmax.load` and the zoo use. Writing one is
mnistmax.export."""

from __future__ import annotations

import json
from pathlib import Path

from mnistmax.errors import MnistmaxError

EXPORT_VERSION = 1   # model.json layout; mnistmax.load refuses other versions
FORMATS = ("onnx", "torchscript", "safetensors")  # what mnistmax.export writes; here, light, for the CLI's --format


class ExportError(MnistmaxError):
    exit_code = 2


def read_export(folder: Path) -> dict:
    """model.json of an export folder, checked for a layout this version reads."""
    path = Path(folder) / "model.json"
    if not path.is_file():
        raise ExportError(f"{folder} is not an export folder: it has no model.json")
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise ExportError(f"{path}: unreadable model.json ({first})") from None
    except RecursionError:  # json decodes nested values recursively
        raise ExportError(f"{path}: unreadable model.json (its values nest too deeply)") from None
    if not isinstance(meta, dict):
        raise ExportError(f"{path}: model.json holds a JSON {type(meta).__name__}, not an object of keys; "
                          "export the run again")
    if meta.get("export_version") != EXPORT_VERSION:
        raise ExportError(f"{folder} was exported by mnistmax {_shown(meta.get('mnistmax_version', '?'))} (export "
                          f"layout {_shown(meta.get('export_version', '?'))}); this mnistmax reads layout "
                          f"{EXPORT_VERSION}: export the run again")
    check_meta(meta, path)
    return meta


def _shown(value) -> str:
    """A value of model.json in a message: a printable string as it is, anything else as a short repr."""
    import reprlib

    if isinstance(value, str) and value.isprintable() and len(value) <= 40:
        return value
    return reprlib.repr(value)


def _depth(value, limit: int) -> int:
    """How deeply a JSON value nests (counted up to `limit` + 1), walked without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack and deepest <= limit:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, depth + 1)
            stack += [(child, depth + 1) for child in (node.values() if isinstance(node, dict) else node)]
    return deepest


MAX_CONFIG_DEPTH = 32  # a run's config nests three or four levels


def check_meta(meta: dict, path: Path) -> None:
    """The keys this version uses, with their types and ranges, or one ExportError naming the key."""
    import reprlib

    config = meta.get("config")
    if not isinstance(config, dict):
        got = "missing" if "config" not in meta else f"a JSON {type(config).__name__}"
        raise ExportError(f"{path}: key 'config' (the run's config, an object) is {got}; export the run again")
    model = config.get("model")
    if model is not None and not (isinstance(model, dict) and isinstance(model.get("name", ""), str)):
        raise ExportError(f"{path}: key 'config.model' is {reprlib.repr(model)}; it must be an object whose name "
                          "is a network's name; export the run again")
    if _depth(config, MAX_CONFIG_DEPTH) > MAX_CONFIG_DEPTH:
        raise ExportError(f"{path}: key 'config' nests deeper than {MAX_CONFIG_DEPTH} levels; export the run again")
    t = meta.get("threshold")
    # the comparison refuses NaN and infinities too, and never converts a huge integer to a float
    if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t < 1):
        raise ExportError(f"{path}: key 'threshold' is {reprlib.repr(t)}; it must be null or a number between 0 and 1 "
                          "(exclusive: the output level above which a pixel is ink)")
    for key, kind in (("files", dict), ("checkpoint", str), ("network", str), ("task", str)):
        if meta.get(key) is not None and not isinstance(meta[key], kind):
            raise ExportError(f"{path}: key {key!r} is a JSON {type(meta[key]).__name__}, not "
                              f"{'an object' if kind is dict else 'a string'}")


def load_export(folder: Path):
    """(task, cfg, output threshold or None) from an export folder's model.json and model.safetensors."""
    from mnistmax.tasks import build_task, read_run_config

    meta = read_export(folder)
    weights = Path(folder) / "model.safetensors"
    if not weights.is_file():
        raise ExportError(f"{folder} has no model.safetensors; export the run with --format safetensors to load it "
                          "in Python (ONNX / TorchScript files run in their own runtimes)")
    from safetensors import torch as safetensors_torch  # a core dependency: the zoo's weights are safetensors

    cfg = read_run_config(meta["config"], f"{folder / 'model.json'} (its config)")
    task = build_task(cfg)
    try:
        state = safetensors_torch.load_file(str(weights))
    except Exception as exc:  # safetensors' SafetensorError (a bad header), OSError
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise ExportError(f"{weights} is truncated or corrupt ({first})") from None
    try:
        task.net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ExportError(f"{weights} does not match {cfg.model.name}: {str(exc).splitlines()[0][:160]}") from None
    threshold = meta.get("threshold")
    return task, cfg, None if threshold is None else float(threshold)
