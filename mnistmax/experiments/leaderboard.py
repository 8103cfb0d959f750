"""Select the best configuration, retrain it on the whole train split, test it once, and
write leaderboard.csv / .md / .tex (mean ± std per configuration, baselines as rows)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from mnistmax.experiments.spec import config_for, describe
from mnistmax.eval.tables import rows_to_latex, write_eval
from mnistmax.runs import write_atomic, write_json
from mnistmax.training import train


def test_best(result: dict, echo=print) -> dict:
    """Retrain the best configuration with the normal train/val split and evaluate it on
    the test split; returns {method: score} rows for the leaderboard (the task's headline)."""
    from mnistmax.runs import load_run

    best = result["rows"][0]
    cfg = config_for(result["base"], best["params"])
    cfg.name = f"{result['spec'].name}-best"
    echo(f"best: {describe(best['params'])} (val/loss {best['val_loss_mean']:.5f} ± {best['val_loss_std']:.5f}); "
         "retraining on the whole train split")
    run = load_run(train(cfg, echo=lambda m: None))
    rows = run.task.evaluate(run)
    write_eval(run.run_dir, rows, run.task.eval_stem)
    return {"run_dir": str(run.run_dir), **type(run.task).headline(rows)}


def table_rows(result: dict, test: dict | None) -> list[dict]:
    rows = []
    for rank, r in enumerate(result["rows"], 1):
        row = {"rank": rank, "configuration": describe(r["params"]),
               "val_loss": f"{r['val_loss_mean']:.5f} ± {r['val_loss_std']:.5f}"}
        for key in ("val_psnr", "val_probe_acc"):
            if f"{key}_mean" in r:
                row[key] = f"{r[f'{key}_mean']:.4f} ± {r[f'{key}_std']:.4f}"
        row["test"] = ""
        rows.append(row)
    if test:
        scores = dict(test["scores"])
        first = next(iter(scores))
        rows[0]["test"] = f"{scores.pop(first):.4f}"
        for method, score in scores.items():  # baselines, evaluated on the same test split
            rows.append({"rank": "baseline", "configuration": method, "val_loss": "", "test": f"{score:.4f}"})
    return rows


def write_leaderboard(result: dict, test: dict | None) -> Path:
    out = Path(result["output"])
    rows = table_rows(result, test)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(out / "leaderboard.csv", buf.getvalue())
    metric = test["metric"] if test else "test"
    md = ["| " + " | ".join(metric if k == "test" else k for k in keys) + " |", "|" + "---|" * len(keys)]
    md += ["| " + " | ".join(str(r.get(k, "")) for k in keys) + " |" for r in rows]
    write_atomic(out / "leaderboard.md", "\n".join(md) + "\n")
    write_atomic(out / "leaderboard.tex", rows_to_latex(rows, keys))
    write_json(out / "leaderboard.json", {"rows": result["rows"], "test": test})
    return out
