"""Training: `train(cfg) -> TrainResult` as named steps (steps.py), the Lightning Trainer and its
callbacks (trainer.py; callbacks/: ema, pictures, curves, embeddings, interrupt, progress, budget),
MLflow (tracking.py), what a loss needs before training (loss_networks.py) and the classifier
runs the transfer study and the judge train (classifier.py)."""

from mnistmax.training.callbacks.progress import quiet_lightning
from mnistmax.training.steps import TrainResult, train
from mnistmax.training.trainer import build_trainer

__all__ = ["TrainResult", "build_trainer", "quiet_lightning", "train"]
