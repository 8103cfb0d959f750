"""The `mnistmax` command line: thin wrappers over plain functions.

Heavy imports (torch, Lightning) happen inside the commands so `mnistmax --help` is quick.
Every user-facing problem is a MnistmaxError: one line on stderr and a non-zero exit.
"""

from mnistmax.cli import compare, core, pictures, studies, use, zoo  # noqa: F401  (register the commands)
from mnistmax.cli.common import app


def main():
    app()


__all__ = ["app", "main"]
