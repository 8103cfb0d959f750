"""The noise registry: every kind by name, `apply_noise`, and the training-level sampler.

Every function takes `images` (B, 1, H, W) in [0, 1] on any device, a `level` in [0, 1]
(a float, or a (B,) tensor for one level per image) and an optional `torch.Generator` on
the images' device, and returns a new tensor; level 0 returns the input unchanged and
level 1 is the strongest corruption of that kind. Names come from here alone: the config
validators and `--help` texts read NOISE_KINDS.
"""

from __future__ import annotations

import functools
import inspect
import typing
from typing import Any, Callable

import torch
from pydantic import ConfigDict, ValidationError, create_model

from mnistmax.data.noise.additive import ADD_MIX, ADDITIVE_FUNCTIONS
from mnistmax.data.noise.destructive import DESTRUCTIVE_FUNCTIONS, MIX
from mnistmax.data.noise.masks import Level, mix
from mnistmax.registry import Registry

NOISE_FUNCTIONS: dict[str, Callable[..., torch.Tensor]] = {**DESTRUCTIVE_FUNCTIONS, **ADDITIVE_FUNCTIONS}
NOISE: Registry[Callable[..., torch.Tensor]] = Registry("noise kind", ordered=True)
for _kind, _fn in NOISE_FUNCTIONS.items():
    NOISE.register(_kind, _fn)
NOISE_KINDS: tuple[str, ...] = tuple(NOISE)
MAX_LEVEL: dict[str, float] = {"gaussian": 2.0}  # σ of gaussian noise may pass 1 (std of the noise); others stop at 1
ADDITIVE_KINDS: tuple[str, ...] = tuple(ADDITIVE_FUNCTIONS)
MIXTURES: dict[str, tuple[str, ...]] = {"mixed": MIX, "add_mixed": ADD_MIX}  # kind -> the kinds it draws from

# Named noise settings (noise.preset): one table, printed in the README. A preset fills the noise
# keys a config leaves out; keys the config sets win.
PRESETS: dict[str, dict[str, Any]] = {
    "mild": {"train_sigma_range": [0.0, 0.4], "test_sigmas": [0.1, 0.2, 0.3, 0.4], "kinds_per_image": 1},
    "default": {"train_sigma_range": [0.0, 1.0], "test_sigmas": [0.1, 0.2, 0.3, 0.5, 0.7, 1.0], "kinds_per_image": 1},
    "aggressive": {"train_sigma_range": [0.3, 1.0], "test_sigmas": [0.5, 0.7, 0.9, 1.0], "kinds_per_image": 2,
                   "params": {"lines": {"max_lines": 8, "width": [1.0, 3.0]}, "blocks": {"size_range": [5.0, 12.0]},
                              "add_lines": {"max_lines": 7, "width": [1.0, 3.0]},
                              "add_blocks": {"max_blocks": 6, "size_range": [4.0, 9.0]}}},
}


def check_noise_kind(kind: str) -> str:
    return NOISE.check(kind)


def max_level(kind: str) -> float:
    """The highest level `kind` takes (analyses may go past the configs' [0, 1])."""
    return MAX_LEVEL.get(kind, 1.0)


@functools.lru_cache(maxsize=None)
def _params_model(kind: str):
    """A pydantic model of the kind's parameters: its keyword-only arguments, annotations and defaults."""
    fn = NOISE_FUNCTIONS[kind]
    hints = typing.get_type_hints(fn, include_extras=True)
    fields = {p.name: (hints[p.name], p.default) for p in inspect.signature(fn).parameters.values()
              if p.kind == p.KEYWORD_ONLY}
    return create_model(f"{kind}_params", __config__=ConfigDict(extra="forbid", allow_inf_nan=False), **fields)


def noise_params(kind: str) -> dict[str, Any]:
    """{parameter: default} of a noise kind (what noise.params.<kind> may set)."""
    return _params_model(check_noise_kind(kind))().model_dump()


