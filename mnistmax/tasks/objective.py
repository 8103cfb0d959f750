"""A task's reconstruction objective: train.loss plus train.loss_weights' terms, with the
networks some terms need bound: LPIPS (built here), a perceptual loss's frozen judge
(prepared by mnistmax.training.train, which trains and caches it, and handed to the task)."""

from __future__ import annotations

from mnistmax.config import RunConfig
from mnistmax.errors import RunError


def needed_networks(cfg: RunConfig) -> set[str]:
    """Which networks the objective's terms take ("features", "lpips")."""
    from mnistmax.losses import needs

    return {r for name in cfg.train.loss_terms() for r in needs(name)}


def lpips_network(device="cpu"):
    """LPIPS with gradients for train.loss perceptual_lpips; offline it is one RunError."""
    from mnistmax.eval.metrics import LPIPSUnavailable, make_lpips

    try:
        return make_lpips(device, grad=True, instead="use train.loss=perceptual (no download)")
    except LPIPSUnavailable as exc:
        raise RunError(f"train.loss perceptual_lpips: {exc}") from None


def build_objective(cfg: RunConfig, device="cpu", given: dict | None = None):
    """(pred, target) -> (loss, {name: term}) for train.loss and train.loss_weights. `given`:
    the networks prepared before training ({"features": the judge's FrozenFeatures})."""
    from mnistmax.losses import weighted_loss

    wanted, networks = needed_networks(cfg), dict(given or {})
    if "features" in wanted and "features" not in networks:
        raise RunError("train.loss perceptual needs the judge classifier's features: mnistmax.training.train "
                       "prepares them (task.loss_networks) before training")
    if "lpips" in wanted and "lpips" not in networks:
        networks["lpips"] = lpips_network(device)
    return weighted_loss(cfg.train.loss_terms(), fp_weight=cfg.train.fp_weight,
                         **{k: v for k, v in networks.items() if k in wanted})
