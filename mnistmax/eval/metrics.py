"""Image-quality metrics (torchmetrics first). Images are (B, 1, H, W) in [0, 1]."""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

MAX_PSNR = 100.0  # dB reported for an exact reconstruction (MSE 0)
METRIC_KEYS = ("mse", "psnr", "ssim")  # the per-image metrics of image_metrics()


def bootstrap_ci(values: torch.Tensor, seed: int = 0, resamples: int = 1000,
                 level: float = 0.95) -> tuple[float, float]:
    """A percentile-bootstrap interval for the mean of per-item `values` (PSNR per image, 1/0 for
    a correct prediction): `resamples` resamples of the items with replacement, seeded, so the
    interval repeats run after run."""
    v = values.detach().double().flatten().cpu()
    if len(v) < 2:
        mean = float(v.mean()) if len(v) else float("nan")
        return mean, mean
    generator = torch.Generator().manual_seed(seed)
    means = torch.cat([v[torch.randint(len(v), (min(100, resamples - i), len(v)), generator=generator)].mean(1)
                       for i in range(0, resamples, 100)])
    low, high = torch.quantile(means, torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=means.dtype)).tolist()
    return round(low, 6), round(high, 6)


def with_ci(row: dict, key: str, values: torch.Tensor, seed: int = 0) -> dict:
    """`row` with `<key>_ci95_lo` / `<key>_ci95_hi`: the 95 % bootstrap interval over the items."""
    low, high = bootstrap_ci(values, seed)
    return row | {f"{key}_ci95_lo": low, f"{key}_ci95_hi": high}


def per_image_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred.float() - target.float()).pow(2).flatten(1).mean(dim=1)


def per_image_psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """PSNR of each image, data range 1, capped at MAX_PSNR for exact matches. (B,)"""
    psnr = peak_signal_noise_ratio(
        pred.float(), target.float(), data_range=1.0, reduction="none", dim=(1, 2, 3)
    )
    return psnr.clamp(max=MAX_PSNR)


def per_image_ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SSIM of each image (Gaussian window 11, σ 1.5, data range 1). (B,)"""
    return structural_similarity_index_measure(pred.float(), target.float(), data_range=1.0, reduction="none")


def image_metrics(pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-image MSE, PSNR and SSIM, each a (B,) tensor."""
    return {"mse": per_image_mse(pred, target), "psnr": per_image_psnr(pred, target),
            "ssim": per_image_ssim(pred, target)}


class LPIPSUnavailable(RuntimeError):
    """LPIPS could not be set up (its backbone weights are downloaded at run time)."""


