"""mnistmax: a PyTorch Lightning model zoo for MNIST-style images.

    import mnistmax
    model = mnistmax.load("latest")      # see mnistmax.api
"""

from mnistmax._version import __version__

__all__ = ["load", "Model", "evaluate", "__version__"]


def __getattr__(name: str):
    # the Python API pulls in torch: imported on first use, so `mnistmax --help` stays fast
    if name in ("load", "Model"):
        from mnistmax import api

        return getattr(api, name)
    if name == "evaluate":
        from mnistmax.evaluation import evaluate

        return evaluate
    raise AttributeError(f"module 'mnistmax' has no attribute {name!r}")
