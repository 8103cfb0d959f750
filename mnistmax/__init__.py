"""mnistmax: a PyTorch Lightning model zoo for MNIST-style images."""

__version__ = "0.1.0"
