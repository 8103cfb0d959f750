"""The network registry (timm's `_registry`): `@register_model`, `register_variant`,
`get_entry`, `list_models`, `model_options`, `create_model`. A leaf: it imports no network;
`mnistmax.models` imports every network file, so importing anything of the package
registers everything.

Each entry records the task family it serves (`denoise`, `encoder`, ...), so configs and
tests can select by family. A network's options are its factory's keyword arguments:
`create_model` and the config refuse any other key, and check each value against the
argument's annotation. A variant (`ablation_<name>`: mnistmax.models.gated) is derived from
every entry of the families it wraps whenever the names are read, so no import order decides
whether it exists.
"""

from __future__ import annotations

import functools
import inspect
import typing
from dataclasses import dataclass
from typing import Any, Callable

import torch.nn as nn
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic import create_model as create_pydantic_model

from mnistmax.registry import Registry, UnknownNameError, accepted_options, keyword_names  # noqa: F401


@dataclass(frozen=True)
class ModelEntry:
    name: str
    family: str
    factory: Callable[..., nn.Module]
    wraps: str | None = None  # a variant's network (ablation_unet_dae wraps unet_dae)

    def accepted_kwargs(self) -> set[str]:
        return keyword_names(self.factory)


MODELS: Registry[ModelEntry] = Registry("model")


@dataclass(frozen=True)
class Variant:
    """`prefix + name` for every entry of `of_families`: `wrap(entry)` is its factory."""
    prefix: str
    of_families: tuple[str, ...]
    family: str
    wrap: Callable[[ModelEntry], Callable[..., nn.Module]]


_VARIANTS: list[Variant] = []


def register_model(name: str, family: str = "denoise"):
    """Decorator: register a class or factory under `name` (warns when a name is reused)."""

    def decorator(factory):
        MODELS.register(name, ModelEntry(name, family, factory))
        return factory

    return decorator


def register_variant(prefix: str, of_families: tuple[str, ...], family: str,
                     wrap: Callable[[ModelEntry], Callable[..., nn.Module]]) -> None:
    _VARIANTS.append(Variant(prefix, of_families, family, wrap))


@functools.lru_cache(maxsize=None)
def _variant_entry(variant: Variant, base: ModelEntry) -> ModelEntry:
    return ModelEntry(variant.prefix + base.name, variant.family, variant.wrap(base), wraps=base.name)


def _entries() -> dict[str, ModelEntry]:
    """The registered networks and every variant of them."""
    entries = dict(MODELS.items())
    for variant in _VARIANTS:
        for base in list(entries.values()):
            if base.family in variant.of_families and not base.name.startswith(variant.prefix):
                entries[variant.prefix + base.name] = _variant_entry(variant, base)
    return entries


def list_models(family: str | None = None) -> list[str]:
    return sorted(n for n, e in _entries().items() if family is None or e.family == family)


def get_entry(name: str) -> ModelEntry:
    entry = _entries().get(name)
    if entry is None:
        raise UnknownNameError(f"unknown model {name!r}; valid: {', '.join(list_models())}")
    return entry


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
    return create_pydantic_model(f"{name}_options", __config__=ConfigDict(extra="forbid", allow_inf_nan=False),
                                 **fields)


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
        msg = err['msg'].removeprefix('Value error, ')
        raise ValueError(f"model.{key}: {msg} (got {err.get('input')!r})") from None


def create_model(name: str, **kwargs) -> nn.Module:
    """Build a registered network; a keyword it does not take, or a bad value, is a ValueError."""
    return get_entry(name).factory(**model_options(name, kwargs))


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
