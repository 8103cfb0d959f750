"""The tasks: one LightningModule subclass per task, and `TASKS`, the only table keyed by a
task's name (like solo-learn's METHODS). Importing this package registers every task."""

from __future__ import annotations

from mnistmax.tasks.base import TASKS, BaseTask, get_task, register_task, tasks_that
from mnistmax.tasks import autoencoder, classify, contrastive, denoise, vae  # noqa: F401,E402  (register)


def build_task(cfg) -> BaseTask:
    """The task module that `cfg.task` names, built from `cfg`."""
    from mnistmax.config import config_to_dict

    return get_task(cfg.task)(config_to_dict(cfg))


__all__ = ["TASKS", "BaseTask", "build_task", "get_task", "register_task", "tasks_that"]
