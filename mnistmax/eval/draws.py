"""The noisy test (and validation) batches evaluation draws, repeatable under a seed, and the
CPU forward chunking every evaluation shares."""

from __future__ import annotations

from typing import Callable

import torch

from mnistmax.config import RunConfig
from mnistmax.data.datamodule import clean_images
from mnistmax.data.noise import ADDITIVE_KINDS, apply_noise

CPU_FORWARD_CHUNK = 250  # images per forward pass on the CPU (docs/PERFORMANCE.md, Evaluation)


def in_chunks(method: Callable[[torch.Tensor], torch.Tensor], chunk: int | None) -> Callable:
    """`method` applied to slices of at most `chunk` images, outputs concatenated. On the CPU a
    large batch is slower than a few smaller ones: activations above glibc's 32 MB reuse limit
    are mapped afresh every layer. Noise and metrics keep eval.batch_size, so the numbers do
    not depend on the chunk."""
    if chunk is None:
        return method
    return lambda x: torch.cat([method(part) for part in x.split(chunk)]) if len(x) > chunk else method(x)


def noisy_test_batches(images: torch.Tensor, kind: str, sigma: float, cfg: RunConfig, device):
    """Yield (noisy, clean) batches; the noise depends only on (eval.seed, kind, sigma, batch)."""
    for noisy, clean, _ in noisy_batches(images, kind, sigma, cfg, device, with_added=False):
        yield noisy, clean


def noisy_batches(images: torch.Tensor, kind: str, sigma: float, cfg: RunConfig, device, seed: int | None = None,
                  with_added: bool = True):
    """Yield (noisy, clean, added) batches, the noise drawn from `seed` (default eval.seed), kind,
    sigma and the batch. `added` is the ink an additive kind added (None for other kinds, or
    without `with_added`): the
    same draw on a blank image, since additive noise is max(clean, ink) with ink independent of
    the image (tests/data/noise check it for every additive kind). The noise is drawn on the
    CPU and the batches moved to `device`: a model scored on a GPU sees the same noisy digits."""
    bs = cfg.eval.batch_size
    base = cfg.eval.seed if seed is None else seed
    for i in range(0, len(images), bs):
        clean = clean_images(images[i : i + bs], cfg).cpu()
        draw = lambda x: apply_noise(kind, x, sigma, clip=cfg.noise.clip, **cfg.noise.options(),  # noqa: E731
                                     generator=torch.Generator().manual_seed(_seed(base, kind, sigma, i)))
        added = draw(torch.zeros_like(clean)) if with_added and kind in ADDITIVE_KINDS else None
        yield draw(clean).to(device), clean.to(device), (None if added is None else added.to(device))


def _seed(base: int, kind: str, sigma: float, offset: int) -> int:
    kind_id = sum((i + 1) * ord(c) for i, c in enumerate(kind))
    return (base * 1_000_003 + kind_id * 10_007 + int(round(sigma * 1000)) * 101 + offset) % 2**62
