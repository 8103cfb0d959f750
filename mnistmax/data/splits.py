"""Deterministic, class-stratified splits (pure functions of labels and a seed)."""

from __future__ import annotations

import torch


def _held_counts(class_sizes: list[int], total: int) -> list[int]:
    """Per-class counts proportional to class size that add up to exactly `total`
    (largest-remainder rounding)."""
    n = sum(class_sizes)
    ideal = [total * size / n for size in class_sizes]
    counts = [int(x) for x in ideal]
    by_remainder = sorted(range(len(ideal)), key=lambda i: (counts[i] - ideal[i], i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def stratified_split(labels: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split indices into (kept, held_out): round(fraction * N) items held out, every class
    contributing in proportion to its size. The same labels and seed give the same split."""
    generator = torch.Generator().manual_seed(seed)
    classes = torch.unique(labels).tolist()
    members = [torch.nonzero(labels == c).flatten() for c in classes]
    counts = _held_counts([len(m) for m in members], int(round(fraction * len(labels))))
    kept, held = [], []
    for idx, n_held in zip(members, counts):
        idx = idx[torch.randperm(len(idx), generator=generator)]
        held.append(idx[:n_held])
        kept.append(idx[n_held:])
    return torch.cat(kept).sort().values, torch.cat(held).sort().values


def stratified_subset(labels: torch.Tensor, size: int, seed: int) -> torch.Tensor:
    """Indices of exactly `size` items, class-balanced (all indices when size >= N)."""
    if size >= len(labels):
        return torch.arange(len(labels))
    _, held = stratified_split(labels, size / len(labels), seed)
    return held


def stratified_kfold(labels: torch.Tensor, folds: int, seed: int) -> torch.Tensor:
    """A fold id in [0, folds) for every item: each class is shuffled (seeded) and dealt
    round-robin, so every fold holds about 1/folds of every class."""
    generator = torch.Generator().manual_seed(seed)
    fold = torch.empty(len(labels), dtype=torch.long)
    offset = 0
    for cls in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == cls).flatten()
        idx = idx[torch.randperm(len(idx), generator=generator)]
        fold[idx] = (torch.arange(len(idx)) + offset) % folds
        offset += len(idx)  # continue the deal where the last class stopped: folds stay equal in size
    return fold


def select_digits(labels: torch.Tensor, n: int) -> torch.Tensor:
    """Indices of n items cycling through the classes: the first 0, the first 1, ..., then
    the second 0, and so on."""
    per_class = [torch.nonzero(labels == c).flatten().tolist() for c in sorted(set(labels.tolist()))]
    rounds = max(len(p) for p in per_class)
    order = [p[r] for r in range(rounds) for p in per_class if r < len(p)]
    return torch.tensor(order[:n], dtype=torch.long)
