"""Run directories: creation (never reusing one), atomic file writes, meta.json, loading.

    outputs/runs/<name>-<YYYYmmdd-HHMMSS>/
        config.yaml  meta.json  metrics.csv  checkpoints/{best,last}.ckpt  eval/ ...
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from mnistmax.errors import RunError


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


def find_checkpoint(run_dir: Path, which: str = "best") -> Path:
    path = run_dir / "checkpoints" / f"{which}.ckpt"
    if path.is_file():
        return path
    other = run_dir / "checkpoints" / ("last.ckpt" if which == "best" else "best.ckpt")
    if other.is_file():
        return other
    raise RunError(f"no checkpoint in {run_dir / 'checkpoints'} (expected {which}.ckpt); did training finish an epoch?")


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


def load_task(run_dir: str | Path, which: str = "best"):
    """(config, task in eval mode) for a finished or partial run, weights from its checkpoint."""
    from mnistmax.config import load_config
    from mnistmax.tasks import build_task

    run_dir = Path(run_dir)
    cfg = load_config(run_dir / "config.yaml")
    ckpt_path = find_checkpoint(run_dir, which)
    ckpt = load_checkpoint(ckpt_path)
    task = build_task(cfg)
    try:
        task.load_state_dict(ckpt["state_dict"], strict=True)
    except RuntimeError as exc:  # missing / unexpected keys, size mismatches
        detail = next((ln.strip() for ln in str(exc).splitlines()[1:] if ln.strip()), "")[:200]
        raise RunError(f"checkpoint {ckpt_path} does not match model {cfg.model.name!r}: {detail}") from None
    return cfg, task.eval()
