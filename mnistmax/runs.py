"""Run directories: creation (never reusing one), atomic file writes, meta.json, loading.

    outputs/runs/<name>-<YYYYmmdd-HHMMSS>/
        config.yaml  meta.json  metrics.csv  checkpoints/{best,last}.ckpt  eval/ ...
"""

from __future__ import annotations

import csv
import json
import os
import platform
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from mnistmax.errors import RunError

if TYPE_CHECKING:
    from mnistmax.config import RunConfig
    from mnistmax.data.datamodule import Splits
    from mnistmax.tasks import BaseTask


_UMASK = os.umask(0)
os.umask(_UMASK)


def now_iso() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def write_atomic(path: str | Path, text: str | bytes) -> Path:
    """Write to a temporary file in the same folder, then rename over `path`: a kill never
    leaves a half-written file where a complete one was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(text, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, data) -> Path:
    return write_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


def runs_root(output_dir: str | Path) -> Path:
    return Path(output_dir) / "runs"


def create_run_dir(output_dir: str | Path, name: str) -> Path:
    """A new, empty run directory; an existing one is never reused."""
    return create_unique_dir(runs_root(output_dir), name)


def create_unique_dir(root: Path, name: str) -> Path:
    """A new, empty `root/<name>-<timestamp>[-i]`; an existing directory is never reused."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for i in range(1, 1000):
        candidate = root / (f"{name}-{stamp}" if i == 1 else f"{name}-{stamp}-{i}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise RunError(f"could not create a new run directory under {root}")


def read_run_yaml(run_dir: str | Path) -> dict:
    """A run's config.yaml as a plain mapping (no validation): for what only reads a key."""
    import yaml

    return yaml.safe_load((Path(run_dir) / "config.yaml").read_text()) or {}


def read_meta(run_dir: str | Path) -> dict:
    path = Path(run_dir) / "meta.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def update_meta(run_dir: str | Path, **fields) -> dict:
    meta = read_meta(run_dir) | fields
    write_json(Path(run_dir) / "meta.json", meta)
    return meta


def git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def versions() -> dict[str, str]:
    import lightning
    import torch
    import torchmetrics

    import mnistmax

    return {
        "mnistmax": mnistmax.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "torchmetrics": torchmetrics.__version__,
    }


def resolve_run(run: str | Path, output_dir: str | Path = "outputs") -> Path:
    """A run given as a path, as a name under outputs/runs, or as `latest`."""
    path = Path(run)
    if str(run) == "latest":
        candidates = [p for p in runs_root(output_dir).glob("*/") if (p / "config.yaml").is_file()]
        if not candidates:
            raise RunError(f"no runs under {runs_root(output_dir)}; train one with `mnistmax train`")
        return max(candidates, key=lambda p: (read_meta(p).get("started", ""), p.stat().st_mtime))
    for candidate in (path, runs_root(output_dir) / path):
        if (candidate / "config.yaml").is_file():
            return candidate
    if path.exists():
        raise RunError(f"{path} is not a run directory (no config.yaml)")
    raise RunError(f"run {str(run)!r} not found (give a run directory, a name under {runs_root(output_dir)}, or 'latest')")


CHECKPOINTS = ("best", "last", "interrupted")


def find_checkpoint(run_dir: Path, which: str = "best") -> Path:
    """checkpoints/<which>.ckpt of a run (best, last or interrupted), or a .ckpt path; never
    another checkpoint than the one asked for."""
    if which.endswith(".ckpt"):
        path = Path(which)
        if not path.is_file():
            raise RunError(f"checkpoint {path} not found")
        return path
    if which not in CHECKPOINTS:
        raise RunError(f"--checkpoint {which!r}: use {', '.join(CHECKPOINTS)} or a path to a .ckpt file")
    folder = Path(run_dir) / "checkpoints"
    path = folder / f"{which}.ckpt"
    if path.is_file():
        return path
    have = sorted(p.stem for p in folder.glob("*.ckpt")) if folder.is_dir() else []
    hint = f"it has {', '.join(have)}: pass --checkpoint {have[0]}" if have else "did training finish an epoch?"
    raise RunError(f"no {which}.ckpt in {folder}; {hint}")


def load_checkpoint(path: str | Path) -> dict:
    """torch.load with weights_only=True; one-line errors for missing, corrupt or unsafe files."""
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise RunError(f"checkpoint {path} not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0][:200]
        raise RunError(f"checkpoint {path} was refused: it holds objects that weights_only loading forbids ({first})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise RunError(f"checkpoint {path} is truncated or corrupt ({first})") from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise RunError(f"checkpoint {path} is not an mnistmax checkpoint (no state_dict mapping of tensors)")
    return ckpt


@dataclass
class LoadedRun:
    """A run with its model loaded (eval mode, CPU), the config it was trained with and, on
    first use, its data splits. What the CLI, eval, analysis, report and probe share."""

    run_dir: Path
    cfg: "RunConfig"  # what it is evaluated under: the trained config with any overrides
    task: "BaseTask"
    checkpoint: str
    _splits: "Splits | None" = field(default=None, repr=False)
    trained: "RunConfig | None" = None  # the config it was trained with (None: cfg, no overrides)
    checkpoint_path: Path | None = None
    _own_val: "object | None" = field(default=None, repr=False)

    @property
    def splits(self) -> "Splits":
        if self._splits is None:
            from mnistmax.data.datamodule import load_splits

            self._splits = load_splits(self.cfg)
        return self._splits

    @property
    def trained_cfg(self) -> "RunConfig":
        return self.trained or self.cfg

    @property
    def validation_images(self):
        """The validation split of the data the run was trained on, whatever data it is evaluated
        on now: where what belongs to the model (its operating thresholds) is chosen."""
        trained = self.trained_cfg
        if trained.data == self.cfg.data and trained.seed == self.cfg.seed:
            return self.splits.val[0]
        if self._own_val is None:
            from mnistmax.data.datamodule import load_splits

            self._own_val = load_splits(trained).val[0]
        return self._own_val

    @property
    def test_images(self):
        images = self.splits.test[0]
        if len(images) == 0:
            from mnistmax.errors import DataError

            raise DataError(f"data source {self.cfg.data.source!r} at {self.cfg.data.root} has no test images")
        return images

    @property
    def test_labels(self):
        return self.splits.test[1]

    def title(self) -> str:
        return f"{self.cfg.model.name}, {self.checkpoint} checkpoint, test digits"

    def require(self, capability: str, what: str) -> None:
        """A one-line error, naming the tasks that can, when this run's task cannot `capability`."""
        self.task.require(capability, what)

    def with_overrides(self, overrides: list[str]) -> "LoadedRun":
        """The same run and weights, evaluated under `overrides` (KEY=VALUE, e.g. eval.seed=1)."""
        from mnistmax.config import apply_overrides, config_to_dict, parse_override, validate_config

        if not overrides:
            return self
        explicit = {".".join(parse_override(o)[0]) for o in overrides}
        cfg = validate_config(apply_overrides(config_to_dict(self.cfg), overrides), "override", explicit)
        splits = self._splits if cfg.data == self.cfg.data and cfg.seed == self.cfg.seed else None
        return LoadedRun(self.run_dir, cfg, self.task, self.checkpoint, splits, self.trained_cfg, self.checkpoint_path)


def load_run(run: str | Path, checkpoint: str | None = None, output_dir: str | Path = "outputs") -> LoadedRun:
    """Load a run (a directory, a name under outputs/runs, or `latest`) from one checkpoint:
    `checkpoint` (best, last, interrupted, or a .ckpt path), else the config's eval.checkpoint.
    The network and task are rebuilt from the config stored in the checkpoint: what trained."""
    from mnistmax.config import read_run_config, read_yaml_mapping
    from mnistmax.tasks import build_task

    run_dir = resolve_run(run, output_dir)
    saved = read_run_config(read_yaml_mapping(run_dir / "config.yaml"), str(run_dir / "config.yaml"))
    which = checkpoint or saved.eval.checkpoint
    ckpt_path = find_checkpoint(run_dir, which)
    ckpt = load_checkpoint(ckpt_path)
    stored = (ckpt.get("hyper_parameters") or {}).get("config")
    cfg = read_run_config(stored, f"{ckpt_path} (its config)") if isinstance(stored, dict) else saved
    task = build_task(cfg)
    try:
        task.load_state_dict(ckpt["state_dict"], strict=True)
    except RuntimeError as exc:  # missing / unexpected keys, size mismatches
        detail = next((ln.strip() for ln in str(exc).splitlines()[1:] if ln.strip()), "")[:200]
        raise RunError(f"checkpoint {ckpt_path} does not match model {cfg.model.name!r}: {detail}") from None
    return LoadedRun(run_dir, cfg, task.eval(), which, checkpoint_path=ckpt_path)


def read_history(metrics_csv: Path) -> dict[str, list[tuple[int, float]]]:
    """{metric: [(epoch, value), ...]} from a Lightning CSVLogger metrics.csv (rows may hold
    different metrics for the same epoch)."""
    history: dict[str, dict[int, float]] = {}
    with open(metrics_csv, newline="") as f:
        for row in csv.DictReader(f):
            if not row.get("epoch"):
                continue
            epoch = int(float(row["epoch"]))
            for key, value in row.items():
                if key not in ("epoch", "step") and value not in ("", None):
                    history.setdefault(key, {})[epoch] = float(value)
    return {k: sorted(v.items()) for k, v in history.items()}
