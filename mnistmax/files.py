"""Files: atomic writes, JSON and YAML, meta.json, new run directories (never reused),
checkpoints (weights_only loads) and metrics.csv. Leaf helpers: nothing of mnistmax but errors.

    outputs/runs/<name>-<YYYYmmdd-HHMMSS>/
        config.yaml  meta.json  metrics.csv  checkpoints/{best,last}.ckpt  eval/ ...
"""

from __future__ import annotations

import csv
import errno
import json
import os
import platform
import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from mnistmax.errors import RunError, WriteError

_UMASK = os.umask(0)
os.umask(_UMASK)


def now_iso() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def write_atomic(path: str | Path, text: str | bytes) -> Path:
    """The one way mnistmax writes a file: to a temporary file in the same folder, then renamed
    over `path`, so a kill never leaves a half-written file where a complete one was. A write the
    machine refuses (no space, no permission, read-only, not a folder) is a WriteError naming
    `path`, and the temporary file is gone."""
    path = Path(path)
    mode = "wb" if isinstance(text, bytes) else "w"
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, mode) as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the usual mode
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise WriteError(path, exc) from exc
        raise
    return path


def os_error_line(exc: OSError) -> str:
    """One line for a read or write the machine refused: the path and the system's reason. A copy or
    rename (two paths, e.g. Lightning moving a checkpoint from a temporary file) names where it was
    going."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename2 is not None:
        return f"could not write {exc.filename2}: {reason}"
    return f"{exc.filename}: {reason}" if exc.filename is not None else reason


def write_with(path: str | Path, save) -> Path:
    """`save(buffer)` (a library's own writer: savefig, np.savez, torch.save, ...) into memory, then
    write_atomic: the same guarantees for files mnistmax does not format itself."""
    import io

    buf = io.BytesIO()
    save(buf)
    return write_atomic(path, buf.getvalue())


def write_json(path: str | Path, data) -> Path:
    return write_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


DEFAULT_OUTPUT_DIR = "outputs"  # logging.output_dir's default, under the working directory
OUTPUT_DIR_ENV = "MNISTMAX_OUTPUT_DIR"


def output_root(explicit: str | Path | None = None, configured: str | Path | None = None) -> Path:
    """The one rule for the root folder of runs, zoo: runs, comparisons, searches and the
    tracking stores: `explicit` (an --output-dir option, a Python `output_dir=`), else
    `configured` (a config's logging.output_dir, when it is not the default `outputs`), else
    $MNISTMAX_OUTPUT_DIR, else ./outputs. Commands without a config (eval, compare, ui, ...)
    pass no `configured`."""
    if explicit is not None and str(explicit) != "":
        return Path(explicit)
    if configured is not None and str(configured) != "" and Path(configured) != Path(DEFAULT_OUTPUT_DIR):
        return Path(configured)
    env = os.environ.get(OUTPUT_DIR_ENV, "").strip()
    return Path(env) if env else Path(DEFAULT_OUTPUT_DIR)


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


def this_process() -> dict:
    """Which process is writing a run (meta.json's `process`): its id and the machine's name."""
    return {"pid": os.getpid(), "host": platform.node()}


def orphaned(meta: dict) -> bool:
    """A run whose meta.json still says `running` though the process that wrote it, on this
    machine, is gone (killed, or the machine rebooted): it will never finish."""
    process = meta.get("process") or {}
    pid = process.get("pid")
    if meta.get("status") != "running" or not isinstance(pid, int) or process.get("host") != platform.node():
        return False  # finished, from an older version, or from another machine: cannot tell
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists, owned by someone else
        return False
    return False


def read_meta(run_dir: str | Path) -> dict:
    path = Path(run_dir) / "meta.json"
    return json.loads(path.read_text()) if path.is_file() else {}


RESERVE = ".space-reserve"  # in a run directory while it trains: freed for the last meta.json write
RESERVE_BYTES = 256 * 1024


def reserve_space(run_dir: str | Path) -> None:
    """Hold RESERVE_BYTES of disk in the run directory, so that a run which fills the disk can still
    write meta.json `failed` and why (update_meta frees it). Best effort: on a disk already full
    there is nothing to hold."""
    try:
        with open(Path(run_dir) / RESERVE, "wb") as f:
            f.write(bytes(RESERVE_BYTES))
    except OSError:
        Path(run_dir, RESERVE).unlink(missing_ok=True)


def release_space(run_dir: str | Path) -> None:
    Path(run_dir, RESERVE).unlink(missing_ok=True)


def update_meta(run_dir: str | Path, **fields) -> dict:
    """meta.json with `fields` changed. On a full disk the run directory's reserve is freed and the
    write tried once more."""
    meta = read_meta(run_dir) | fields
    try:
        write_json(Path(run_dir) / "meta.json", meta)
    except WriteError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT) or not Path(run_dir, RESERVE).is_file():
            raise
        release_space(run_dir)
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

    from mnistmax._version import __version__

    return {
        "mnistmax": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "torchmetrics": torchmetrics.__version__,
    }


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
        raise RunError(f"checkpoint {path} was refused: it holds objects that weights_only loading forbids "
                       f"({first})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise RunError(f"checkpoint {path} is truncated or corrupt ({first})") from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise RunError(f"checkpoint {path} is not an mnistmax checkpoint (no state_dict mapping of tensors)")
    return ckpt


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
