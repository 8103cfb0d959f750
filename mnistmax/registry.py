"""One registry for every network: `@register_model`, `create_model`, `list_models`.

Importing `mnistmax.models` registers everything (like timm). Each entry records the task
family it serves (`denoise`, `encoder`, ...), so configs and tests can select by family.
A network's options are its factory's keyword arguments: `create_model` and the config
refuse any other key, and check each value against the argument's annotation.
"""

from __future__ import annotations

import functools
import inspect
import typing
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import torch.nn as nn
from pydantic import BaseModel, ConfigDict, ValidationError, create_model as create_pydantic_model


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


def _options_model(name: str) -> type[BaseModel]:
    return _factory_options_model(name, get_entry(name).factory)


@functools.lru_cache(maxsize=None)
def _factory_options_model(name: str, factory: Callable) -> type[BaseModel]:
    """A pydantic model of the factory's keyword arguments (annotations and defaults)."""
    base = inspect.unwrap(factory)  # ablation_<name> wraps <name>'s factory
    hints = typing.get_type_hints(base.__init__ if inspect.isclass(base) else base, include_extras=True)
    fields = {p.name: (hints.get(p.name, Any), p.default if p.default is not p.empty else ...)
              for p in inspect.signature(factory).parameters.values()
              if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
    return create_pydantic_model(f"{name}_options", __config__=ConfigDict(extra="forbid", allow_inf_nan=False), **fields)


def model_options(name: str, options: dict) -> dict:
    """Every keyword argument of network `name`: `options` checked against its signature,
    the rest filled with its defaults. ValueError names the key and what is valid."""
    schema = _options_model(name)
    unknown = [k for k in options if k not in schema.model_fields]
    if unknown:
        valid = ", ".join(schema.model_fields) or "none"
        raise ValueError(f"model.{unknown[0]}: {name} has no such argument; valid: name, {valid}")
    try:
        return schema.model_validate(options).model_dump()
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise ValueError(f"model.{key}: {err['msg'].removeprefix('Value error, ')} (got {err.get('input')!r})") from None


def create_model(name: str, **kwargs) -> nn.Module:
    """Build a registered network; a keyword it does not take, or a bad value, is a ValueError."""
    return get_entry(name).factory(**model_options(name, kwargs))


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
