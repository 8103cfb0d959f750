"""Embedding metrics: near-perfect on well-separated clusters, near chance on random labels;
the CLI train -> probe -> embed round trip."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from mnistmax.cli import app
from mnistmax.eval.embeddings import few_shot_indices, linear_probe_accuracy
from mnistmax.eval.metrics import clustering_scores, knn_accuracy, retrieval_metrics
from tests.helpers import TINY_ANY


def clusters(n_per_class=40, spread=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(10, 24, generator=g) * 3
    y = torch.arange(10).repeat(n_per_class)
    return centres[y] + spread * torch.randn(len(y), 24, generator=g), y


def test_separated_clusters_score_near_perfect():
    z, y = clusters()
    g = torch.Generator().manual_seed(9)
    zt, yt = z + 0.3 * torch.randn(z.shape, generator=g), y  # same centres, fresh noise
    assert linear_probe_accuracy(z, y, zt, yt) > 0.99
    assert knn_accuracy(z, y, zt, yt) > 0.99
    scores = clustering_scores(z, y)
    assert scores["nmi"] > 0.95 and scores["ari"] > 0.9
    r = retrieval_metrics(z, y)
    assert r["precision_at_1"] > 0.99 and r["map_at_r"] > 0.95


def test_random_labels_score_near_chance():
    z, _ = clusters()
    y = torch.randint(0, 10, (len(z),), generator=torch.Generator().manual_seed(5))
    assert knn_accuracy(z[:300], y[:300], z[300:], y[300:]) < 0.25
    assert linear_probe_accuracy(z[:300], y[:300], z[300:], y[300:]) < 0.3
    assert clustering_scores(z, y)["nmi"] < 0.1
    assert retrieval_metrics(z, y)["map_at_r"] < 0.2


def brute_force_retrieval(z, y):
    """precision@1 and MAP@R from the whole N x N similarity matrix (the definition)."""
    z = torch.nn.functional.normalize(z.float(), dim=1)
    sim = z @ z.T
    sim.fill_diagonal_(float("-inf"))
    p1, ap = [], []
    for i in range(len(z)):
        r = int((y == y[i]).sum()) - 1
        hits = (y[sim[i].topk(r).indices] == y[i]).float()
        p1.append(hits[0])
        ap.append((hits.cumsum(0) / torch.arange(1, r + 1) * hits).sum() / r)
    return torch.stack(p1).mean().item(), torch.stack(ap).mean().item()


def test_retrieval_in_chunks_matches_the_whole_matrix():
    z, y = clusters(n_per_class=12, spread=2.0)  # overlapping clusters: imperfect retrieval
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(3))  # classes mixed across chunks
    z, y = z[order], y[order]
    p1, map_r = brute_force_retrieval(z, y)
    assert 0.05 < map_r < 0.95
    for chunk_items in (2**24, 7 * len(z), len(z)):  # one chunk, 7 queries a chunk, one query a chunk
        r = retrieval_metrics(z, y, chunk_items=chunk_items)
        assert r["precision_at_1"] == pytest.approx(p1, abs=1e-6) and r["map_at_r"] == pytest.approx(map_r, abs=1e-6)


def test_clustering_without_labels_gives_only_a_silhouette():
    z, y = clusters()
    scores = clustering_scores(z, None)
    assert set(scores) == {"silhouette"} and scores["silhouette"] > 0.5
    assert clustering_scores(torch.randn(400, 24), None)["silhouette"] < scores["silhouette"]


def test_few_shot_indices_take_k_per_class():
    y = torch.arange(10).repeat(20)
    idx = few_shot_indices(y, 5, seed=0)
    assert len(idx) == 50 and torch.bincount(y[idx]).tolist() == [5] * 10


@pytest.mark.parametrize("loss", ["ntxent", "triplet"])
def test_train_probe_embed_round_trip(tmp_path, loss):
    runner = CliRunner()
    result = runner.invoke(app, ["train", "-c", "configs/contrastive.yaml", *TINY_ANY, "data.batch_size=64",
                                 f"contrastive.loss={loss}", "viz.enabled=true", f"logging.output_dir={tmp_path}"])
    assert result.exit_code == 0, result.output
    run = next((tmp_path / "runs").iterdir())
    assert (run / "animations" / "clustering.gif").is_file()
    result = runner.invoke(app, ["probe", str(run)])
    assert result.exit_code == 0, result.output
    rows = json.loads((run / "eval" / "probe.json").read_text())
    methods = [r["method"] for r in rows]
    assert methods[0] == "simple_cnn" and "raw pixels" in methods and "simple_cnn 5-shot" in methods
    assert 0.1 < rows[0]["linear_probe"] <= 1 and 0 <= rows[0]["nmi"] <= 1
    out = tmp_path / "reps.npz"
    assert runner.invoke(app, ["embed", str(run), "--output", str(out)]).exit_code == 0
    data = np.load(out)
    assert data["embeddings"].shape == (192 + 450 + 40, 128)
    assert set(data["split"]) == {"train", "val", "test"} and len(data["labels"]) == len(data["split"])
    evaluated = runner.invoke(app, ["eval", str(run)])  # an encoder's evaluation is the probe
    assert evaluated.exit_code == 0 and "wrote" in evaluated.output and "probe.json" in evaluated.output
    assert json.loads((run / "eval" / "probe.json").read_text()) == rows
    refused = runner.invoke(app, ["viz", "sigma-panel", str(run)])  # a denoiser's picture refuses, naming who can
    assert refused.exit_code == 1 and "needs a run whose task can denoise (denoise)" in refused.output
    refused = runner.invoke(app, ["viz", "recon-grid", str(run)])  # so does a reconstruction grid
    assert refused.exit_code == 1 and "needs a run whose task can reconstruct (" in refused.output


def test_bootstrap_intervals_cover_the_mean_repeat_and_shrink_with_more_items():
    from mnistmax.eval.metrics import bootstrap_ci

    g = torch.Generator().manual_seed(0)
    small, large = torch.rand(100, generator=g), torch.rand(10_000, generator=g)
    low, high = bootstrap_ci(small, seed=1)
    assert low < small.mean().item() < high and bootstrap_ci(small, seed=1) == (low, high)
    big_low, big_high = bootstrap_ci(large, seed=1)
    assert big_low < large.mean().item() < big_high and (big_high - big_low) < (high - low) / 5  # ~ 1/sqrt(n)
    hits = (torch.rand(2000, generator=g) < 0.9).float()  # a 90 % accuracy: the interval is about +-1.3 points
    low, high = bootstrap_ci(hits)
    assert 0.010 < (high - low) / 2 < 0.016
