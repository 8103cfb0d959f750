"""Plain helpers shared by several test modules (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import yaml
from PIL import Image
from typer.testing import CliRunner

from mnistmax.cli import app
from mnistmax.config import RunConfig
from mnistmax.tasks import build_task, dump_yaml, load_config

ROOT = Path(__file__).resolve().parents[1]

# Small data and two epochs, for any task's config: trains in seconds.
TINY_ANY = [
    "data.source=embedded", "data.limit_train=192", "data.limit_test=40", "data.batch_size=32",
    "train.epochs=2", "train.max_time_minutes=null", "train.patience=null", "eval.batch_size=16",
    "logging.progress=plain",
]
# A tiny denoising run on top of configs/quick.yaml.
TINY = [*TINY_ANY, "model.base_ch=8", "noise.test_sigmas=[0.1, 0.5]", "noise.eval_kinds=[gaussian, salt_pepper]"]

runner = CliRunner()


def invoke(*args):
    """Run the CLI in-process; every argument as a string."""
    return runner.invoke(app, [str(a) for a in args])


def one_error_line(result) -> str:
    """The CLI's whole output for a refused input: exactly one `error: ...` line."""
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def tiny_config(*overrides: str) -> RunConfig:
    return load_config(ROOT / "configs" / "quick.yaml", [*TINY, *overrides])


def fake_run(tmp_path: Path, checkpoint, which: str = "best", cfg: RunConfig | None = None) -> Path:
    """A run directory (config.yaml + checkpoints/<which>.ckpt) without training anything."""
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(dump_yaml(cfg or tiny_config()))
    path = run / "checkpoints" / f"{which}.ckpt"
    if isinstance(checkpoint, bytes):
        path.write_bytes(checkpoint)
    else:
        torch.save(checkpoint, path)
    return run


def hide_module(monkeypatch, module: str) -> None:
    """Make `import module` (and its submodules) fail, as when an extra is not installed."""
    import builtins
    import sys

    real_import = builtins.__import__

    def blocked(name, *args, **kwargs):
        if name == module or name.startswith(module + "."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", blocked)
    monkeypatch.delitem(sys.modules, module, raising=False)


def assert_picture(path, min_size=(100, 100)):
    """`path` is a readable image of at least `min_size` pixels that is not blank."""
    assert path.is_file(), path
    with Image.open(path) as im:
        im.load()
        assert im.size[0] >= min_size[0] and im.size[1] >= min_size[1]
        pixels = np.asarray(im.convert("L"), dtype=np.float32)
    assert pixels.var() > 0, f"{path} is blank"


def real_checkpoint_bytes(tmp_path) -> bytes:
    path = tmp_path / "real.ckpt"
    torch.save({"state_dict": build_task(tiny_config()).state_dict(), "epoch": 0}, path)
    return path.read_bytes()


def grid_file(tmp_path, extra_cv=None):
    spec = {
        "name": "tiny-grid",
        "base": {
            "name": "tiny", "data": {"source": "embedded", "limit_train": 96, "limit_test": 30, "batch_size": 32},
            "model": {"name": "unet_dae", "base_ch": 4},
            "noise": {"train_sigma_range": [0.0, 1.0], "test_sigmas": [0.3], "eval_kinds": ["gaussian"]},
            "train": {"epochs": 1, "max_time_minutes": None, "patience": None}, "eval": {"batch_size": 64},
            "logging": {"output_dir": str(tmp_path / "out"), "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
                        "progress": "none"},
        },
        "grid": {"train.lr": [0.001, 0.003]},
        "cv": {"folds": 2, "seed": 0, **(extra_cv or {})},
    }
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path