def make_lpips(device: torch.device | str = "cpu", grad: bool = False, instead: str = "leave --lpips off"):
    """A function (pred, target) -> (B,) LPIPS distances, or LPIPSUnavailable with one line.
    grad=True: differentiable in pred (a loss); the network itself stays frozen."""
    try:
        from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

        # torch.hub's "Downloading: ..." line (stdout or stderr, by version)
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            metric = LearnedPerceptualImagePatchSimilarity(net_type="alex", reduction="mean", normalize=True)
        metric = metric.to(device)
    except Exception as exc:  # weights download fails offline, or the lpips package is missing
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LPIPSUnavailable(
            f"LPIPS unavailable: its AlexNet backbone weights could not be loaded ({reason[:160]}); "
            f"run once while online to cache them, or {instead}"
        ) from None
    net = metric.net.eval()
    for p in net.parameters():
        p.requires_grad_(False)

    def lpips(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        to3 = lambda x: x.float().expand(-1, 3, -1, -1) * 2 - 1  # noqa: E731  [0,1] gray -> [-1,1] RGB
        with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
            return net(to3(pred), to3(target)).flatten()

    return lpips


# ---------------------------------------------------------------- bitmaps and ablation

COUNT_KEYS = ("tp", "fp", "fn", "tn", "noise", "noise_removed", "signal", "signal_kept")


def binary_counts(output: torch.Tensor, noisy: torch.Tensor, clean: torch.Tensor, threshold: float = 0.5) -> dict:
    """Pixel counts (summed over the batch) after thresholding all three images:
    tp/fp/fn/tn of output vs clean, `noise` = pixels on in noisy but off in clean,
    `noise_removed` = those the output turned off, `signal` = clean on-pixels,
    `signal_kept` = those still on in the output."""
    return dict(zip(COUNT_KEYS, binary_count_tensor(output, noisy, clean, threshold).tolist()))


def _ratio(num: float, den: float) -> float:
    return float(num) / den if den else float("nan")


def binary_scores(counts: dict, n_images: int) -> dict[str, float]:
    """Bitmap and ablation scores pooled over all pixels of all images (micro average)."""
    tp, fp, fn, tn = (counts[k] for k in ("tp", "fp", "fn", "tn"))
    return {
        "accuracy": _ratio(tp + tn, tp + fp + fn + tn),
        "dice": _ratio(2 * tp, 2 * tp + fp + fn),
        "iou": _ratio(tp, tp + fp + fn),
        "hamming": _ratio(fp + fn, n_images),  # wrong pixels per image
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "fpr": _ratio(fp, fp + tn),
        "ablation_efficiency": _ratio(counts["noise_removed"], counts["noise"]),
        "pixel_conservation": _ratio(counts["signal_kept"], counts["signal"]),
    }


def binary_count_tensor(output: torch.Tensor, noisy: torch.Tensor, clean: torch.Tensor,
                        threshold: float = 0.5) -> torch.Tensor:
    """binary_counts as one int64 tensor in COUNT_KEYS order, left on the images' device: a
    training loop adds it up batch by batch without waiting for the device. (len(COUNT_KEYS),)"""
    out, noisy_on, sig = output > threshold, noisy > threshold, clean > threshold
    noise = noisy_on & ~sig
    masks = (out & sig, out & ~sig, ~out & sig, ~out & ~sig, noise, noise & ~out, sig, sig & out)
    return torch.stack([m.sum() for m in masks]).long()


def summed_binary_scores(counts: torch.Tensor, n_images: int = 0) -> dict[str, float]:
    """binary_scores of count tensors (..., len(COUNT_KEYS)) summed over every leading dim
    (batches, processes): ratios of the summed counts, not means of per-batch ratios
    (`hamming` needs n_images; it is NaN without)."""
    total = counts.reshape(-1, len(COUNT_KEYS)).sum(dim=0)
    return binary_scores(dict(zip(COUNT_KEYS, total.tolist())), n_images)


# ---------------------------------------------------------------- embeddings


def knn_accuracy(train_z, train_y, test_z, test_y, k: int = 20, temperature: float = 0.07,
                 per_item: bool = False):
    """Weighted kNN (cosine similarity, weights exp(sim / T), as in InstDisc / DINO); `per_item`:
    the 1/0 correctness of every test item instead of the mean."""
    train_z, test_z = torch.nn.functional.normalize(train_z.float(),
                                                    dim=1), torch.nn.functional.normalize(test_z.float(), dim=1)
    n_classes = int(max(train_y.max(), test_y.max())) + 1
    correct = []
    for i in range(0, len(test_z), 1000):
        sim = test_z[i : i + 1000] @ train_z.T  # (b, N)
        top_sim, top_idx = sim.topk(min(k, len(train_z)), dim=1)
        votes = torch.zeros(len(sim), n_classes).scatter_add_(1, train_y[top_idx], (top_sim / temperature).exp())
        correct.append((votes.argmax(1) == test_y[i : i + 1000]).float())
    correct = torch.cat(correct)
    return correct if per_item else correct.mean().item()


def retrieval_metrics(z: torch.Tensor, y: torch.Tensor, chunk_items: int = 2**24) -> dict[str, float]:
    """Leave-one-out retrieval inside one set (cosine): precision@1 and MAP@R, where R is the
    number of other items of the query's class (Musgrave et al., 2020). The queries go in
    chunks of about `chunk_items` similarities (64 MB), so memory stays flat in N: never an
    N x N matrix (14 GB at 60,000 items)."""
    z = torch.nn.functional.normalize(z.float(), dim=1)
    counts = torch.bincount(y)
    r_all = counts[y] - 1  # (N,)
    r_max = int(r_all.max())
    if r_max == 0:
        return {"precision_at_1": 0.0, "map_at_r": 0.0}
    rows = max(1, chunk_items // len(z))
    first_hits, ap = [], []
    ranks = torch.arange(1, r_max + 1).view(1, -1)
    for start in range(0, len(z), rows):
        q = slice(start, start + rows)
        sim = z[q] @ z.T  # (rows, N)
        sim[torch.arange(sim.shape[0]), torch.arange(start, start + sim.shape[0])] = float("-inf")
        order = sim.topk(r_max, dim=1).indices  # (rows, r_max)
        r = r_all[q]
        hits = (y[order] == y[q].view(-1, 1)).float() * (ranks <= r.view(-1, 1))
        precision_at_i = hits.cumsum(1) / ranks
        first_hits.append(hits[:, 0])
        ap.append((precision_at_i * hits).sum(1) / r.clamp(min=1).float())
    return {"precision_at_1": torch.cat(first_hits).mean().item(), "map_at_r": torch.cat(ap).mean().item()}


def clustering_scores(z: torch.Tensor, y: torch.Tensor | None, n_clusters: int | None = None, seed: int = 0,
                      silhouette_items: int = 5000) -> dict[str, float]:
    """k-means (scikit-learn; k = the number of classes in `y`, else `n_clusters`, default 10) on
    L2-normalised embeddings: its silhouette (cosine, on a seeded sample of `silhouette_items`),
    which needs no labels, and, with labels, torchmetrics' NMI and ARI against them."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    from torchmetrics.functional.clustering import adjusted_rand_score, normalized_mutual_info_score

    k = n_clusters or (len(torch.unique(y)) if y is not None else 10)
    k = max(1, min(k, len(z) - 1))  # a test set smaller than the class count: fewer clusters
    z = torch.nn.functional.normalize(z.float(), dim=1).numpy()
    pred = KMeans(k, n_init=10, random_state=seed).fit_predict(z)
    n = min(silhouette_items, len(z))
    scores = {"silhouette": float(silhouette_score(z, pred, metric="cosine", random_state=seed, sample_size=n))
              if 1 < len(np.unique(pred)) < n else 0.0}  # one cluster (collapsed embeddings): no structure
    if y is None:
        return scores
    pred = torch.from_numpy(pred).long()
    with warnings.catch_warnings():  # torchmetrics builds a sparse contingency table
        warnings.filterwarnings("ignore", message=".*Sparse invariant checks.*")
        return {"nmi": normalized_mutual_info_score(pred, y).item(), "ari": adjusted_rand_score(pred, y).item(),
                **scores}
