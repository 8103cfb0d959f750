"""LiveCurves: the run's loss and metric curves so far, redrawn to `reports/curves_latest.png` every
`viz.every_n_steps` optimisation steps and at the end of every `viz.every_n_epochs` epoch (and the
last). It is the figure `mnistmax viz curves` draws, made from the numbers kept in memory while
training (metrics.csv may be written only once an epoch): each epoch's logged train/val metrics,
and between epochs the running mean train/loss of the epoch so far.

Off the hot path: a step that is not due does nothing, a due step reads one number, and the
drawing happens on one background thread. A redraw that is due waits (is owed) while the last one
is still being drawn, or while redrawing that often would take more than `max_share` of the wall
time (a picture took about 0.5 s of one core on a busy 2-core CPU), and is drawn at the first step
after; so the curves refresh every `viz.every_n_steps` steps or every `seconds / max_share`,
whichever is slower, and training loses at most that share of one core. The thread is drained
before validation and when training ends (the last picture drawn then if it is owed), so it never
draws beside the main thread's pictures and the picture is complete when `train` returns; a write
that fails there (a full disk) fails the run. Files are written atomically. Rank-zero only;
`viz.enabled=false` leaves it out (mnistmax.training.trainer).
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Callable

import lightning as L
from lightning.pytorch.utilities import rank_zero_only

from mnistmax.config import RunConfig
from mnistmax.files import read_history

PLOTTED = ("train/loss", "val/loss", "val/psnr", "val/probe_acc")  # what viz.figures.training_curves draws
MAX_SHARE = 0.02  # redraws take at most this share of the wall time (of one core)


class BackgroundDrawer:
    """Calls `draw(item)` on one daemon thread, the newest item first: an item submitted while
    another waits replaces it. `background=False` draws at once, in the caller's thread. An
    exception raised by `draw` is raised again by the next `submit`, `wait` or `close`."""

    def __init__(self, draw: Callable, background: bool = True):
        self._draw, self.background = draw, background
        self._cond = threading.Condition()
        self._pending = self._error = self._thread = None
        self._busy = self._closed = False
        self.seconds = 0.0  # how long the last draw took
        self.started = -math.inf  # time.perf_counter() when the last draw started

    def busy(self) -> bool:
        with self._cond:
            return self._busy or self._pending is not None

    def submit(self, item) -> None:
        if not self.background:
            self._timed(item)
            return
        with self._cond:
            self._raise()
            self._pending = item
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="mnistmax-live-curves", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def wait(self) -> None:
        """Return once nothing is drawing or waiting to be drawn."""
        with self._cond:
            self._cond.wait_for(lambda: not self._busy and self._pending is None)
            self._raise()

    def close(self, drain: bool = True) -> None:
        """Stop the thread: after drawing what waits (`drain`), or leaving it (a failed run)."""
        with self._cond:
            if not drain:
                self._pending = None
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if drain:
            with self._cond:
                self._raise()

    def _raise(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error

    def _timed(self, item) -> None:
        self.started = time.perf_counter()
        try:
            self._draw(item)
        finally:
            self.seconds = time.perf_counter() - self.started

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None or self._closed)
                if self._pending is None:
                    return
                item, self._pending, self._busy = self._pending, None, True
            try:
                self._timed(item)
            except BaseException as exc:  # handed to the main thread
                with self._cond:
                    self._error = exc
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()


class LiveCurves(L.Callback):
    def __init__(self, cfg: RunConfig, run_dir: Path, background: bool = True, max_share: float = MAX_SHARE):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / "reports" / "curves_latest.png"
        self.every_n_steps, self.every_n_epochs = cfg.viz.every_n_steps, cfg.viz.every_n_epochs
        self.max_share = max_share
        self.history: dict[str, list[tuple[float, float]]] = {}  # key -> [(epoch index, value)], as read_history
        self.draws = 0  # pictures written
        self.owed = False  # a redraw was due but had to wait
        self.at = (0, 0)  # (epoch, step) of the newest numbers, for the title
        self.drawer = BackgroundDrawer(self._draw, background)

    def setup(self, trainer, pl_module, stage: str) -> None:
        """A resumed run's curves start from the epochs its metrics.csv already holds."""
        import mnistmax.viz.figures  # noqa: F401  (imported here, on the training thread, not first on the drawer's)

        metrics = self.run_dir / "metrics.csv"
        if stage == "fit" and not self.history and metrics.is_file():
            self.history = {k: [(float(e), v) for e, v in points] for k, points in read_history(metrics).items()
                            if k in PLOTTED}

    def _record(self, trainer, key: str, x: float, value: float) -> None:
        self.at = (trainer.current_epoch + 1, trainer.global_step)
        points = self.history.setdefault(key, [])
        if points and points[-1][0] == x:
            points[-1] = (x, value)
        else:
            points.append((x, value))

    def _may_draw(self) -> bool:
        """In the background: the last picture is done and drawing now keeps within `max_share`."""
        d = self.drawer
        return not d.background or (not d.busy() and time.perf_counter() - d.started >= d.seconds / self.max_share)

    def _ask(self) -> None:
        self.owed = not self._may_draw()
        if not self.owed:
            self._request()

    def _request(self) -> None:
        title = f"training curves: {self.run_dir.name} (live: epoch {self.at[0]}, step {self.at[1]})"
        self.drawer.submit(({k: list(v) for k, v in self.history.items() if v}, title))

    def _draw(self, item) -> None:
        from mnistmax.viz.figures import training_curves

        history, title = item
        training_curves(history, self.path, title=title)
        self.draws += 1

    @rank_zero_only
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        due = bool(self.every_n_steps) and trainer.global_step % self.every_n_steps == 0
        if due:
            so_far = getattr(pl_module, "train_loss_so_far", None)
            loss = so_far() if so_far is not None else None
            if loss is not None:
                batches = trainer.num_training_batches
                share = (batch_idx + 1) / batches if batches and math.isfinite(batches) else 1.0
                # x: the epoch index as read_history has it (plotted at x + 1), so this step sits at epoch + share
                self._record(trainer, "train/loss", trainer.current_epoch + share - 1, float(loss))
        if (due or self.owed) and self.history:
            self._ask()

    @rank_zero_only
    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self.drawer.wait()  # the pictures of validation are drawn on this thread

    @rank_zero_only
    def on_train_epoch_end(self, trainer, pl_module) -> None:
        epoch = trainer.current_epoch
        for key in PLOTTED:
            if key in trainer.callback_metrics:
                self._record(trainer, key, float(epoch), float(trainer.callback_metrics[key]))
        due = (epoch + 1) % self.every_n_epochs == 0 or epoch + 1 == trainer.max_epochs or trainer.should_stop
        if due and self.history:
            self._ask()

    @rank_zero_only
    def on_train_end(self, trainer, pl_module) -> None:
        if self.owed:
            self.owed = False
            self._request()
        self.drawer.close()

    @rank_zero_only
    def on_exception(self, trainer, pl_module, exception) -> None:
        self.drawer.close(drain=False)
