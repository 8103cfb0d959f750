"""The `mnistmax` command line: thin wrappers over plain functions.

Heavy imports (torch, Lightning) happen inside the commands so `mnistmax --help` is quick.
Every user-facing problem is a MnistmaxError: one line on stderr and a non-zero exit.
"""

from mnistmax.cli import compare, core, data, pictures, studies, use, zoo  # noqa: F401  (register the commands)
from mnistmax.cli.common import app


def _reflow(typer_app) -> None:
    """Docstrings are wrapped at 120 columns in the source; --help and the docs reflow each paragraph
    to the terminal instead of keeping the source's line breaks."""
    import inspect

    for info in typer_app.registered_commands:
        doc = info.help or inspect.getdoc(info.callback) or ""
        info.help = "\n\n".join(" ".join(part.split()) for part in doc.split("\n\n"))
    for group in typer_app.registered_groups:
        _reflow(group.typer_instance)


_reflow(app)


def main():
    app()


__all__ = ["app", "main"]
