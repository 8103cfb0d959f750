"""One self-contained HTML report per run: `reports/index.html`, every image embedded as a
data URI, so the file can be mailed or opened anywhere.

The run's task class names its sections (functions `(run_dir) -> html | None`, reading
the run's files; a section whose files are missing returns None and is left out) and
makes what is missing first (`prepare_report`). Rendering never computes."""

from __future__ import annotations

from pathlib import Path

from mnistmax.files import write_atomic
from mnistmax.report.html import page


def _task_class(run_dir: Path):
    from mnistmax.files import read_run_yaml
    from mnistmax.tasks import get_task

    return get_task(read_run_yaml(run_dir).get("task", "denoise"))


def build_report(run_dir: Path) -> Path:
    """Render reports/index.html from the files the run has now."""
    body = "\n".join(s for s in (section(run_dir) for section in _task_class(run_dir).report_sections()) if s)
    return write_atomic(run_dir / "reports" / "index.html", page(f"mnistmax: {run_dir.name}", body))


def write_card(run_dir: Path) -> Path:
    """The run's model card, README.md, from the files it has now."""
    from mnistmax.report.card import write_model_card

    return write_model_card(run_dir, _task_class(run_dir))


def prepare_and_build(run_dir: Path, warn=print, device="cpu") -> Path:
    """Make whatever the report shows and is still missing (eval or probe table, curves,
    pictures; the model on `device`: cpu, cuda, cuda:N, mps or auto), then build it. Pictures
    already drawn by `mnistmax viz` are reused."""
    from mnistmax.hardware import resolve_device
    from mnistmax.runs import load_run

    device = resolve_device(device)  # before anything is written
    _task_class(run_dir).prepare_report(run_dir, lambda: load_run(run_dir, device=device), warn)
    return build_report(run_dir)
