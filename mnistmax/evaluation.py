"""evaluate(run) -> EvalResult: what `mnistmax eval` does, as a plain function. The run is
evaluated as its task does it (a denoiser over noise kinds x levels with baselines, an encoder
by its probe, ...) under any data, noise and eval overrides, and its rows are written to
eval/<stem>[-tag].{json,csv,md}."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from mnistmax.errors import RunError
from mnistmax.eval.tables import write_eval
from mnistmax.runs import load_run


@dataclass(frozen=True)
class EvalResult:
    run_dir: Path
    rows: list[dict]
    tables: list[dict]  # {"title", "columns", "rows"} to print
    files: list[Path] = field(default_factory=list)


def evaluate(run: str | Path, overrides: list[str] = (), checkpoint: str | None = None, lpips: bool | None = None,
             tag: str | None = None, warn=print, output_dir: str | Path | None = None,
             device: str = "cpu") -> EvalResult:
    """Evaluate `run` (a directory, a name under <output root>/runs, `latest` or zoo:<name>; the
    root is `output_dir`, else $MNISTMAX_OUTPUT_DIR, else outputs) from `checkpoint` (default its
    eval.checkpoint) under `overrides` (KEY=VALUE: data, noise and eval keys), the model on
    `device` (cpu, cuda, cuda:N, mps or auto); `lpips` (default eval.lpips); `tag` writes
    eval/<stem>-<tag>.* and keeps the main table."""
    if tag is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", tag):
        raise RunError(f"--tag {tag!r}: use letters, digits, '.', '_' and '-' only")
    loaded = load_run(run, checkpoint, output_dir, device).with_overrides(list(overrides))
    task = loaded.task
    rows = task.evaluate(loaded, lpips=loaded.cfg.eval.lpips if lpips is None else lpips, warn=warn)
    stem = task.eval_stem if tag is None else f"{task.eval_stem}-{tag}"
    out = write_eval(loaded.run_dir, rows, stem)
    return EvalResult(loaded.run_dir, rows, type(task).eval_tables(rows),
                      [out / f"{stem}.{ext}" for ext in ("json", "csv", "md")])
