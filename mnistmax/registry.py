"""One registry for every network: `@register_model`, `create_model`, `list_models`.

Importing `mnistmax.models` registers everything (like timm). Each entry records the task
family it serves (`denoise`, `encoder`, ...), so configs and tests can select by family.
"""

from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass
from typing import Callable

import torch.nn as nn


@dataclass(frozen=True)
class ModelEntry:
    name: str
    family: str
    factory: Callable[..., nn.Module]

    def accepted_kwargs(self) -> set[str]:
        return keyword_names(self.factory)


def keyword_names(fn: Callable) -> set[str]:
    """Names `fn` takes as keyword arguments."""
    params = inspect.signature(fn).parameters.values()
    return {p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


def accepted_options(fn: Callable, options: dict) -> dict:
    """Those of `options` that `fn` takes, so one config section can serve callables with different knobs."""
    names = keyword_names(fn)
    return {k: v for k, v in options.items() if k in names}


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str, family: str = "denoise"):
    """Decorator: register a class or factory under `name` (warns when a name is reused)."""

    def decorator(factory):
        if name in _REGISTRY:
            warnings.warn(f"model {name!r} is registered twice; the later one wins", stacklevel=2)
        _REGISTRY[name] = ModelEntry(name, family, factory)
        return factory

    return decorator


def _ensure_loaded() -> None:
    import mnistmax.models  # noqa: F401  (registers every network)


def list_models(family: str | None = None) -> list[str]:
    _ensure_loaded()
    return sorted(n for n, e in _REGISTRY.items() if family is None or e.family == family)


def get_entry(name: str) -> ModelEntry:
    _ensure_loaded()
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; valid: {', '.join(list_models())}")
    return _REGISTRY[name]


def create_model(name: str, **kwargs) -> nn.Module:
    """Build a registered network. Keyword arguments it does not take are ignored, so one
    `model:` config section can serve networks with different knobs."""
    entry = get_entry(name)
    return entry.factory(**accepted_options(entry.factory, kwargs))


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
