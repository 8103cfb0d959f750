"""How good are an encoder's embeddings (`mnistmax probe`)? Frozen-feature evaluation on the test split:
linear probe, weighted kNN, k-means NMI/ARI, precision@1, MAP@R, few-shot probes, and the
same numbers on raw pixels as a baseline row. Also the `embed` export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mnistmax.config import RunConfig
from mnistmax.data.arrays import is_labelled
from mnistmax.data.datamodule import clean_images
from mnistmax.eval.metrics import clustering_scores, knn_accuracy, retrieval_metrics, with_ci
from mnistmax.files import write_json, write_with
from mnistmax.inference import batched

SHOTS = (1, 5, 10)


def embed_images(task, images: torch.Tensor, cfg: RunConfig, batch_size: int = 1000) -> torch.Tensor:
    """Embeddings (N, D) of uint8 digits (N, 28, 28), on the CPU."""
    return batched(task.embed, clean_images(images, cfg), batch_size, module=task)


def linear_probe_accuracy(train_z, train_y, test_z, test_y, weight_decay: float = 1e-4, steps: int = 100,
                          per_item: bool = False):
    """Multinomial logistic regression on standardised frozen features (full-batch L-BFGS); `per_item`:
    the 1/0 correctness of every test item instead of the mean."""
    mean, std = train_z.mean(0), train_z.std(0).clamp(min=1e-6)
    xtr, xte = (train_z - mean) / std, (test_z - mean) / std
    n_classes = int(max(train_y.max(), test_y.max())) + 1
    layer = torch.nn.Linear(xtr.shape[1], n_classes)
    torch.nn.init.zeros_(layer.weight)  # a convex problem: start from zero, so the result never depends on RNG state
    torch.nn.init.zeros_(layer.bias)
    optimizer = torch.optim.LBFGS(layer.parameters(), lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(layer(xtr), train_y) + weight_decay * layer.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        correct = (layer(xte).argmax(1) == test_y).float()
    return correct if per_item else correct.mean().item()


def few_shot_indices(labels: torch.Tensor, shots: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    picks = [idx[torch.randperm(len(idx), generator=g)[:shots]] for idx in
             (torch.nonzero(labels == c).flatten() for c in torch.unique(labels))]
    return torch.cat(picks)


def score_embeddings(train_z, train_y, test_z, test_y, seed: int = 0) -> dict[str, float]:
    """Linear probe and kNN accuracy (with 95 % bootstrap intervals over the test items), clustering, retrieval."""
    linear = linear_probe_accuracy(train_z, train_y, test_z, test_y, per_item=True)
    knn = knn_accuracy(train_z, train_y, test_z, test_y, k=20, per_item=True)
    row = {"linear_probe": linear.mean().item(), "knn": knn.mean().item()}
    row = with_ci(with_ci(row, "linear_probe", linear, seed), "knn", knn, seed)
    return {**row, **clustering_scores(test_z, test_y, seed=seed), **retrieval_metrics(test_z, test_y)}


def probe_rows(name: str, train_z, train_y, test_z, test_y, seed: int) -> list[dict]:
    rows = [{"method": name, "n_train": len(train_z), "n_test": len(test_z), "classes": len(torch.unique(train_y)),
             **score_embeddings(train_z, train_y, test_z, test_y, seed)}]
    for shots in SHOTS:
        idx = few_shot_indices(train_y, shots, seed)
        acc = linear_probe_accuracy(train_z[idx], train_y[idx], test_z, test_y)
        rows.append({"method": f"{name} {shots}-shot", "n_train": len(idx), "n_test": len(test_z), "linear_probe": acc})
    return rows


def probe_run(run) -> list[dict]:
    """probe_rows_for(run), written to eval/probe.json."""
    rows = probe_rows_for(run)
    write_json(run.run_dir / "eval" / "probe.json", rows)
    return rows


UNLABELLED_SKIPS = "linear probe, kNN, NMI/ARI, precision@1, MAP@R and few-shot probes: the data has no labels"


def unlabelled_rows(name: str, test_z, seed: int) -> list[dict]:
    """What an encoder's embeddings of unlabelled data can be scored on: the k-means clustering's silhouette."""
    return [{"method": name, "n_train": 0, "n_test": len(test_z), **clustering_scores(test_z, None, seed=seed),
             "skipped": UNLABELLED_SKIPS}]


def probe_rows_for(run, warn=print) -> list[dict]:
    """Rows for the encoder (and its few-shot probes) and for raw pixels; on unlabelled data only
    the clustering of the test embeddings, saying what it skipped."""
    run.require("embed", "`mnistmax probe`")
    cfg = run.cfg
    (tr_x, tr_y), (te_x, te_y) = run.splits.train, run.splits.test
    pixels = lambda x: clean_images(x, cfg).flatten(1)  # noqa: E731
    if not (is_labelled(tr_y) and is_labelled(te_y)):
        warn(f"skipped {UNLABELLED_SKIPS}")
        return [*unlabelled_rows(cfg.model.name, embed_images(run.task, te_x, cfg), cfg.seed),
                *unlabelled_rows("raw pixels", pixels(te_x), cfg.seed)]
    rows = probe_rows(cfg.model.name, embed_images(run.task, tr_x, cfg), tr_y, embed_images(run.task, te_x, cfg), te_y,
                      cfg.seed)
    rows += probe_rows("raw pixels", pixels(tr_x), tr_y, pixels(te_x), te_y, cfg.seed)
    return rows


def export_embeddings(run, output: Path) -> Path:
    """embeddings (N, D), labels (N,), split (N,) of 'train' / 'val' / 'test' -> .npz"""
    run.require("embed", "`mnistmax embed`")
    parts = {name: getattr(run.splits, name) for name in ("train", "val", "test")}
    z = torch.cat([embed_images(run.task, x, run.cfg) for x, _ in parts.values()]).numpy()
    y = torch.cat([lab for _, lab in parts.values()]).numpy()
    split = np.concatenate([np.full(len(lab), name) for name, (_, lab) in parts.items()])
    return write_with(output, lambda buf: np.savez(buf, embeddings=z, labels=y, split=split))
