"""The noise registry: every kind by name, `apply_noise`, and the training-level sampler.

Every function takes `images` (B, 1, H, W) in [0, 1] on any device, a `level` in [0, 1]
(a float, or a (B,) tensor for one level per image) and an optional `torch.Generator` on
the images' device, and returns a new tensor; level 0 returns the input unchanged and
level 1 is the strongest corruption of that kind. Names come from here alone: the config
validators and `--help` texts read NOISE_KINDS.
"""

from __future__ import annotations

from typing import Callable

import torch

from mnistmax.data.noise.additive import ADDITIVE_FUNCTIONS
from mnistmax.data.noise.destructive import DESTRUCTIVE_FUNCTIONS
from mnistmax.data.noise.masks import Level

NOISE_FUNCTIONS: dict[str, Callable[..., torch.Tensor]] = {**DESTRUCTIVE_FUNCTIONS, **ADDITIVE_FUNCTIONS}
NOISE_KINDS: tuple[str, ...] = tuple(NOISE_FUNCTIONS)
ADDITIVE_KINDS: tuple[str, ...] = tuple(ADDITIVE_FUNCTIONS)


def check_noise_kind(kind: str) -> str:
    if kind not in NOISE_FUNCTIONS:
        raise ValueError(f"unknown noise kind {kind!r}; valid: {', '.join(NOISE_KINDS)}")
    return kind


def apply_noise(kind: str, images: torch.Tensor, level: Level, generator=None, clip: bool = True) -> torch.Tensor:
    return NOISE_FUNCTIONS[check_noise_kind(kind)](images, level, generator=generator, clip=clip)


def sample_levels(
    n: int,
    choices: list[float] | None = None,
    level_range: tuple[float, float] | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """One training level per image: uniform in `level_range` when given, else drawn from `choices`."""
    if level_range is not None:
        low, high = level_range
        return low + (high - low) * torch.rand(n, generator=generator, device=device)
    table = torch.tensor(choices, device=device, dtype=torch.float32)
    index = torch.randint(len(choices), (n,), generator=generator, device=device)
    return table[index]


VIZ_SEED = 20240


def fixed_noise(clean: torch.Tensor, kind: str, sigma: float, clip: bool = True, seed: int = VIZ_SEED) -> torch.Tensor:
    """The same noise for the same digits every time (pictures): seeded by `seed` and the level."""
    generator = torch.Generator(device=clean.device).manual_seed(seed + int(round(sigma * 1000)))
    return apply_noise(kind, clean, sigma, generator=generator, clip=clip)
