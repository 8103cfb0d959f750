"""Progress output: one plain line per epoch when no progress bar is drawn, and a quiet Lightning."""

from __future__ import annotations

import logging
import time
import warnings

import lightning as L


class EpochSummary(L.Callback):
    """One plain line per epoch when no progress bar is drawn (logs, CI, pipes)."""

    def __init__(self, echo=print):
        self.echo = echo
        self.started = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module):
        m = {k: float(v) for k, v in trainer.callback_metrics.items()}
        parts = [f"{k} {m[k]:.4f}" for k in ("train/loss", "val/loss") if k in m]
        if "val/psnr" in m:
            parts.append(f"val/psnr {m['val/psnr']:.2f} dB")
        if "val/probe_acc" in m:
            parts.append(f"val/probe_acc {100 * m['val/probe_acc']:.1f}%")
        self.echo(f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}  " + "  ".join(parts)
                  + f"  ({time.perf_counter() - self.started:.0f}s)")


def quiet_lightning() -> None:
    """Keep Lightning's start-up chatter (device lines, tips) out of the user's terminal."""
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*exists and is not empty.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
