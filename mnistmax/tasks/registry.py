"""TASKS, the only table keyed by a task's name (like solo-learn's METHODS): `@register_task`
on each task's class. A leaf of the tasks package; `mnistmax.tasks` imports every task file,
so any import of the package registers them all."""

from __future__ import annotations

from mnistmax.registry import Registry

TASKS: Registry[type] = Registry("task")  # name -> a BaseTask subclass


def register_task(cls):
    """Class decorator: register a task under `cls.name` (warns when a name is reused)."""
    return TASKS.register(cls.name, cls)


def get_task(name: str) -> type:
    return TASKS.get(name)


def tasks_that(capability: str) -> list[str]:
    """Names of the tasks whose models can do `capability` (e.g. "embed")."""
    return TASKS.where(lambda cls: capability in cls.capabilities)
