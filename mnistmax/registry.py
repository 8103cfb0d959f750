"""Registry: one small name table, behind every set of names a user can choose from
(networks, tasks, losses, noise kinds, data sources, ...). It registers (warning when a
name is reused), lists its names, and refuses an unknown one with the one message
"unknown <what> 'x'; valid: a, b, c". A leaf: it imports nothing of mnistmax."""

from __future__ import annotations

import inspect
import warnings
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")
_DECORATE = object()  # register(name) without an item: used as a decorator


class UnknownNameError(KeyError, ValueError):
    """A name no registry entry has; str() is the one-line message (not KeyError's repr)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    def __init__(self, what: str, ordered: bool = False):
        self.what = what  # "model", "task", "contrastive loss": the word in the message
        self.ordered = ordered  # names in the order registered (else sorted)
        self._items: dict[str, T] = {}

    def register(self, name: str, item=_DECORATE):
        """`registry.register(name, item)`, or `@registry.register(name)` on a class or function."""
        if item is _DECORATE:
            return lambda obj: self.register(name, obj)
        if name in self._items:
            warnings.warn(f"{self.what} {name!r} is registered twice; the later one wins", stacklevel=3)
        self._items[name] = item
        return item

    def names(self) -> list[str]:
        return list(self._items) if self.ordered else sorted(self._items)

    def get(self, name: str) -> T:
        if name not in self._items:
            raise UnknownNameError(self.unknown(name))
        return self._items[name]

    def check(self, name: str) -> str:
        """`name` when it is registered; else the one-line error (a pydantic validator's ValueError too)."""
        self.get(name)
        return name

    def name_field(self):
        """A pydantic field type for one of the names: `loss: LOSSES.name_field() = "l2"`."""
        from typing import Annotated

        from pydantic import AfterValidator

        return Annotated[str, AfterValidator(self.check)]

    def unknown(self, name: str) -> str:
        return f"unknown {self.what} {name!r}; valid: {', '.join(self.names())}"

    def items(self) -> Iterator[tuple[str, T]]:
        return iter([(name, self._items[name]) for name in self.names()])

    def where(self, keep: Callable[[T], bool]) -> list[str]:
        """Names of the entries `keep` accepts."""
        return [name for name, item in self.items() if keep(item)]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __len__(self) -> int:
        return len(self._items)


def keyword_names(fn: Callable) -> set[str]:
    """Names `fn` takes as keyword arguments."""
    params = inspect.signature(fn).parameters.values()
    return {p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


def accepted_options(fn: Callable, options: dict) -> dict:
    """Those of `options` that `fn` takes, so one config section can serve callables with different knobs."""
    names = keyword_names(fn)
    return {k: v for k, v in options.items() if k in names}
