"""`mnistmax compare encoders RUN [RUN ...]`: contrastive encoders side by side.

One row per run from its frozen-embedding probe (eval/probe.json, made first when it is
missing): linear probe, kNN, NMI, ARI, P@1, MAP@R, 1/5/10-shot linear probes, training time
and parameters, and the raw-pixel row once; one figure of probe accuracy against labels per
class, one line per run. Written as encoders.{json,csv,md,tex,png}."""

from __future__ import annotations

from pathlib import Path

from mnistmax.eval.embeddings import SHOTS, probe_run
from mnistmax.eval.tables import rows_to_csv, rows_to_latex, rows_to_markdown
from mnistmax.files import read_meta, write_atomic, write_json
from mnistmax.runs import LoadedRun

SCORES = ("linear_probe", "knn", "nmi", "ari", "precision_at_1", "map_at_r")
RAW = "raw pixels"


def probe_rows(run: LoadedRun) -> list[dict]:
    """The run's probe rows: eval/probe.json, or a probe made now (and written there)."""
    import json

    path = run.run_dir / "eval" / "probe.json"
    return json.loads(path.read_text()) if path.is_file() else probe_run(run)


def table_row(name: str, model: str, loss: str, rows: list[dict], method: str, meta: dict | None) -> dict:
    """One table row from probe rows (`method` and its few-shot rows)."""
    full = next(r for r in rows if r["method"] == method)
    shots = {f"{s}-shot": next(r["linear_probe"] for r in rows if r["method"] == f"{method} {s}-shot") for s in SHOTS}
    return {"run": name, "model": model, "loss": loss, **{k: full[k] for k in SCORES}, **shots,
            "labels_per_class_all": full["n_train"] // full.get("classes", 10),
            "train_s": (meta or {}).get("train_seconds"), "parameters": (meta or {}).get("parameters")}


def compare_encoders(runs: list[LoadedRun], echo=print) -> list[dict]:
    """A row per run, then the raw-pixel row (from the first run's probe: same data, same splits)."""
    for run in runs:  # every run checked before any is probed
        run.require("embed", "compare encoders")
    table = []
    first_rows = None
    for run in runs:
        echo(f"probing {run.run_dir.name} ...")
        rows = probe_rows(run)
        first_rows = first_rows or rows
        table.append(table_row(run.run_dir.name, run.cfg.model.name, run.cfg.contrastive.loss, rows,
                               run.cfg.model.name, read_meta(run.run_dir)))
    table.append(table_row(RAW, "-", "-", first_rows, RAW, None))
    return table


def accuracy_series(table: list[dict]) -> dict[str, list[tuple[int, float]]]:
    """{row name: [(labels per class, linear-probe accuracy)]}: the few-shot probes and the full split."""
    return {r["run"] if r["run"] == RAW else f"{r['run']} ({r['loss']})":
            [*((s, r[f"{s}-shot"]) for s in SHOTS), (r["labels_per_class_all"], r["linear_probe"])] for r in table}


def write_encoders(table: list[dict], out: Path) -> Path:
    from mnistmax.viz.encoder_figures import accuracy_vs_labels

    write_json(out / "encoders.json", table)
    write_atomic(out / "encoders.csv", rows_to_csv(table))
    write_atomic(out / "encoders.md", rows_to_markdown(table))
    write_atomic(out / "encoders.tex", rows_to_latex(table))
    accuracy_vs_labels(accuracy_series(table), out / "encoders.png",
                       title="linear probe on frozen embeddings: test accuracy against labels per class")
    return out
