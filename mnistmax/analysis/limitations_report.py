"""Files of the limitations analysis.

One run:   <run>/reports/limitations.json, limitations.html, frequency_analysis.png,
           limitations_scores.png, limitations_changed.png, limitations_blended.png,
           limitations_no_digit.png;
           `section(run_dir)` is also the "Limitations" section of the run's report.
Several:   the same per run, plus <output>/limitations.json and limitations.html with one
           comparison table (the classical baselines once per set of test digits) and one
           spectrum plot across the runs.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from mnistmax.analysis.limitations import strip_images
from mnistmax.files import write_atomic, write_json
from mnistmax.report.html import embed_image, page
from mnistmax.report.limitations import FIGURES, rows_table, section
from mnistmax.viz import limitation_figures as lf


def write_run_files(run_dir: Path, result: dict) -> Path:
    out = Path(run_dir) / "reports"
    title = f"{result['name']} ({result['model']}), {result['noise']} noise, {result['n_test']:,} test digits"
    lf.scores_figure(result["rows"], result["clean"]["acc"], out / FIGURES["scores"], title)
    spectra = result["spectrum"]
    lf.spectrum_figure(spectra["freqs"], spectra["clean"], {f"denoised, σ={s}": p for s,
                                                            p in spectra["outputs"].items()},
                       result["cutoff"], out / FIGURES["spectrum"], f"radially averaged power spectrum: {title}")
    if result["changed"]:
        (out / FIGURES["changed"]).unlink(missing_ok=True)
        c = result["changed"]
        lf.changed_figure(c, out / FIGURES["changed"], f"σ={c['sigma']}: read correctly when clean, as another digit "
                                                       f"after denoising ({c['count']} of {result['n_test']})")
    (out / FIGURES["blended"]).unlink(missing_ok=True)
    if result.get("blended"):
        b = result["blended"]
        lf.blended_figure(b, out / FIGURES["blended"],
                          f"σ={b['sigma']}: the most blended outputs, with the judge's two likeliest classes\n"
                          f"({b['count']} of {result['n_test']} split ≥ {b['split']:.0%} where the clean digit is not)")
    lf.no_digit_figure(result["no_digit"], out / FIGURES["no_digit"], result["no_digit"]["what"])
    write_json(out / "limitations.json", strip_images(result))
    body = (section(run_dir) or "").replace("<h2>Limitations</h2>", "", 1)
    write_atomic(out / "limitations.html", page(f"Limitations: {result['name']}", body, heading=True))
    return out


def write_comparison(results: list[dict], out: Path) -> Path:
    """Several runs side by side: one table (a row per run and σ, then the baselines' rows),
    one spectrum plot."""
    out.mkdir(parents=True, exist_ok=True)
    sigma = min(results[0]["rows"], key=lambda r: abs(r["sigma"] - 0.5))["sigma"]
    curves = {f"{r['name']} ({r['model']})": r["spectrum"]["outputs"][str(sigma)] for r in results
              if str(sigma) in r["spectrum"]["outputs"]}
    spectrum = lf.spectrum_figure(results[0]["spectrum"]["freqs"], results[0]["spectrum"]["clean"], curves,
                                  results[0]["cutoff"], out / "frequency_analysis.png",
                                  f"radially averaged power spectrum, denoised at σ={sigma:g}")
    rows = [{"run": r["name"], "model": r["model"], **row} for r in results for row in r["rows"]]
    rows += baseline_rows(results)
    write_json(out / "limitations.json", [strip_images(r) for r in results])
    body = [f'<p class="note">{len(results)} runs, {html.escape(results[0]["noise"])} noise; shaded rows: levels that '
            "run never trained on. Definitions below each run's section.</p>",
            rows_table(rows, [("run", "run"), ("model", "model")]), embed_image(spectrum, "spectra")]
    for r in results:
        body.append(f"<h2>{html.escape(r['name'])}</h2>")
        body.append((section(Path(r["run"])) or "").replace("<h2>Limitations</h2>", "", 1))
    write_atomic(out / "limitations.html", page("Limitations: comparison", "\n".join(body), heading=True))
    return out


def baseline_rows(results: list[dict]) -> list[dict]:
    """The baselines' rows (run "baseline", model = the baseline), once for runs that share their
    test digits and noise draws; runs on different digits each get theirs, as "baseline: <run>"."""
    groups: dict[str, tuple[str, dict]] = {}
    for r in results:
        if r.get("baselines"):
            groups.setdefault(json.dumps(r["baselines"], sort_keys=True), (r["name"], r))
    rows = []
    for name, r in groups.values():
        run = "baseline" if len(groups) == 1 else f"baseline: {name}"
        rows += [{"run": run, "model": base, **row} for base, b in r["baselines"].items() for row in b]
    return rows
