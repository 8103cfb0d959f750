"""What a run's loss needs and cannot make mid-run, prepared by train() before the seed is
set and before a run directory exists, then handed to the task: a perceptual loss's judge
classifier (trained once and cached), and a check that LPIPS can be had (one line when not)."""

from __future__ import annotations

from mnistmax.config import RunConfig
from mnistmax.tasks import get_task
from mnistmax.tasks.objective import lpips_network, needed_networks


def prepare_loss_networks(cfg: RunConfig, train, echo=print) -> dict:
    """{"features": the judge's FrozenFeatures} when the loss takes them (else {}; `train`: what
    trains the judge when none is cached, mnistmax.training.train itself); an LPIPS term fails
    here, in one line, when its weights cannot be had."""
    if "train.loss" in get_task(cfg.task).unused(cfg):
        return {}
    wanted = needed_networks(cfg)
    networks = {}
    if "features" in wanted:
        from mnistmax.analysis.judge import judge_for
        from mnistmax.losses.perceptual import FrozenFeatures

        networks["features"] = FrozenFeatures(judge_for(cfg, echo, train).net)
    if "lpips" in wanted:
        lpips_network()  # the task builds its own on its device; this only fails early
    return networks
