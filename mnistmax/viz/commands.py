"""The functions behind `mnistmax viz ...`: given a loaded run (`runs.load_run`), write its
pictures and return the paths."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from mnistmax.data.datamodule import clean_images
from mnistmax.data.noise import NOISE_KINDS
from mnistmax.data.splits import select_digits
from mnistmax.errors import MnistmaxError, RunError
from mnistmax.viz import run_figures


class NotEvaluated(MnistmaxError):
    """A picture of test numbers asked of a run that `mnistmax eval` has not scored (exit code 2)."""

    exit_code = 2


def fixed_digits(run, n: int) -> torch.Tensor:
    """n test digits cycling through the classes, as the run's clean targets."""
    return clean_images(run.test_images[select_digits(run.test_labels, n)], run.cfg)


def recon_grid(run) -> Path:
    """viz.n_digits fixed test digits and the model's reconstructions, as its task draws them
    (a denoiser's from noisy digits) -> grids/recon_test.png."""
    clean = fixed_digits(run, run.cfg.viz.n_digits)
    return run.task.recon_grid(run.cfg, clean, run.run_dir / "grids" / "recon_test.png", run.title())


def sigma_panel(run) -> Path:
    run.require("denoise", "a σ panel")
    clean = fixed_digits(run, run.cfg.viz.panel_digits)
    return run_figures.render_sigma_panel(run.task, run.cfg, clean, run.run_dir / "panels" / "sigma_panel_test.png",
                                          run.title())


def ablation_map(run) -> Path:
    run.require("denoise", "an ablation map")
    clean = fixed_digits(run, run.cfg.viz.n_digits)
    return run_figures.render_ablation_map(run.task, run.cfg, clean, run.run_dir / "grids" / "ablation_map_test.png",
                                           run.title())


def cases(run, k: int = 6) -> Path:
    run.require("denoise", "best and worst cases")
    return run_figures.render_cases(run.task, run.cfg, run.test_images, run.run_dir / "grids" / "cases.png", k=k)


def curves(run_dir: Path) -> Path:
    return run_figures.render_curves(run_dir, run_dir / "reports" / "curves.png")


def eval_path(run_dir: Path, task) -> Path:
    """Where `mnistmax eval` writes the rows of a run of `task` (eval/<its eval_stem>.json)."""
    return run_dir / "eval" / f"{task.eval_stem}.json"


def psnr_curve(run_dir: Path, task) -> Path:
    """PSNR against σ for every evaluated noise kind, the model and the baselines, from
    eval/eval.json (no model is loaded) -> reports/psnr_curve.png. `task`: the run's task class."""
    from mnistmax.eval.baselines import BASELINES, BITMAP_BASELINES
    from mnistmax.viz.psnr_figures import psnr_vs_sigma

    if "denoise" not in task.capabilities:
        raise RunError(task.cannot("denoise", "a PSNR curve"))
    path = eval_path(run_dir, task)
    if not path.is_file():
        raise NotEvaluated(f"{path} not found: run `mnistmax eval {run_dir}` first")
    rows = json.loads(path.read_text())
    title = f"test PSNR against the noise level\n{run_dir.name} ({rows[0]['method']}, {rows[0]['n']} digits)"
    return psnr_vs_sigma(rows, run_dir / "reports" / "psnr_curve.png", title, baselines={*BASELINES, *BITMAP_BASELINES})


