"""Issue 33, the machine's faults on writes: a full disk during training (a real, small tmpfs when
this process may mount one), and no space / no permission / a read-only filesystem during
training, eval, export and report (injected into the one write function). Each ends in one line
naming the file meant, exit 1, and a consistent run directory: meta.json `failed` and why, no
temporary files, earlier files intact."""

from __future__ import annotations

import errno
import json
import os
import subprocess
from pathlib import Path

import pytest

import mnistmax.files as files
from mnistmax.errors import WriteError
from tests.helpers import ROOT, TINY, invoke, one_error_line

QUIET = [*TINY, "viz.enabled=false", "data.val_fraction=0.02"]
FAULTS = {errno.ENOSPC: "No space left on device", errno.EACCES: "Permission denied",
          errno.EROFS: "Read-only file system"}


def leftovers(root: Path) -> list[Path]:
    """Temporary files of write_atomic, and the training reserve, anywhere under `root`."""
    return [p for p in root.rglob("*") if p.name.endswith(".tmp") or p.name == files.RESERVE]


def refuse_writes_under(monkeypatch, folder: Path, code: int) -> None:
    """Every write_atomic under `folder` fails as the machine would (mkstemp raises)."""
    real = files.tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).resolve().is_relative_to(folder.resolve()):
            raise OSError(code, os.strerror(code), str(Path(dir) / kwargs.get("prefix", "")))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(files.tempfile, "mkstemp", mkstemp)


# ---------------------------------------------------------------- the one write function


@pytest.mark.parametrize("code", list(FAULTS))
def test_write_atomic_names_the_file_meant_and_leaves_the_old_one(tmp_path, monkeypatch, code):
    target = tmp_path / "meta.json"
    target.write_text("old")

    def replace(src, dst):
        raise OSError(code, os.strerror(code), src, dst)

    monkeypatch.setattr(files.os, "replace", replace)
    with pytest.raises(WriteError) as caught:
        files.write_json(target, {"new": 1})
    assert str(caught.value) == f"could not write {target}: {FAULTS[code]}"
    assert caught.value.errno == code and caught.value.exit_code == 1
    assert target.read_text() == "old" and leftovers(tmp_path) == []


def test_write_atomic_into_a_file_is_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(WriteError, match=r"could not write .*file/out/a.json: Not a directory"):
        files.write_json(tmp_path / "file" / "out" / "a.json", {})


def test_update_meta_frees_the_reserve_when_the_disk_is_full(tmp_path, monkeypatch):
    run = tmp_path / "run"
    run.mkdir()
    files.reserve_space(run)
    assert (run / files.RESERVE).stat().st_size == files.RESERVE_BYTES
    real, calls = files.write_json, []

    def write_json(path, data):  # full until the reserve is freed
        calls.append((run / files.RESERVE).exists())
        if calls[-1]:
            raise WriteError(path, OSError(errno.ENOSPC, "No space left on device"))
        return real(path, data)

    monkeypatch.setattr(files, "write_json", write_json)
    assert files.update_meta(run, status="failed")["status"] == "failed"
    assert calls == [True, False] and not (run / files.RESERVE).exists()
    # without a reserve to free, the error is the caller's
    monkeypatch.setattr(files, "write_json", lambda p, d: (_ for _ in ()).throw(
        WriteError(p, OSError(errno.ENOSPC, "No space left on device"))))
    with pytest.raises(WriteError, match="No space left"):
        files.update_meta(run, status="x")


# ---------------------------------------------------------------- training


def test_a_write_refused_during_training_fails_the_run_in_one_line(tmp_path, monkeypatch):
    """Permission lost on checkpoints/ after the run started: exit 1, one line naming the file,
    meta.json `failed` with the same reason, nothing temporary left."""
    out = tmp_path / "out"
    import lightning.fabric.utilities.cloud_io as cloud_io

    real = cloud_io._atomic_save

    def atomic_save(checkpoint, filepath):
        if str(filepath).endswith("last.ckpt"):
            raise PermissionError(errno.EACCES, "Permission denied", str(filepath))
        return real(checkpoint, filepath)

    monkeypatch.setattr(cloud_io, "_atomic_save", atomic_save)
    import lightning.fabric.plugins.io.torch_io as torch_io
    monkeypatch.setattr(torch_io, "_atomic_save", atomic_save)
    result = invoke("train", "-c", ROOT / "configs" / "quick.yaml", *QUIET, "--output-dir", out)
    assert result.exit_code == 1
    line = one_error_line_after_progress(result)
    (run,) = (out / "runs").iterdir()
    assert line == f"error: {run / 'checkpoints' / 'last.ckpt'}: Permission denied"
    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] == "failed" and meta["error"] == line.removeprefix("error: ")
    assert meta["stop_reason"]["epochs_done"] == 0 and leftovers(run) == []


def one_error_line_after_progress(result) -> str:
    """A training's refusal: its progress lines, then exactly one `error: ...` line at the end."""
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert errors == [lines[-1]], result.output
    return lines[-1]


@pytest.fixture
def small_disk(tmp_path):
    """A real 1 MiB filesystem (tmpfs), where this process may mount one (root on Linux)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root on Linux)")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_disk_that_fills_during_training_fails_the_run_in_one_line(small_disk):
    """The real thing: a 1 MiB disk holds config.yaml, meta.json and best.ckpt (~0.5 MiB), not also
    last.ckpt. The reserve freed, meta.json still says `failed` and why."""
    out = small_disk / "out"
    result = invoke("train", "-c", ROOT / "configs" / "quick.yaml", *QUIET, "--output-dir", out)
    assert result.exit_code == 1
    line = one_error_line_after_progress(result)
    (run,) = (out / "runs").iterdir()
    assert line == f"error: could not write {run / 'checkpoints' / 'last.ckpt'}: No space left on device"
    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] == "failed" and meta["error"] == line.removeprefix("error: ")
    assert leftovers(run) == [] and (run / "checkpoints" / "best.ckpt").is_file()


# ---------------------------------------------------------------- eval, export, report on a finished run


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("faults") / "out"
    result = invoke("train", "-c", ROOT / "configs" / "quick.yaml", *QUIET, "--output-dir", out)
    assert result.exit_code == 0, result.output
    (run,) = (out / "runs").iterdir()
    return run


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("code", list(FAULTS))
@pytest.mark.parametrize("command", ["eval", "export", "report"])
def test_a_refused_write_after_training_is_one_line_and_changes_nothing(finished_run, tmp_path, monkeypatch,
                                                                        command, code):
    before = snapshot(finished_run)
    if command == "eval":
        args, refused = ["eval", finished_run], finished_run / "eval"
    elif command == "export":
        args, refused = ["export", finished_run, "-o", tmp_path / "exported"], tmp_path / "exported"
    else:
        args, refused = ["report", finished_run], finished_run / "reports"
    refused.mkdir(parents=True, exist_ok=True)
    refuse_writes_under(monkeypatch, refused, code)
    result = invoke(*args)
    line = one_error_line(result)
    assert result.exit_code == 1
    assert line.startswith(f"error: could not write {refused}") and line.endswith(FAULTS[code]), line
    after = snapshot(finished_run)
    assert {k: v for k, v in after.items() if k in before} == before  # earlier files untouched
    assert leftovers(finished_run) == [] and leftovers(tmp_path) == []
