"""mnistmax.data.splits: deterministic, class-stratified splits and subsets."""

from __future__ import annotations

import pytest
import torch

from mnistmax.data.splits import stratified_split, stratified_subset


def uneven_labels() -> torch.Tensor:
    """Classes of very different sizes, shuffled: 0 x 200, 1 x 57, 2 x 10, 3 x 3, 4 x 2."""
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate([200, 57, 10, 3, 2])])
    return labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))]


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5])
def test_split_disjoint_covering_and_stratified(fraction):
    labels = uneven_labels()
    kept, held = stratified_split(labels, fraction, seed=3)
    assert kept.dtype == torch.int64 and held.dtype == torch.int64
    assert set(kept.tolist()).isdisjoint(held.tolist())
    assert sorted(kept.tolist() + held.tolist()) == list(range(len(labels)))
    assert torch.equal(kept, kept.sort().values) and torch.equal(held, held.sort().values)
    assert len(held) == round(fraction * len(labels))
    for cls in torch.unique(labels).tolist():
        n = int((labels == cls).sum())
        n_held = int((labels[held] == cls).sum())
        assert abs(n_held - fraction * n) <= 1, (cls, n, n_held)


def test_split_exact_counts_on_embedded(embedded):
    kept, held = stratified_split(embedded.train_labels, 0.1, seed=0)
    assert len(held) == 500 and len(kept) == 4500
    assert torch.bincount(embedded.train_labels[held]).tolist() == [50] * 10


def test_split_same_seed_same_split_different_seed_different():
    labels = uneven_labels()
    a = stratified_split(labels, 0.2, seed=5)
    b = stratified_split(labels, 0.2, seed=5)
    c = stratified_split(labels, 0.2, seed=6)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])


def test_split_does_not_touch_global_rng():
    labels = uneven_labels()
    torch.manual_seed(1)
    a = stratified_split(labels, 0.2, seed=5)
    torch.manual_seed(2)
    b = stratified_split(labels, 0.2, seed=5)
    assert torch.equal(a[1], b[1])


def test_subset_is_class_balanced():
    labels = torch.arange(10).repeat_interleave(400)
    idx = stratified_subset(labels, 1000, seed=0)
    assert len(idx) == 1000 and len(set(idx.tolist())) == 1000
    assert torch.bincount(labels[idx]).tolist() == [100] * 10


def test_subset_larger_than_data_is_everything():
    labels = torch.arange(10).repeat_interleave(3)
    assert torch.equal(stratified_subset(labels, 30, seed=0), torch.arange(30))
    assert torch.equal(stratified_subset(labels, 500, seed=0), torch.arange(30))


def test_subset_deterministic():
    labels = torch.arange(10).repeat_interleave(400)
    assert torch.equal(stratified_subset(labels, 300, 1), stratified_subset(labels, 300, 1))
    assert not torch.equal(stratified_subset(labels, 300, 1), stratified_subset(labels, 300, 2))


@pytest.mark.parametrize("size", [5, 15, 25, 105, 999])
def test_subset_has_exactly_size_items_balanced_over_classes(size):
    """10 classes of 405, the train split of the embedded digits: every size is met exactly
    and each class contributes size/10 items, give or take one."""
    labels = torch.arange(10).repeat_interleave(405)
    idx = stratified_subset(labels, size, seed=0)
    assert len(idx) == size and len(set(idx.tolist())) == size
    counts = torch.bincount(labels[idx], minlength=10)
    assert (counts - size / 10).abs().max() < 1