def check_noise_params(kind: str, params: dict) -> dict:
    """`params` for `kind` checked against its function's parameters; ValueError names the key."""
    model = _params_model(check_noise_kind(kind))
    unknown = [k for k in params if k not in model.model_fields]
    if unknown:
        valid = ", ".join(model.model_fields) or "none (it has no parameters)"
        raise ValueError(f"{kind}.{unknown[0]}: {kind} has no such parameter; valid: {valid}")
    try:
        checked = model.model_validate(params).model_dump(include=set(params))
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"] if not isinstance(p, int))
        msg = err['msg'].removeprefix('Value error, ')
        raise ValueError(f"{kind}.{key}: {msg} (got {err.get('input')!r})") from None
    for name in checked.get("kinds", ()):
        if name not in MIXTURES.get(kind, ()):
            raise ValueError(f"{kind}.kinds: {name!r} is not one of {kind}'s kinds: {', '.join(MIXTURES[kind])}")
    return checked


def apply_noise(kind: str, images: torch.Tensor, level: Level, generator=None, clip: bool = True,
                params: dict[str, dict] | None = None, kinds_per_image: int = 1) -> torch.Tensor:
    """`kind`'s noise at `level`. `params`: {kind: {parameter: value}} for this kind and, in a
    mixture (mixed, add_mixed), for its kinds; `kinds_per_image`: how many of a mixture's kinds
    each image gets, one after the other (1: one kind per image)."""
    params = params or {}
    own = params.get(check_noise_kind(kind), {})
    if kind in MIXTURES:
        names = own.get("kinds", MIXTURES[kind])
        parts = [functools.partial(NOISE_FUNCTIONS[k], **params.get(k, {})) if params.get(k) else NOISE_FUNCTIONS[k]
                 for k in names]
        return mix(parts, images, level, generator, clip, min(kinds_per_image, len(parts)))
    return NOISE_FUNCTIONS[kind](images, level, generator=generator, clip=clip, **own)


def sample_levels(
    n: int,
    choices: list[float] | None = None,
    level_range: tuple[float, float] | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    within: tuple[float, float] | None = None,
) -> torch.Tensor:
    """One training level per image: uniform in `level_range` when given, else drawn from `choices`.

    `within` (a curriculum's current range) narrows either: the range is intersected with it;
    only the choices inside it are drawn (the one nearest to it when none is)."""
    if level_range is not None:
        low, high = level_range
        if within is not None:
            low = max(low, within[0])
            high = max(low, min(high, within[1]))
        return low + (high - low) * torch.rand(n, generator=generator, device=device)
    if within is not None:
        inside = [c for c in choices if within[0] - 1e-9 <= c <= within[1] + 1e-9]
        choices = inside or [min(choices, key=lambda c: min(abs(c - within[0]), abs(c - within[1])))]
    table = torch.tensor(choices, device=device, dtype=torch.float32)
    index = torch.randint(len(choices), (n,), generator=generator, device=device)
    return table[index]


SCHEDULES: Registry[Callable[[float, int], float]] = Registry("schedule mode")  # progress, steps -> progress
SCHEDULES.register("linear", lambda progress, steps: progress)
SCHEDULES.register("step", lambda progress, steps: min(1.0, int(progress * steps + 1e-9) / steps))


def curriculum_range(start: tuple[float, float], final: tuple[float, float], epoch: int, epochs: int,
                     mode: str = "linear", ramp: float = 0.5, steps: int = 4) -> tuple[float, float]:
    """The training level range at `epoch` (0-based) of `epochs` planned: `start` at epoch 0,
    `final` from epoch ramp * epochs on; in between each end moves linearly (`linear`), or in
    `steps` equal jumps at equal intervals (`step`)."""
    ramp_epochs = max(1.0, ramp * epochs)
    progress = SCHEDULES.get(mode)(min(1.0, epoch / ramp_epochs), steps)
    return tuple(round(s + progress * (f - s), 6) for s, f in zip(start, final))


VIZ_SEED = 20240


def fixed_noise(clean: torch.Tensor, kind: str, sigma: float, clip: bool = True, seed: int = VIZ_SEED,
                **options) -> torch.Tensor:
    """The same noise for the same digits every time (pictures): seeded by `seed` and the level.
    `options`: apply_noise's params and kinds_per_image."""
    generator = torch.Generator(device=clean.device).manual_seed(seed + int(round(sigma * 1000)))
    return apply_noise(kind, clean, sigma, generator=generator, clip=clip, **options)
