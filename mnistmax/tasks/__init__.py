"""The tasks: one LightningModule subclass per task (`base.BaseTask`), their registry
(`registry.TASKS`), and what a config means to its task (`configure`: the used-keys check,
the network's family, `load_config`). Importing this package registers every task."""

from __future__ import annotations

from mnistmax.tasks import autoencoder, classify, contrastive, denoise, vae  # noqa: F401  (register)
from mnistmax.tasks.base import BaseTask
from mnistmax.tasks.configure import (
    UnusedKeyError,
    dump_yaml,
    load_config,
    read_run_config,
    unused_keys,
    used_config,
    validate_config,
)
from mnistmax.tasks.registry import TASKS, get_task, register_task, tasks_that


def build_task(cfg) -> BaseTask:
    """The task module that `cfg.task` names, built from `cfg`."""
    from mnistmax.config import config_to_dict

    return get_task(cfg.task)(config_to_dict(cfg))


__all__ = ["TASKS", "BaseTask", "UnusedKeyError", "build_task", "dump_yaml", "get_task", "load_config",
           "read_run_config", "register_task", "tasks_that", "unused_keys", "used_config", "validate_config"]
