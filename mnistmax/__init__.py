"""mnistmax: a PyTorch Lightning model zoo for MNIST-style images.

    import mnistmax
    run = mnistmax.train("quick")                 # train a recipe (or a YAML file), with overrides
    result = mnistmax.evaluate(run.run_dir)       # its test-set scores
    model = mnistmax.load(run.run_dir)            # or "latest", "zoo:mnist-unet": see mnistmax.api
"""

from mnistmax._version import __version__

__all__ = ["train", "evaluate", "load", "Model", "__version__"]


def __getattr__(name: str):
    # the Python API pulls in torch: imported on first use, so `mnistmax --help` stays fast
    if name in ("train", "load", "Model"):
        from mnistmax import api

        return getattr(api, name)
    if name == "evaluate":
        from mnistmax.evaluation import evaluate

        return evaluate
    raise AttributeError(f"module 'mnistmax' has no attribute {name!r}")
