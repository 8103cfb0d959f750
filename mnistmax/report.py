"""One self-contained HTML report per run: `reports/index.html`, every image embedded as a
data URI, so the file can be mailed or opened anywhere.

Sections are functions `(run_dir) -> html | None` in SECTIONS; a section whose files are
missing returns None and is left out. Later features append their own sections.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Callable

from mnistmax.runs import read_meta, write_atomic

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;font-size:14px}td,th{border:1px solid #ddd;padding:3px 9px;text-align:right}
th{background:#f5f5f5}td:first-child,th:first-child{text-align:left}.best{font-weight:bold;color:#0a7a2f}
img{max-width:100%;border:1px solid #eee}pre{background:#f7f7f7;padding:.8em;overflow:auto;font-size:12px}
.facts td{text-align:left}.note{color:#666;font-size:13px}
"""


def embed_image(path: Path, alt: str) -> str:
    mime = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg", ".svg": "image/svg+xml"}[path.suffix]
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:{mime};base64,{data}">'


def first_existing(run_dir: Path, *names: str) -> Path | None:
    return next((run_dir / n for n in names if (run_dir / n).is_file()), None)


def figure_section(title: str, *names: str, note: str = "") -> Callable[[Path], str | None]:
    def section(run_dir: Path) -> str | None:
        path = first_existing(run_dir, *names)
        if path is None:
            return None
        caption = f'<p class="note">{html.escape(note)}</p>' if note else ""
        return f"<h2>{html.escape(title)}</h2>{caption}{embed_image(path, title)}"

    return section


def overview(run_dir: Path) -> str:
    meta = read_meta(run_dir)
    data = meta.get("data", {})
    sizes = ", ".join(f"{k} {v:,}" for k, v in data.get("sizes", {}).items())
    facts = [
        ("status", meta.get("status")),
        ("model", f"{meta.get('model')} ({meta.get('parameters', 0):,} parameters)"),
        ("data", f"{data.get('description')}: {sizes}"),
        ("device / precision", f"{meta.get('device')} / {meta.get('precision')}"),
        ("training", f"{meta.get('epochs_completed')} epochs in {meta.get('train_seconds')} s; best val/loss "
                     + (f"{meta['best_val_loss']:.5f}" if meta.get("best_val_loss") is not None else "n/a")),
        ("seed / git", f"{meta.get('seed')} / {meta.get('git_sha')}"),
        ("started / ended", f"{meta.get('started')} / {meta.get('ended')}"),
        ("versions", ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items())),
    ]
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts)
    return f'<h1>{html.escape(run_dir.name)}</h1><table class="facts">{rows}</table>'


def eval_table(run_dir: Path) -> str | None:
    path = run_dir / "eval" / "eval.json"
    if not path.is_file():
        return None
    rows = json.loads(path.read_text())
    if rows and rows[0]["noise"] == "none":  # autoencoder / VAE: one reconstruction row
        return reconstruction_table(rows[0])
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


def reconstruction_table(row: dict) -> str:
    notes = {"mse": "mean squared error per pixel", "psnr": "dB, mean per image", "ssim": "mean per image",
             "nelbo": "negative ELBO, nats per image", "kl": "KL(q(z|x) || p(z)), nats per image"}
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{v:.4f}</td><td>{html.escape(notes.get(k, 'importance-weighted bound, nats per image' if k.startswith('niwae') else ''))}</td></tr>"
                    for k, v in row.items() if isinstance(v, float) and k != "sigma")
    return (f"<h2>Reconstruction of the {row['n']} test digits</h2>"
            f'<table class="facts">{cells}</table>')


def transfer_table(run_dir: Path) -> str | None:
    path = run_dir / "eval" / "transfer.json"
    if not path.is_file():
        return None
    rows = json.loads(path.read_text())
    body = "".join(f"<tr><td>{r['labels_per_class']}</td><td>{html.escape(r['mode'])}</td><td>{100 * r['test_acc']:.2f}%</td>"
                   f"<td>{r['train_seconds']}</td><td>{r['trainable_params']:,}</td></tr>" for r in rows)
    return ("<h2>Transfer learning: classifier on this encoder</h2><p class=\"note\">scratch: random encoder; frozen: "
            "this run's encoder, head only; finetune: this run's encoder, everything trained. Test accuracy on the "
            "test split.</p><table><tr><th>labels/class</th><th>mode</th><th>test accuracy</th><th>train time (s)</th>"
            f"<th>trainable params</th></tr>{body}</table>")


ABLATION_KEYS = ("precision", "recall", "specificity", "fpr", "ablation_efficiency", "pixel_conservation", "dice", "iou")


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


def config_section(run_dir: Path) -> str | None:
    path = run_dir / "config.yaml"
    return f"<h2>Config</h2><pre>{html.escape(path.read_text())}</pre>" if path.is_file() else None


def probe_table(run_dir: Path) -> str | None:
    path = run_dir / "eval" / "probe.json"
    if not path.is_file():
        return None
    rows = json.loads(path.read_text())
    keys = ("linear_probe", "knn", "nmi", "ari", "precision_at_1", "map_at_r")
    head = "".join(f"<th>{k.replace('_', ' ')}</th>" for k in keys)
    body = []
    for r in rows:
        cells = "".join("<td>-</td>" if r.get(k) is None else
                        f"<td>{100 * r[k]:.2f}%</td>" if k in ("linear_probe", "knn") else f"<td>{r[k]:.3f}</td>"
                        for k in keys)
        body.append(f"<tr><td>{html.escape(r['method'])}</td><td>{r['n_train']:,}</td>{cells}</tr>")
    note = ("Frozen embeddings of the test split. Linear probe: logistic regression on the train embeddings; "
            "kNN: weighted, k=20, cosine; NMI/ARI: k-means with 10 clusters; P@1 and MAP@R: leave-one-out retrieval "
            "within the test split. 'raw pixels' is the same evaluation on the 784 pixel values.")
    return (f'<h2>Embedding quality</h2><p class="note">{note}</p><table><tr><th>method</th><th>train items</th>'
            f"{head}</tr>{''.join(body)}</table>")


