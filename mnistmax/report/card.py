"""`<run>/README.md`: a model card, written by `mnistmax report` and `mnistmax export` from the
run's own files (meta.json, config.yaml, eval/eval.json or an encoder's eval/probe.json,
reports/limitations.json, export/)."""

from __future__ import annotations

import json
from pathlib import Path

from mnistmax.files import read_meta, read_run_yaml, write_atomic

MAX_ROWS = 24


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def markdown_table(rows: list[dict], keys: list[str]) -> list[str]:
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(_fmt(r.get(k, "")) for k in keys) + " |" for r in rows[:MAX_ROWS]]
    if len(rows) > MAX_ROWS:
        lines.append(f"\n({len(rows) - MAX_ROWS} more rows in the file)")
    return lines


def _eval_section(run_dir: Path, model: str, task) -> list[str]:
    path = run_dir / "eval" / f"{task.eval_stem}.json"  # eval.json; an encoder's: probe.json (`mnistmax probe`)
    if not path.is_file():
        return [f"Not evaluated yet: `mnistmax {task.next_command} {run_dir}` writes eval/{path.name}.", ""]
    rows = json.loads(path.read_text())
    if isinstance(rows, dict):
        rows = [rows]
    own = [r for r in rows if r.get("method") in (None, model)] or rows
    keys = [k for k in own[0] if k not in ("method", "n")]
    return [f"Test split, from `mnistmax eval {run_dir}` (eval/{path.name}; baselines there too):", "",
            *markdown_table(own, keys), ""]


def _limitations_section(run_dir: Path) -> list[str]:
    path = run_dir / "reports" / "limitations.json"
    if not path.is_file():
        return []
    data = json.loads(path.read_text())
    rows = data.get("rows") or []
    if not rows:
        return []
    wanted = ["sigma", "seen", "psnr", "oversmoothing", "diversity_collapse", "noise_sensitivity"]
    wanted += [k for k in rows[0] if k.startswith("acc")][:2]
    keys = [k for k in wanted if k in rows[0]]
    lines = ["## Limitations", "", f"From `mnistmax compare limitations {run_dir}` (reports/limitations.json; "
             "definitions in reports/limitations.html):", "", *markdown_table(rows, keys), ""]
    no_digit = data.get("no_digit")
    if no_digit:
        lines += [f"Given {no_digit.get('what', 'pure noise')}, the judge classifier was confident on "
                  f"{100 * no_digit.get('confident_share', 0):.0f}% of the outputs: it invents digits.", ""]
    return lines


def write_model_card(run_dir: Path, task) -> Path:
    """`task`: the run's task class (where its numbers are: eval/<eval_stem>.json, and which command
    writes them: its next_command)."""
    run_dir = Path(run_dir)
    meta, cfg = read_meta(run_dir), read_run_yaml(run_dir)
    model = (cfg.get("model") or {}).get("name", meta.get("model", "?"))
    args = {k: v for k, v in (cfg.get("model") or {}).items() if k != "name"}
    data = meta.get("data") or {}
    sizes = ", ".join(f"{k} {v:,}" for k, v in (data.get("sizes") or {}).items())
    stop = meta.get("stop_reason")
    lines = [f"# {run_dir.name}: {model} ({cfg.get('task', meta.get('task', '?'))})", "",
             f"- network: `{model}` {json.dumps(args)}, {meta.get('parameters', 0):,} parameters",
             f"- data: {data.get('description', '?')} ({sizes})",
             f"- training: {meta.get('epochs_completed', '?')} of {meta.get('epochs_planned', '?')} epochs, "
             f"{meta.get('train_seconds', '?')} s on {meta.get('device', '?')} ({meta.get('precision', '?')}); "
             f"status `{meta.get('status', '?')}`" + (f": {stop['message']}" if stop else ""),
             f"- config: `config.yaml` (train again: `mnistmax train -c {run_dir / 'config.yaml'}`)",
             f"- versions: {', '.join(f'{k} {v}' for k, v in (meta.get('versions') or {}).items())}"
             + (f"; git {meta['git_sha']}" if meta.get("git_sha") else ""), "",
             "## Numbers", "", *_eval_section(run_dir, model, task), *_limitations_section(run_dir),
             "## Use it", "", "```python", "import mnistmax", f'model = mnistmax.load("{run_dir}")',
             "print(model)  # the methods its task supports: denoise, embed, encode/decode, sample, classify ...",
             "```", ""]
    export = run_dir / "export" / "model.json"
    if export.is_file():
        files = json.loads(export.read_text()).get("files", {})
        lines += [f"Exported (`mnistmax export`): {', '.join(f'`export/{f}`' for f in files)}; "
                  "`export/model.json` gives input and output shapes and ranges.", ""]
    else:
        lines += [f"Export it for ONNX Runtime or TorchScript: `mnistmax export {run_dir} --format onnx`.", ""]
    return write_atomic(run_dir / "README.md", "\n".join(lines))
