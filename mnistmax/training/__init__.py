"""Training: `train(cfg, callbacks=())` -> run directory (trainer.py), the callbacks split by
concern (callbacks/: ema, pictures, embeddings, interrupt, progress) and MLflow (tracking.py)."""

from mnistmax.training.callbacks.progress import quiet_lightning
from mnistmax.training.trainer import build_trainer, train

__all__ = ["build_trainer", "quiet_lightning", "train"]
