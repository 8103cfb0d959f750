"""Tiny search files for the experiment tests: a 1-epoch U-Net on 96 embedded digits."""

from __future__ import annotations

from pathlib import Path

import yaml


def tiny_base(tmp: Path, **logging) -> dict:
    return {
        "name": "tiny", "data": {"source": "embedded", "limit_train": 96, "limit_test": 30, "batch_size": 32},
        "model": {"name": "unet_dae", "base_ch": 4},
        "noise": {"train_sigma_range": [0.0, 1.0], "test_sigmas": [0.3], "eval_kinds": ["gaussian"]},
        "train": {"epochs": 1, "max_time_minutes": None, "patience": None}, "eval": {"batch_size": 64},
        "logging": {"output_dir": str(tmp / "out"), "progress": "none", **logging},
    }


def search_file(tmp: Path, name: str = "tiny-search", file: str = "search.yaml", **spec) -> Path:
    """A search file over tiny_base (MLflow off unless `base` says otherwise); `spec` adds or replaces keys."""
    spec = {"name": name, "base": tiny_base(tmp, mlflow=False), "space": {"train.lr": [0.001, 0.003]},
            "sampler": "grid", "cv": {"folds": 2, "seed": 0}, "heartbeat": {"interval": 1, "grace": 3}, **spec}
    path = tmp / file
    path.write_text(yaml.safe_dump({k: v for k, v in spec.items() if v is not None}))
    return path
