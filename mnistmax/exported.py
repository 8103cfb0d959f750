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
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ExportError(f"{path}: unreadable model.json ({exc})") from None
    if meta.get("export_version") != EXPORT_VERSION:
        raise ExportError(f"{folder} was exported by mnistmax {meta.get('mnistmax_version', '?')} (export layout "
                          f"{meta.get('export_version', '?')}); this mnistmax reads layout {EXPORT_VERSION}: "
                          "export the run again")
    return meta


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
    return task, cfg, meta.get("threshold")
