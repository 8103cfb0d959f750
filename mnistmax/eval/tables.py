"""Writers for result rows (lists of flat dicts): JSON, CSV and Markdown, written atomically."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from mnistmax.files import write_atomic, write_json


def rows_to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def rows_to_markdown(rows: list[dict]) -> str:
    keys = [k for k in rows[0] if k != "n"]
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(k, row.get(k, "")) for k in keys) + " |")
    return "\n".join(lines) + "\n"


def rows_to_latex(rows: list[dict], keys: list[str] | None = None) -> str:
    """A booktabs tabular of the rows (every value as the Markdown table shows it)."""
    keys = keys or list(dict.fromkeys(k for r in rows for k in r))
    esc = lambda s: str(s).replace("_", r"\_").replace("±", r"$\pm$").replace("%", r"\%").replace("@", r"@{}")  # noqa: E731
    tex = [r"\begin{tabular}{" + "l" * len(keys) + "}", r"\toprule", " & ".join(esc(k) for k in keys) + r" \\",
           r"\midrule"]
    tex += [" & ".join(esc(_fmt(k, r.get(k, ""))) for k in keys) + r" \\" for r in rows]
    return "\n".join([*tex, r"\bottomrule", r"\end{tabular}"]) + "\n"


def _fmt(key: str, value) -> str:
    if isinstance(value, float):
        if key.startswith("psnr") or key.endswith("_s"):  # dB, seconds: psnr@0.5, train_s
            return f"{value:.2f}"
        return f"{value:g}" if key == "sigma" else f"{value:.4f}"
    return str(value)


def write_eval(run_dir: Path, rows: list[dict], stem: str = "eval") -> Path:
    out = Path(run_dir) / "eval"
    write_json(out / f"{stem}.json", rows)
    write_atomic(out / f"{stem}.csv", rows_to_csv(rows))
    write_atomic(out / f"{stem}.md", rows_to_markdown(rows))
    return out


def shown_with_interval(row: dict, key: str, fmt) -> str:
    """row[key] formatted by `fmt`, followed by its 95 % interval `[lo, hi]` when the row has one."""
    if f"{key}_ci95_lo" not in row:
        return fmt(row[key])
    return f"{fmt(row[key])} [{fmt(row[f'{key}_ci95_lo'])}, {fmt(row[f'{key}_ci95_hi'])}]"


def half_interval(row: dict, key: str) -> str:
    """' ±h' (half the 95 % interval's width) when the row has one, else ''."""
    if f"{key}_ci95_lo" not in row:
        return ""
    return f" ±{(row[f'{key}_ci95_hi'] - row[f'{key}_ci95_lo']) / 2:.2f}"


# ---------------------------------------------------------------- tables to print
# Plain data ({"title", "columns", "rows", "highlight"}): the CLI draws them with rich.


def denoise_tables(rows: list[dict]) -> list[dict]:
    """Per noise kind: PSNR per σ of the model (with its SSIM) and of every baseline; for
    bitmap runs also precision / recall / ablation efficiency."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    model = methods[0]
    tables = []
    for kind in dict.fromkeys(r["noise"] for r in rows):
        body = []
        for sigma in dict.fromkeys(r["sigma"] for r in rows if r["noise"] == kind):
            by = {r["method"]: r for r in rows if r["noise"] == kind and r["sigma"] == sigma}
            body.append([f"{sigma:g}", f"{by[model]['psnr']:.2f}{half_interval(by[model], 'psnr')}",
                         f"{by[model]['ssim']:.3f}",
                         *(f"{by[m]['psnr']:.2f}" for m in methods[1:])])
        tables.append({"title": f"{kind} noise: mean per-image PSNR (dB; ± half its 95 % bootstrap interval over the "
                                f"test images) on the test split, SSIM of {model}",
                       "columns": ["σ", model, "SSIM", *(m.replace("_", "\n") for m in methods[1:])],
                       "rows": body, "highlight": 1})
        if "precision" in rows[0]:
            tables.append(ablation_table([r for r in rows if r["noise"] == kind], methods, kind))
            mine = [r for r in rows if r["noise"] == kind and "recall_visible" in r and r["method"].startswith(model)]
            if mine:
                tables.append(visible_table(mine, kind))
    return tables


def visible_table(rows: list[dict], kind: str) -> dict:
    """The model at its threshold(s): precision, recall, visible recall, specificity and ablation
    efficiency (%) per level, with the share of the clean ink the added ink hides."""
    pct = lambda v: "-" if v != v else f"{100 * v:.2f}"  # noqa: E731  (NaN -> -)
    keys = ("precision", "recall", "recall_visible", "specificity", "ablation_efficiency")
    methods = list(dict.fromkeys(r["method"] for r in rows))
    body = []
    for sigma in dict.fromkeys(r["sigma"] for r in rows):
        by = {r["method"]: r for r in rows if r["sigma"] == sigma}
        body.append([f"{sigma:g}", pct(next(iter(by.values()))["hidden_ink"]),
                     *(" / ".join(pct(by[m][k]) for k in keys) for m in methods)])
    threshold = {r["method"]: r["threshold"] for r in rows}
    columns = [m.replace("_", "\n") + f"\nt={threshold[m]:.2f}" for m in methods]
    return {"title": f"{kind}: precision / recall / visible recall / specificity / efficiency (%) at the output "
                     "threshold; hidden ink: clean ink under added ink",
            "columns": ["σ", "hidden\nink", *columns], "rows": body, "highlight": 2}


def ablation_table(rows: list[dict], methods: list[str], kind: str) -> dict:
    """Precision / recall / ablation efficiency (%) per method and level (bitmap runs)."""
    pct = lambda v: "-" if v != v else f"{100 * v:.1f}"  # noqa: E731  (NaN -> -)
    body = []
    for sigma in dict.fromkeys(r["sigma"] for r in rows):
        by = {r["method"]: r for r in rows if r["sigma"] == sigma}
        body.append([f"{sigma:g}", *(" / ".join(pct(by[m][k]) for k in ("precision", "recall", "ablation_efficiency"))
                                     for m in methods)])
    return {"title": f"{kind}: precision / recall / ablation efficiency (%), pooled over test pixels",
            "columns": ["σ", *(m.replace("_", "\n") for m in methods)], "rows": body, "highlight": 1}


PROBE_KEYS = ("linear_probe", "knn", "nmi", "ari", "silhouette", "precision_at_1", "map_at_r")


def probe_table(rows: list[dict]) -> dict:
    """The probe's rows: accuracies in %, the rest with three decimals; '-' where not measured."""
    pct = lambda v: f"{100 * v:.2f}%"  # noqa: E731
    body = [[r["method"], *("-" if r.get(k) is None else shown_with_interval(r, k, pct) if k in ("linear_probe", "knn")
                            else f"{r[k]:.3f}" for k in PROBE_KEYS)] for r in rows]
    skipped = next((r["skipped"] for r in rows if r.get("skipped")), None)
    return {"title": "embeddings of the test split (frozen encoder vs raw pixels)" + (f"; skipped {skipped}"
                                                                                      if skipped else ""),
            "columns": ["method", *(k.replace("_", " ") for k in PROBE_KEYS)], "rows": body, "highlight_row": 0}
