"""Test the best configuration once, and write leaderboard.csv / .md / .tex / .json: mean ± std
per configuration over its folds, pruned trials after the ranked ones, baselines as rows."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from mnistmax.eval.tables import rows_to_latex, write_eval
from mnistmax.experiments.spec import config_for, describe, describe_overrides, describe_validation
from mnistmax.experiments.storage import shown
from mnistmax.files import write_atomic, write_json

TEST_ATTR = "mnistmax:test"  # the best configuration's test, kept in the study so that it runs once



def epochs_text(n: int) -> str:
    return f"{n} epoch{'' if n == 1 else 's'}"

def retrain_epochs(best: dict, planned: int) -> int:
    """Epochs of the final retrain: the folds' mean count to their best val/loss (the retrain has no
    validation split to stop on), or the config's train.epochs for trials recorded without it."""
    return max(1, round(best["epochs_mean"])) if "epochs_mean" in best else planned


def test_best(result: dict, echo=print) -> dict:
    """Retrain the best configuration on every digit of the folds (no validation split, for the
    folds' mean best epoch count, no early stopping) and evaluate it on the test split, once: the
    result is kept in the study and reused while the best trial stays the best. Returns
    {"trial", "run_dir", "retrain", "metric", "scores"} (the task's headline)."""
    from mnistmax.experiments.folds import training_pool
    from mnistmax.runs import load_run
    from mnistmax.training import train

    search, study, best = result["search"], result["study"], result["rows"][0]
    kept = study.user_attrs.get(TEST_ATTR)
    if kept and kept.get("trial") == best["trial"] and Path(kept["run_dir"]).is_dir():
        echo(f"best: trial {best['trial']} ({describe(best['params'])}), tested before: {kept['run_dir']}")
        return kept
    base_cfg = config_for(result["base"], {})
    epochs = retrain_epochs(best, config_for(result["base"], best["params"]).train.epochs)
    cfg = config_for(result["base"], {**best["params"], "train.epochs": epochs, "train.patience": None})
    cfg.name = f"{search.name}-best"
    splits = training_pool(base_cfg, search.cv.folds, search.cv.seed, search.cv.splits_file).whole()
    retrain = {"digits": len(splits.train[0]), "epochs": epochs, "validation": "none"}
    echo(f"best: trial {best['trial']} ({describe(best['params'])}; val/loss {best['val_loss_mean']:.5f} ± "
         f"{best['val_loss_std']:.5f}); retraining on all {retrain['digits']:,} digits of the folds "
         f"for {epochs_text(epochs)} (the folds' mean to their best val/loss), no validation split")
    run = load_run(train(cfg, echo=lambda m: None, splits=splits, output_dir=cfg.logging.output_dir).run_dir)
    rows = run.task.evaluate(run)
    write_eval(run.run_dir, rows, run.task.eval_stem)
    tested = {"trial": best["trial"], "run_dir": str(run.run_dir), "retrain": retrain, **type(run.task).headline(rows)}
    study.set_user_attr(TEST_ATTR, tested)
    return tested


def _mean_std(row: dict, key: str, digits: int) -> str:
    return f"{row[f'{key}_mean']:.{digits}f} ± {row[f'{key}_std']:.{digits}f}"


def table_rows(result: dict, test: dict | None) -> list[dict]:
    folds = result["search"].cv.folds
    rows = []
    for rank, r in [*enumerate(result["rows"], 1), *(("pruned", r) for r in result.get("pruned", []))]:
        row = {"rank": rank, "trial": r["trial"], "configuration": describe(r["params"]),
               "val_loss": _mean_std(r, "val_loss",
                                     5) + ("" if r["folds"] == folds else f" ({r['folds']}/{folds} folds)")}
        for key in ("val_psnr", "val_probe_acc"):
            if f"{key}_mean" in r:
                row[key] = _mean_std(r, key, 4)
        row["test"] = ""
        rows.append(row)
    if test and rows:
        scores = dict(test["scores"])
        first = next(iter(scores))
        rows[0]["test"] = f"{scores.pop(first):.4f}"
        for method, score in scores.items():  # baselines, evaluated on the same test split
            rows.append({"rank": "baseline", "trial": "", "configuration": method, "val_loss": "",
                         "test": f"{score:.4f}"})
    return rows


def write_leaderboard(result: dict, test: dict | None) -> Path:
    out = Path(result["output"])
    rows = table_rows(result, test)
    keys = list(dict.fromkeys(k for r in rows for k in r)) or ["rank", "trial", "configuration", "val_loss", "test"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(out / "leaderboard.csv", buf.getvalue())
    metric = test["metric"] if test else "test"
    md = ["| " + " | ".join(metric if k == "test" else k for k in keys) + " |", "|" + "---|" * len(keys)]
    md += ["| " + " | ".join(str(r.get(k, "")) for k in keys) + " |" for r in rows]
    scored = f"Every configuration scored on: {describe_validation(result['search'])}."
    if result["search"].overrides:
        scored += f" Overrides {describe_overrides(result['search'].overrides)}."
    if test and test.get("retrain"):
        r = test["retrain"]
        scored += (f" The best retrained on all {r['digits']:,} digits of the folds for {epochs_text(r['epochs'])}, "
                   "no validation split; tested once on the test split.")
    write_atomic(out / "leaderboard.md", scored + "\n\n" + "\n".join(md) + "\n")
    write_atomic(out / "leaderboard.tex", rows_to_latex(rows, keys))
    search = result["search"]
    url = result.get("url")
    write_json(out / "leaderboard.json", {"study": search.name, "storage": shown(url) if url else None,
                                          "scored_on": describe_validation(search),
                                          "overrides": list(search.overrides),
                                          "validation_noise": search.validation.model_dump(exclude_none=True)
                                          if search.validation else None,
                                          "rows": result["rows"], "pruned": result.get("pruned", []),
                                          "missing": result.get("missing", []), "test": test})
    return out
