"""A task's reconstruction objective: train.loss plus train.loss_weights' terms, with the
networks some terms need bound (a perceptual loss's frozen judge, LPIPS)."""

from __future__ import annotations

from mnistmax.config import RunConfig
from mnistmax.errors import RunError


def loss_networks(cfg: RunConfig, device="cpu", echo=print) -> dict:
    """The networks the objective's terms need, as their keyword arguments ({"features": ...,
    "lpips": ...}). The judge is trained and cached on first use; LPIPS offline is one RunError."""
    from mnistmax.losses import needs

    wanted = {r for name in cfg.train.loss_terms() for r in needs(name)}
    networks = {}
    if "features" in wanted:
        from mnistmax.analysis.judge import judge_for
        from mnistmax.losses.perceptual import FrozenFeatures

        networks["features"] = FrozenFeatures(judge_for(cfg, echo).net)
    if "lpips" in wanted:
        from mnistmax.eval.metrics import LPIPSUnavailable, make_lpips

        try:
            networks["lpips"] = make_lpips(device, grad=True, instead="use train.loss=perceptual (no download)")
        except LPIPSUnavailable as exc:
            raise RunError(f"train.loss perceptual_lpips: {exc}") from None
    return networks


def build_objective(cfg: RunConfig, device="cpu"):
    """(pred, target) -> (loss, {name: term}) for train.loss and train.loss_weights."""
    from mnistmax.losses import weighted_loss

    networks = loss_networks(cfg, device, echo=lambda message: None)
    return weighted_loss(cfg.train.loss_terms(), fp_weight=cfg.train.fp_weight, **networks)
