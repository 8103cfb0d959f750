"""Sections every run's report has: the overview of meta.json, the training curves, the
config; and the generic table of eval.json for tasks without their own."""

from __future__ import annotations

import html
import json
from pathlib import Path

from mnistmax.files import read_meta
from mnistmax.report.html import figure_section


def overview(run_dir: Path) -> str:
    meta = read_meta(run_dir)
    data = meta.get("data", {})
    sizes = ", ".join(f"{k} {v:,}" for k, v in data.get("sizes", {}).items())
    facts = [
        ("status", meta.get("status")),
        ("model", f"{meta.get('model')} ({meta.get('parameters', 0):,} parameters)"),
        ("data", f"{data.get('description')}: {sizes}"),
        ("device / precision", f"{meta.get('device')} / {meta.get('precision')}"),
        ("training",
         f"{meta.get('epochs_completed')} of {meta.get('epochs_planned', '?')} epochs in {meta.get('train_seconds')} "
         "s; best val/loss "
                     + (f"{meta['best_val_loss']:.5f}" if meta.get("best_val_loss") is not None else "n/a")),
        ("seed / git", f"{meta.get('seed')} / {meta.get('git_sha')}"),
        ("started / ended", f"{meta.get('started')} / {meta.get('ended')}"),
        ("versions", ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items())),
    ]
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts)
    stop = meta.get("stop_reason")
    banner = f'<p class="warn">{html.escape(stop["message"])}</p>' if stop else ""
    return f'<h1>{html.escape(run_dir.name)}</h1>{banner}<table class="facts">{rows}</table>'


def config_section(run_dir: Path) -> str | None:
    path = run_dir / "config.yaml"
    return f"<h2>Config</h2><pre>{html.escape(path.read_text())}</pre>" if path.is_file() else None


def eval_facts(run_dir: Path) -> str | None:
    """eval.json's rows as a plain table (tasks without a table of their own)."""
    path = run_dir / "eval" / "eval.json"
    if not path.is_file():
        return None
    rows = json.loads(path.read_text())
    keys = [k for k in rows[0] if k not in ("noise", "sigma")]
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    body = "".join("<tr>" + "".join(f"<td>{v:.4f}</td>" if isinstance(v, float) else f"<td>{html.escape(str(v))}</td>"
                                    for v in (r[k] for k in keys)) + "</tr>" for r in rows)
    return f"<h2>Evaluation on the test split</h2><table><tr>{head}</tr>{body}</table>"


def common_sections() -> list:
    """What every report starts with."""
    return [overview, figure_section("Training curves", "reports/curves.png")]
