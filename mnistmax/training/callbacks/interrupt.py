"""Ctrl-C and SIGTERM while training: save the weights of the moment, and treat SIGTERM like Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException


class SaveOnInterrupt(L.Callback):
    """Ctrl-C or SIGTERM: write the weights of the moment to checkpoints/interrupted.ckpt
    (atomically) before Lightning shuts down. `--resume` continues from last.ckpt, written
    at the end of every epoch, and redoes the interrupted epoch from its start: the batch
    loader has no mid-epoch state, so that is what keeps a resumed run identical to an
    uninterrupted one."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / "checkpoints" / "interrupted.ckpt"

    def on_exception(self, trainer, pl_module, exception) -> None:
        # SIGTERM reaches Lightning's own handler first (trainer.received_sigterm), then ours,
        # which raises KeyboardInterrupt. If that exception is lost (a signal handled inside a
        # finalizer is only printed), Lightning's loop raises SIGTERMException at the next
        # batch end instead: save in both cases.
        if isinstance(exception, (KeyboardInterrupt, SIGTERMException)):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(".interrupted.ckpt.tmp")
            trainer.save_checkpoint(tmp, weights_only=False)
            os.replace(tmp, self.path)


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Treat SIGTERM like Ctrl-C while training (save, mark interrupted, exit non-zero)."""
    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
