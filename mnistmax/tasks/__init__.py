"""LightningModules, one per task; `build_task(cfg)` picks the right one."""

from __future__ import annotations

from mnistmax.config import RunConfig, config_to_dict


def build_task(cfg: RunConfig):
    from mnistmax.tasks.autoencoder import AutoencoderTask
    from mnistmax.tasks.classify import ClassifyTask
    from mnistmax.tasks.contrastive import ContrastiveTask
    from mnistmax.tasks.denoise import DenoiseTask
    from mnistmax.tasks.vae import VAETask

    tasks = {"denoise": DenoiseTask, "contrastive": ContrastiveTask, "autoencoder": AutoencoderTask,
             "vae": VAETask, "classify": ClassifyTask}
    return tasks[cfg.task](config_to_dict(cfg))
