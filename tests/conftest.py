"""Shared fixtures: the embedded MNIST digits (loaded once per session), a small seeded batch
of real digits as float images, and a fixed torch seed for every test."""

from __future__ import annotations

import pytest
import torch

from mnistmax.data.sources import DataBundle, load_embedded

DIGITS_PER_CLASS = 4  # the `digits` batch: 4 real digits of each class, 40 in all


@pytest.fixture(autouse=True)
def _seed_torch():
    """Every test starts from the same global RNG state."""
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def embedded() -> DataBundle:
    """The 5,000 embedded MNIST digits (uint8 (N, 28, 28), int64 labels); loaded once."""
    return load_embedded()


@pytest.fixture(scope="session")
def _digits_cache(embedded) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1234)
    picks = []
    for cls in range(10):
        idx = torch.nonzero(embedded.train_labels == cls).flatten()
        picks.append(idx[torch.randperm(len(idx), generator=generator)[:DIGITS_PER_CLASS]])
    idx = torch.cat(picks)
    images = embedded.train_images[idx].unsqueeze(1).float() / 255.0
    return images, embedded.train_labels[idx]


@pytest.fixture
def digits(_digits_cache) -> torch.Tensor:
    """(40, 1, 28, 28) float32 real digits in [0, 1], 4 per class; a fresh copy per test."""
    return _digits_cache[0].clone()


@pytest.fixture
def digit_labels(_digits_cache) -> torch.Tensor:
    """The labels of `digits`, (40,) int64."""
    return _digits_cache[1].clone()
