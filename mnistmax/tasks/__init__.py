"""LightningModules, one per task; `build_task(cfg)` picks the right one."""

from __future__ import annotations

from mnistmax.config import RunConfig, config_to_dict


def build_task(cfg: RunConfig):
    from mnistmax.tasks.contrastive import ContrastiveTask
    from mnistmax.tasks.denoise import DenoiseTask

    tasks = {"denoise": DenoiseTask, "contrastive": ContrastiveTask}
    return tasks[cfg.task](config_to_dict(cfg))