def noise_gallery(output_dir: Path, levels: list[float] | None = None) -> tuple[Path, Path]:
    """Six embedded digits of different classes under every noise kind and level."""
    from mnistmax.data.sources import load_embedded

    bundle = load_embedded()
    idx = select_digits(bundle.train_labels, 10)[[0, 2, 3, 5, 7, 9]]
    levels = levels or [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    return run_figures.render_noise_gallery(bundle.train_images[idx], list(NOISE_KINDS), levels,
                                            output_dir / "noise_gallery.png", output_dir / "noise_gallery.gif")


PROJECTED = 5000  # at most this many test digits in the PCA / t-SNE / UMAP pictures


def embedding_plots(run) -> list[Path]:
    """PCA and t-SNE of the test embeddings (PROJECTED of them at most, stratified), coloured
    by digit, and UMAP when umap-learn is installed (the umap extra)."""
    import importlib.util

    from sklearn.manifold import TSNE

    from mnistmax.data.splits import stratified_subset
    from mnistmax.eval.embeddings import embed_images
    from mnistmax.eval.projection import pca_2d
    from mnistmax.viz import figures

    run.require("embed", "embedding plots")
    images, labels = run.test_images, run.test_labels
    if len(images) > PROJECTED:  # t-SNE is quadratic: a stated, class-stratified, seeded sample
        keep = stratified_subset(labels, PROJECTED, run.cfg.seed)
        images, labels = images[keep], labels[keep]
    z = embed_images(run.task, images, run.cfg).numpy()
    y = labels.numpy()
    shown = f"{len(y):,} test digits" + ("" if len(y) == len(run.test_labels) else
                                          f" (a stratified sample of {len(run.test_labels):,})")
    name = f"{run.cfg.model.name} ({run.cfg.contrastive.loss}), {shown}"
    pca = figures.embedding_scatter(pca_2d(z), y, run.run_dir / "grids" / "embeddings_pca.png", name, "PCA")
    tsne_points = TSNE(2, init="pca", perplexity=30, random_state=run.cfg.seed).fit_transform(z)
    tsne = figures.embedding_scatter(tsne_points, y, run.run_dir / "grids" / "embeddings_tsne.png", name, "t-SNE")
    written = [pca, tsne]
    if importlib.util.find_spec("umap") is not None:
        from umap import UMAP

        points = UMAP(n_components=2, random_state=run.cfg.seed, n_jobs=1).fit_transform(z)
        written.append(figures.embedding_scatter(points, y, run.run_dir / "grids" / "embeddings_umap.png", name,
                                                 "UMAP"))
    return written


def all_pictures(run) -> list[Path]:
    """Every picture `mnistmax viz` can draw for this run, in one process (its task says which)."""
    return run.task.pictures(run)


def operating_points(run, levels: list[float] | None = None) -> tuple[Path, list[dict]]:
    """A bitmap denoiser's scores at every output threshold on validation and test, each
    eval.operating_point chosen on validation (eval.threshold when none is configured)
    -> reports/operating_points.png and .json. Returns (the picture, one row per point and level
    with its validation and test scores)."""
    from mnistmax.eval.operating import (
        THRESHOLDS,
        VALIDATION_SEED_OFFSET,
        model_sweeps,
        point_setting,
        run_points,
        selection_config,
        sweep_scores,
    )
    from mnistmax.files import write_json
    from mnistmax.viz.operating_figures import operating_points_figure

    run.require("denoise", "operating points")
    cfg = run.cfg
    if not cfg.data.binarize:
        raise RunError("operating points need a bitmap run (data.binarize: true): this run's output is not thresholded")
    val_images = run.validation_images  # the training run's: where its points were chosen
    made: dict = {}  # validation sweeps the rules were chosen on (when chosen now): reused below
    if cfg.eval.operating_point:
        points = run_points(run, sweeps=made)
        kind, default_levels = point_setting(cfg, next(iter(cfg.eval.operating_point.values())))
    else:
        points = [{"point": "eval.threshold", "threshold": cfg.eval.threshold, "rule": "eval.threshold", "met": True}]
        kind, default_levels = cfg.noise.kind, cfg.noise.levels_to_evaluate()
    levels = levels or default_levels
    chosen_under = selection_config(run)
    seeds = {"validation": chosen_under.eval.seed + VALIDATION_SEED_OFFSET, "test": cfg.eval.seed}
    images = {"validation": val_images, "test": run.test_images}
    configs = {"validation": chosen_under, "test": cfg}
    counts = {"validation": dict(made.get(kind, {})), "test": {}}
    for split, have in counts.items():
        missing = [lv for lv in levels if lv not in have]
        have |= model_sweeps(configs[split], run.task.reconstruct, images[split], kind, missing, seeds[split],
                             run.device) if missing else {}
    sweeps = {split: {lv: sweep_scores(counts[split][lv], THRESHOLDS, len(images[split])) for lv in levels}
              for split in seeds}
    table = []
    for p in points:
        for lv in levels:
            at = {split: min(sweeps[split][lv], key=lambda r: abs(r["threshold"] - p["threshold"])) for split in seeds}
            table.append({"point": p["point"], "rule": p["rule"], "met_on_validation": p["met"], "noise": kind,
                          "level": lv, "threshold": p["threshold"]}
                         | {f"{split}_{k}": at[split][k] for split in seeds
                            for k in ("precision", "recall", "recall_visible", "hidden_ink", "specificity",
                                      "ablation_efficiency")})
    out = run.run_dir / "reports"
    write_json(out / "operating_points.json", {"points": table, "sweeps": sweeps})
    path = operating_points_figure(sweeps, points, out / "operating_points.png", noise=kind,
                                   title=f"{run.title().replace(', test digits', '')}: operating points "
                                         f"(chosen on validation)")
    return path, table
