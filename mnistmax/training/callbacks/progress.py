"""Progress output: one plain line per epoch when no progress bar is drawn, and a quiet Lightning."""

from __future__ import annotations

import logging
import time
import warnings

import lightning as L

# the validation score an epoch line follows, the first one logged: (key, higher is better)
SCORES = (("val/psnr", True), ("val/probe_acc", True), ("val/acc", True), ("val/loss", False))


def improved(value: float, best: float | None, higher: bool) -> bool:
    """Whether `value` beats the best so far (None: nothing to beat yet, so not a new best)."""
    return best is not None and (value > best if higher else value < best)


class EpochSummary(L.Callback):
    """One plain line per epoch when no progress bar is drawn (logs, CI, pipes); from the second
    epoch on, `* new best val/psnr` (or the run's first logged score of SCORES) ends the line of an
    epoch whose validation score beats every earlier one."""

    def __init__(self, echo=print):
        self.echo = echo
        self.started = time.perf_counter()
        self.best: float | None = None

    def on_train_epoch_end(self, trainer, pl_module):
        m = {k: float(v) for k, v in trainer.callback_metrics.items()}
        parts = [f"{k} {m[k]:.4f}" for k in ("train/loss", "val/loss") if k in m]
        if "val/psnr" in m:
            parts.append(f"val/psnr {m['val/psnr']:.2f} dB")
        if "val/probe_acc" in m:
            parts.append(f"val/probe_acc {100 * m['val/probe_acc']:.1f}%")
        line = (f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}  " + "  ".join(parts)
                + f"  ({time.perf_counter() - self.started:.0f}s)")
        key, higher = next(((k, h) for k, h in SCORES if k in m), (None, True))
        if key is not None:
            better = improved(m[key], self.best, higher)
            line += f"  * new best {key}" if better else ""
            self.best = m[key] if better or self.best is None else self.best
        self.echo(line)


def quiet_lightning() -> None:
    """Keep Lightning's start-up chatter (device lines, tips) out of the user's terminal."""
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*exists and is not empty.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
