"""Report sections of encoder runs (embedding quality, embeddings, clustering GIF), and what
`mnistmax report` makes first when it is missing."""

from __future__ import annotations

import html
import json
from pathlib import Path

from mnistmax.report.autoencoder import transfer_table
from mnistmax.report.html import figure_section


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


SECTIONS = [
    probe_table,
    transfer_table,
    figure_section("Test embeddings: PCA", "grids/embeddings_pca.png"),
    figure_section("Test embeddings: t-SNE", "grids/embeddings_tsne.png"),
    figure_section("Test embeddings: UMAP", "grids/embeddings_umap.png"),
    figure_section("Clustering, epoch by epoch", "animations/clustering.gif",
                   note="PCA of 25 fixed validation digits per class after each epoch."),
]


def prepare(run_dir: Path, task, load, warn=print) -> None:
    """Probe the embeddings and draw them when they are missing (`task`: the run's task class,
    `load()`: the loaded run)."""
    from mnistmax.viz import commands

    has_probe = (run_dir / "eval" / "probe.json").is_file()
    has_plots = (run_dir / "grids" / "embeddings_tsne.png").is_file()
    if has_probe and has_plots:
        return
    run = load()
    if not has_probe:
        from mnistmax.eval.embeddings import probe_run

        probe_run(run)
    if not has_plots:
        commands.embedding_plots(run)
