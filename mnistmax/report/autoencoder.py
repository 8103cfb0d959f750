"""Report sections of autoencoder and VAE runs (reconstruction, transfer, latent space), and
what `mnistmax report` makes first when it is missing."""

from __future__ import annotations

import html
import json
from pathlib import Path

from mnistmax.report.html import figure_section
from mnistmax.report.limitations import section as limitations_section


def reconstruction_table(run_dir: Path) -> str | None:
    """AE / VAE: the one row of eval.json, with what each number means."""
    path = run_dir / "eval" / "eval.json"
    if not path.is_file():
        return None
    row = json.loads(path.read_text())[0]
    notes = {"mse": "mean squared error per pixel", "psnr": "dB, mean per image", "ssim": "mean per image",
             "nelbo": "negative ELBO, nats per image", "kl": "KL(q(z|x) || p(z)), nats per image"}
    bound = "importance-weighted bound, nats per image"
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{v:.4f}</td>"
                    f"<td>{html.escape(notes.get(k, bound if k.startswith('niwae') else ''))}</td></tr>"
                    for k, v in row.items() if isinstance(v, float) and k != "sigma")
    return (f"<h2>Reconstruction of the {row['n']} test digits</h2>"
            f'<table class="facts">{cells}</table>')


def transfer_table(run_dir: Path) -> str | None:
    path = run_dir / "eval" / "transfer.json"
    if not path.is_file():
        return None
    rows = json.loads(path.read_text())
    body = "".join(f"<tr><td>{r['labels_per_class']}</td><td>{html.escape(r['mode'])}</td>"
                   f"<td>{100 * r['test_acc']:.2f}%</td>"
                   f"<td>{r['train_seconds']}</td><td>{r['trainable_params']:,}</td></tr>" for r in rows)
    return ("<h2>Transfer learning: classifier on this encoder</h2><p class=\"note\">scratch: random encoder; frozen: "
            "this run's encoder, head only; finetune: this run's encoder, everything trained. Test accuracy on the "
            "test split.</p><table><tr><th>labels/class</th><th>mode</th><th>test accuracy</th><th>train time (s)</th>"
            f"<th>trainable params</th></tr>{body}</table>")


SECTIONS = [
    reconstruction_table,
    figure_section("Reconstructions", "grids/recon_test.png",
                   note="Fixed test digits; columns clean | reconstruction | absolute error (colour bar); each "
                        "digit's MSE in the corner of its reconstruction. `mnistmax viz recon-grid RUN` draws it."),
    limitations_section,
    transfer_table,
    figure_section("Latent space: interpolation", "grids/latent_interpolate.png"),
    figure_section("Latent space: samples", "grids/latent_samples_fitted.png", "grids/latent_samples_normal.png",
                   note="Decoded random latents (a Gaussian fitted to the training latents, or N(0, I))."),
    figure_section("Latent space: traversal", "grids/latent_traverse.png",
                   note="One row per latent dimension, swept from -3σ to +3σ."),
    figure_section("Latent space: arithmetic", "grids/latent_arithmetic.png"),
    figure_section("Latent space: PCA of test latents", "grids/latent_pca.png"),
]


def prepare(run_dir: Path, task, load, warn=print) -> None:
    """Evaluate and draw the reconstruction grid and the latent pictures when they are missing
    (`task`: the run's task class, `load()`: the loaded run)."""
    from mnistmax.analysis import latent
    from mnistmax.viz import commands

    wanted = {"interpolate": latent.interpolate, "samples_fitted": latent.sample, "traverse": latent.traverse,
              "arithmetic": latent.arithmetic, "pca": latent.pca}
    missing = [name for name in wanted if not (run_dir / "grids" / f"latent_{name}.png").is_file()]
    has_eval = (run_dir / "eval" / "eval.json").is_file()
    has_grid = (run_dir / "grids" / "recon_test.png").is_file()
    if has_eval and has_grid and not missing:
        return
    run = load()
    if not has_eval:
        from mnistmax.eval.tables import write_eval

        write_eval(run_dir, run.task.evaluate(run, warn=warn))
    if not has_grid:
        commands.recon_grid(run)
    if missing:
        space = latent.LatentSpace(run)
        for name in missing:
            fn = wanted[name]
            fn(space, 0, 1) if name == "interpolate" else fn(space)
