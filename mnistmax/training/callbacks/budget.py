"""train.max_time_minutes as a budget the learning-rate schedule knows about.

Lightning's Timer stops a run at the budget wherever it is, with the cosine schedule still
laid over train.epochs: the learning rate is still high when it stops. BudgetSchedule
measures what an epoch costs (train + validation + checkpoints + pictures) and fits the
number of epochs, and with it the schedule's length, to the budget: a run that the budget
cuts still ends on an annealed schedule. The Timer stays as the hard guard.

The plan is made at the end of the first epoch from its cost (the slowest: kernel selection,
allocator warm-up) and may grow once at the end of the second, from a steady-state epoch. It
is stored in the checkpoint, so a run resumed after its second epoch follows the same
schedule, step for step, as an uninterrupted one; a run resumed earlier measures again.
"""

from __future__ import annotations

import time

import lightning as L

MARGIN = 0.92  # plan for this share of the budget: epochs vary by a few percent


def epochs_that_fit(budget_s: float, elapsed_s: float, epoch_s: float, done: int, max_epochs: int) -> int:
    """Epochs in all (at least those `done`, at most `max_epochs`) when `elapsed_s` of a
    `budget_s` budget are spent and an epoch costs `epoch_s`."""
    more = int(max(0.0, MARGIN * budget_s - elapsed_s) // max(epoch_s, 1e-9))
    return max(done, min(max_epochs, done + more))


class BudgetSchedule(L.Callback):
    def __init__(self, minutes: float):
        self.clock = time.monotonic
        self.budget_s = 60.0 * minutes
        self.planned_epochs: int | None = None
        self.measured = 0  # epochs measured so far (the plan is final after 2)
        self.max_epochs: int | None = None
        self._started: float | None = None  # clock reading when this fit started training
        self._epoch_started = 0.0
        self._offset = 0.0

    def state_dict(self) -> dict:
        return {"planned_epochs": self.planned_epochs, "measured": self.measured,
                "elapsed_s": self._offset + (self.clock() - self._started if self._started is not None else 0.0)}

    def load_state_dict(self, state: dict) -> None:
        self.planned_epochs, self.measured = state.get("planned_epochs"), state.get("measured", 0)
        self._offset = float(state.get("elapsed_s", 0.0))

    def on_train_start(self, trainer, pl_module) -> None:
        self._started = self.clock()
        self.max_epochs = trainer.max_epochs  # the config's epochs
        if self.planned_epochs is not None:
            self._apply(trainer, pl_module)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._epoch_started = self.clock()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        """After the epoch's validation and checkpoints: plan from what the epoch cost."""
        if self.measured >= 2 or trainer.should_stop:  # the plan is final, or the guard has already stopped the run
            return
        done = trainer.current_epoch + 1
        elapsed = self._offset + self.clock() - self._started
        fits = epochs_that_fit(self.budget_s, elapsed, self.clock() - self._epoch_started, done, self.max_epochs)
        self.measured += 1
        if self.planned_epochs is None or fits > self.planned_epochs:  # the steady state may allow more
            self.planned_epochs = fits
            self._apply(trainer, pl_module)

    def _apply(self, trainer, pl_module) -> None:
        trainer.fit_loop.max_epochs = self.planned_epochs
        pl_module.fit_schedule(self.planned_epochs)

    @property
    def fitted(self) -> bool:
        """Whether the budget shortened the schedule."""
        return self.planned_epochs is not None and self.planned_epochs < self.max_epochs
