"""Report sections of denoising runs, and what `mnistmax report` makes first when it is missing."""

from __future__ import annotations

import html
import json
from pathlib import Path

from mnistmax.report.html import figure_section
from mnistmax.report.limitations import section as limitations_section


def eval_table(run_dir: Path) -> str | None:
    path = run_dir / "eval" / "eval.json"
    if not path.is_file():
        return None
    rows = json.loads(path.read_text())
    methods = list(dict.fromkeys(r["method"] for r in rows))
    parts = ["<h2>Evaluation on the test split</h2>",
             '<p class="note">Mean per-image PSNR (dB, data range 1) and SSIM; the first method is the model, '
             "the rest are classical baselines (identity = the noisy input). Best PSNR per row in bold.</p>"]
    for kind in dict.fromkeys(r["noise"] for r in rows):
        head = "".join(f"<th>{html.escape(m)} PSNR</th>" for m in methods) + f"<th>{html.escape(methods[0])} SSIM</th>"
        body = []
        for sigma in dict.fromkeys(r["sigma"] for r in rows if r["noise"] == kind):
            by = {r["method"]: r for r in rows if r["noise"] == kind and r["sigma"] == sigma}
            best = max(by.values(), key=lambda r: r["psnr"])["method"]
            cells = "".join(f'<td class="{"best" if m == best else ""}">{by[m]["psnr"]:.2f}</td>' for m in methods)
            body.append(f"<tr><td>σ = {sigma:g}</td>{cells}<td>{by[methods[0]]['ssim']:.3f}</td></tr>")
        parts.append(f"<h3>{html.escape(kind)} noise</h3><table><tr><th></th>{head}</tr>{''.join(body)}</table>")
    return "".join(parts)


ABLATION_KEYS = ("precision", "recall", "specificity", "fpr", "ablation_efficiency", "pixel_conservation", "dice",
                 "iou")


def ablation_table(run_dir: Path) -> str | None:
    """Bitmap runs: precision, recall, ablation efficiency ... per method, noise kind and level."""
    path = run_dir / "eval" / "eval.json"
    rows = json.loads(path.read_text()) if path.is_file() else []
    if not rows or "precision" not in rows[0]:
        return None
    head = "".join(f"<th>{k.replace('_', ' ')}</th>" for k in ABLATION_KEYS)
    body = []
    for r in rows:
        cells = "".join(f"<td>{'-' if r[k] != r[k] else f'{100 * r[k]:.2f}'}</td>" for k in ABLATION_KEYS)
        body.append(f"<tr><td>{html.escape(r['method'])}</td><td>{html.escape(r['noise'])}</td>"
                    f"<td>{r['sigma']:g}</td>{cells}</tr>")
    note = ("Percentages pooled over all test pixels. Ablation efficiency = added noise pixels the output removed / "
            "noise pixels added; pixel conservation = clean ink pixels kept / clean ink pixels. "
            "A gated model can never add a pixel; '(ungated)' is the same network without the gate.")
    return (f'<h2>Ablation scores (bitmaps)</h2><p class="note">{note}</p><table><tr><th>method</th><th>noise</th>'
            f"<th>level</th>{head}</tr>{''.join(body)}</table>")


SECTIONS = [
    eval_table,
    figure_section("PSNR against the noise level", "reports/psnr_curve.png",
                   note="Test PSNR of the model and the baselines (dashed; dotted: identity, the noisy input) "
                        "at every evaluated level, one panel per noise kind."),
    figure_section("Reconstructions", "grids/recon_test.png", "grids/recon_latest.png",
                   note="Fixed digits; columns clean | noisy | denoised | absolute error (colour bar)."),
    figure_section("Across noise levels", "panels/sigma_panel_test.png", "panels/sigma_panel_latest.png",
                   note="Noisy row above denoised row, PSNR under each denoised digit."),
    figure_section("Training animation", "animations/training.gif",
                   note="The validation reconstruction grid, epoch by epoch."),
    figure_section("Best and worst test digits", "grids/cases.png"),
    ablation_table,
    figure_section("Ablation map", "grids/ablation_map_test.png", "grids/ablation_map_latest.png",
                   note="White: kept ink; blue: removed noise; red: wrongly removed ink; yellow: missed noise."),
    figure_section("Operating points", "reports/operating_points.png",
                   note="Scores at every output threshold on validation (solid) and test (dashed); the thresholds "
                        "eval.operating_point chose on validation; the reference ablation design's reported point "
                        "dotted / as a black cross. "
                        "`mnistmax viz operating-points RUN` draws it."),
    figure_section("Ablation animation", "animations/ablation.gif",
                   note="The ablation map of the same validation digits, epoch by epoch."),
    limitations_section,
]


def prepare(run_dir: Path, task, load, warn=print) -> None:
    """Evaluate and draw what the report shows and is missing (`task`: the run's task class,
    `load()`: the loaded run); pictures already drawn by `mnistmax viz` are reused, the PSNR
    curve unless eval.json is newer."""
    from mnistmax.files import read_run_yaml
    from mnistmax.viz import commands
    from mnistmax.viz.run_figures import draws_ablation_map

    config = read_run_yaml(run_dir)
    ablation = draws_ablation_map((config.get("data") or {}).get("binarize"), (config.get("noise") or {}).get("kind"))
    missing = {
        "eval": not (run_dir / "eval" / "eval.json").is_file(),
        "recon_grid": not (run_dir / "grids" / "recon_test.png").is_file(),
        "sigma_panel": not (run_dir / "panels" / "sigma_panel_test.png").is_file(),
        "cases": not (run_dir / "grids" / "cases.png").is_file(),
        "ablation_map": ablation and not (run_dir / "grids" / "ablation_map_test.png").is_file(),
    }
    if any(missing.values()):
        run = load()
        if missing.pop("eval"):
            from mnistmax.eval.tables import write_eval

            write_eval(run_dir, run.task.evaluate(run, warn=warn))
        for name, needed in missing.items():
            if needed:
                getattr(commands, name)(run)
    curve, rows = run_dir / "reports" / "psnr_curve.png", run_dir / "eval" / "eval.json"
    if not curve.is_file() or curve.stat().st_mtime < rows.stat().st_mtime:  # drawn from eval.json, no model
        commands.psnr_curve(run_dir, task)

