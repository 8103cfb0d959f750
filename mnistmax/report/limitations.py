"""The "Limitations" section of a run's report (also the body of limitations.html): the
numbers of `mnistmax compare limitations`, read aloud, with their figures."""

from __future__ import annotations

import html
import json
from pathlib import Path

from mnistmax.report.html import embed_image

FIGURES = {"scores": "limitations_scores.png", "spectrum": "frequency_analysis.png",
           "changed": "limitations_changed.png", "blended": "limitations_blended.png",
           "no_digit": "limitations_no_digit.png"}
TABLE_KEYS = [("σ", "sigma"), ("PSNR dB", "psnr"), ("over-smoothing", "oversmoothing"),
              ("Laplacian var. ratio", "laplacian_ratio"), ("HF ratio", "hf_ratio"),
              ("diversity collapse", "diversity_collapse"), ("noise sensitivity", "noise_sensitivity"),
              ("judge acc. noisy", "acc_noisy"), ("judge acc. denoised", "acc_denoised"),
              ("class changed", "flip_rate"), ("mode averaging", "mode_averaging"),
              ("mode averaging noisy", "mode_averaging_noisy"), ("entropy noisy", "entropy_noisy"),
              ("entropy denoised", "entropy_denoised")]
PERCENT = {"acc_noisy", "acc_denoised", "flip_rate", "mode_averaging", "mode_averaging_noisy"}


def cell(key: str, value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if key in PERCENT:
        return f"{100 * value:.1f}%"
    if key == "sigma":
        return f"{value:g}"
    return f"{value:.2f}" if key == "psnr" else f"{value:.3f}"


def rows_table(rows: list[dict], lead: list[tuple[str, str]] | None = None) -> str:
    keys = (lead or []) + TABLE_KEYS
    head = "".join(f"<th>{html.escape(name)}</th>" for name, _ in keys)
    body = []
    for r in rows:
        style = "" if r.get("seen", True) else ' style="background:#fbf3e0"'
        body.append(f"<tr{style}>" + "".join(f"<td>{html.escape(cell(k, r[k]) if k in r else '')}</td>"
                                              for _, k in keys) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def with_baselines(result: dict, **lead) -> list[dict]:
    """The run's rows under `method` = its model, then each classical baseline's rows (none in
    a limitations.json written before baselines were scored); `lead`: further fields of every row."""
    rows = [{**lead, "method": result["model"], **r} for r in result["rows"]]
    return rows + [{**lead, "method": name, **r} for name, b in (result.get("baselines") or {}).items() for r in b]


def reading(result: dict) -> list[str]:
    """A plain-language sentence for each score, from the numbers."""
    rows = result["rows"]
    mid = min(rows, key=lambda r: abs(r["sigma"] - 0.5))
    top = rows[-1]
    unseen = [r["sigma"] for r in rows if not r["seen"]]
    nd = result["no_digit"]
    lines = [
        f"Over-smoothing: at σ={mid['sigma']:g} the outputs keep {100 * (1 - mid['oversmoothing']):.0f}% of the clean "
        f"digits' edge strength ({100 * (1 - top['oversmoothing']):.0f}% at σ={top['sigma']:g}); the variance of the "
        f"Laplacian, a sharpness measure, is {mid['laplacian_ratio']:.2f}× that of the clean digits.",
        f"High frequencies: above {result['cutoff']:g} cycles/pixel the outputs carry {mid['hf_ratio']:.2f}× the clean "
        f"power at σ={mid['sigma']:g} (the noisy input {mid['hf_ratio_noisy']:.1f}×): fine stroke detail is "
        + ("lost." if mid["hf_ratio"] < 0.9 else "largely kept."),
        f"Diversity: different digits' outputs are {100 * (1 - mid['diversity_collapse']):.0f}% as far apart as the "
        f"clean digits at σ={mid['sigma']:g} ({100 * (1 - top['diversity_collapse']):.0f}% at σ={top['sigma']:g}); "
        f"the outputs for {result['draws']} noise draws of the same digit lie {mid['noise_sensitivity']:.2f}× as far "
        "apart as two different clean digits.",
        f"Identity drift: the judge reads {100 * result['clean']['acc']:.1f}% of the clean digits correctly; after "
        f"denoising at σ={mid['sigma']:g} it reads {100 * mid['acc_denoised']:.1f}% "
        f"(noisy: {100 * mid['acc_noisy']:.1f}%), and {100 * mid['flip_rate']:.1f}% of digits change class "
        f"({100 * top['flip_rate']:.1f}% at σ={top['sigma']:g}). Its uncertainty grows from "
        f"{result['clean']['entropy']:.2f} bits on clean digits to {top['entropy_denoised']:.2f} "
        f"bits on the denoised digits at σ={top['sigma']:g}.",
        *_mode_averaging(result, mid, top),
        f"No generative capability: {nd['what']} — the judge's mean top-class probability is "
        f"{100 * nd['confidence']:.0f}% and {100 * nd['confident_share']:.0f}% of them look like a digit to it with "
        "≥ 90% confidence.",
    ]
    if unseen:
        lines.append("Shaded rows and regions: noise levels the run never trained on ("
                     + ", ".join(f"σ={s:g}" for s in unseen) + ").")
    return lines


def _mode_averaging(result: dict, mid: dict, top: dict) -> list[str]:
    if "mode_averaging" not in mid:  # a limitations.json from before the score
        return []
    split = result.get("split", 0.25)
    return [f"Mode averaging: at σ={mid['sigma']:g}, {100 * mid['mode_averaging']:.1f}% of the outputs are split "
            f"between two classes for the judge (second likeliest class ≥ {100 * split:.0f}%) though the clean digit "
            f"is not (noisy input: {100 * mid['mode_averaging_noisy']:.1f}%; {100 * top['mode_averaging']:.1f}% at "
            f"σ={top['sigma']:g}): the output blends two digits. {100 * result['clean']['split']:.1f}% of the clean "
            "digits are split themselves and are not counted."]


def section(run_dir: Path) -> str | None:
    """The "Limitations" section of a run's report (None when the analysis has not been run)."""
    reports = Path(run_dir) / "reports"
    path = reports / "limitations.json"
    if not path.is_file():
        return None
    result = json.loads(path.read_text())
    parts = ["<h2>Limitations</h2>",
             f'<p class="note">{html.escape(result["noise"])} noise on {result["n_test"]:,} test digits; '
             f"judge: a digit classifier with {100 * result['judge']['test_acc']:.1f}% accuracy on clean test "
             "digits.</p>",
             "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in reading(result)) + "</ul>",
             rows_table(with_baselines(result), [("method", "method")])]
    if result.get("baselines"):
        parts.append('<p class="note">The classical baselines (identity: the noisy input) on the same digits and '
                     "noise draws.</p>")
    for key in ("scores", "spectrum", "changed", "blended", "no_digit"):
        if (reports / FIGURES[key]).is_file():
            parts.append(embed_image(reports / FIGURES[key], FIGURES[key]))
    parts.append("<h3>Definitions</h3><ul>" + "".join(
        f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in result["definitions"].items()) + "</ul>")
    return "\n".join(parts)