def limitations_section(run_dir: Path) -> str | None:
    from mnistmax.analysis.limitations_report import section

    return section(run_dir)


SECTIONS: list[Callable[[Path], str | None]] = [
    overview,
    figure_section("Training curves", "reports/curves.png"),
    eval_table,
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
    limitations_section,
    probe_table,
    transfer_table,
    figure_section("Latent space: interpolation", "grids/latent_interpolate.png"),
    figure_section("Latent space: samples", "grids/latent_samples_fitted.png", "grids/latent_samples_normal.png",
                   note="Decoded random latents (a Gaussian fitted to the training latents, or N(0, I))."),
    figure_section("Latent space: traversal", "grids/latent_traverse.png",
                   note="One row per latent dimension, swept from -3σ to +3σ."),
    figure_section("Latent space: arithmetic", "grids/latent_arithmetic.png"),
    figure_section("Latent space: PCA of test latents", "grids/latent_pca.png"),
    figure_section("Test embeddings: PCA", "grids/embeddings_pca.png"),
    figure_section("Test embeddings: t-SNE", "grids/embeddings_tsne.png"),
    figure_section("Clustering, epoch by epoch", "animations/clustering.gif",
                   note="PCA of 25 fixed validation digits per class after each epoch."),
    config_section,
]


def build_report(run_dir: Path) -> Path:
    body = "\n".join(s for s in (section(run_dir) for section in SECTIONS) if s)
    page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>mnistmax: {html.escape(run_dir.name)}'
            f"</title><style>{CSS}</style></head><body>{body}</body></html>\n")
    return write_atomic(run_dir / "reports" / "index.html", page)


def _is_bitmap_run(run_dir: Path) -> bool:
    return bool(_raw_config(run_dir).get("data", {}).get("binarize"))


def _raw_config(run_dir: Path) -> dict:
    import yaml

    return yaml.safe_load((run_dir / "config.yaml").read_text()) or {}


def prepare_and_build(run_dir: Path, warn=print) -> Path:
    """Make whatever the report shows and is still missing (eval or probe table, curves,
    pictures), then build it. Pictures already drawn by `mnistmax viz` are reused."""
    from mnistmax.viz import commands

    task = _raw_config(run_dir).get("task")
    if task == "contrastive":
        return prepare_contrastive(run_dir)
    if task in ("autoencoder", "vae"):
        return prepare_autoencoder(run_dir)

    missing = {
        "eval": not (run_dir / "eval" / "eval.json").is_file(),
        "curves": not (run_dir / "reports" / "curves.png").is_file() and (run_dir / "metrics.csv").is_file(),
        "recon_grid": not (run_dir / "grids" / "recon_test.png").is_file(),
        "sigma_panel": not (run_dir / "panels" / "sigma_panel_test.png").is_file(),
        "cases": not (run_dir / "grids" / "cases.png").is_file(),
        "ablation_map": _is_bitmap_run(run_dir) and not (run_dir / "grids" / "ablation_map_test.png").is_file(),
    }
    if missing["curves"]:
        commands.curves(run_dir)
    if any(missing[k] for k in ("eval", "recon_grid", "sigma_panel", "cases", "ablation_map")):
        run = commands.open_run(run_dir)
        if missing["eval"]:
            from mnistmax.evaluate import evaluate_run, write_eval

            write_eval(run_dir, evaluate_run(run.cfg, run.task, warn=warn))
        for name in ("recon_grid", "sigma_panel", "cases", "ablation_map"):
            if missing[name]:
                getattr(commands, name)(run)
    return build_report(run_dir)


def prepare_contrastive(run_dir: Path) -> Path:
    from mnistmax.probe import probe_run
    from mnistmax.viz import commands

    if not (run_dir / "eval" / "probe.json").is_file():
        probe_run(run_dir)
    if not (run_dir / "reports" / "curves.png").is_file() and (run_dir / "metrics.csv").is_file():
        commands.curves(run_dir)
    if not (run_dir / "grids" / "embeddings_tsne.png").is_file():
        commands.embedding_plots(run_dir)
    return build_report(run_dir)


def prepare_autoencoder(run_dir: Path) -> Path:
    from mnistmax.analysis import latent
    from mnistmax.viz import commands

    if not (run_dir / "eval" / "eval.json").is_file():
        from mnistmax.evaluate import evaluate_autoencoder, write_eval
        from mnistmax.runs import load_task

        write_eval(run_dir, evaluate_autoencoder(*load_task(run_dir)))
    if not (run_dir / "reports" / "curves.png").is_file() and (run_dir / "metrics.csv").is_file():
        commands.curves(run_dir)
    wanted = {"interpolate": latent.interpolate, "samples_fitted": latent.sample, "traverse": latent.traverse,
              "arithmetic": latent.arithmetic, "pca": latent.pca}
    missing = [name for name in wanted if not (run_dir / "grids" / f"latent_{name}.png").is_file()]
    if missing:
        run = latent.LatentRun(run_dir)
        for name in missing:
            fn = wanted[name]
            fn(run, 0, 1) if name == "interpolate" else fn(run)
    return build_report(run_dir)
