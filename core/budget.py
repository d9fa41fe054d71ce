"""The learning-rate schedule and the time budget of a run, followed batch by batch.

A run's progress is the larger of the fraction of its epochs done and, when it has a
budget in seconds, the fraction of the budget spent. A cosine schedule follows that
progress, so a run cut by its budget has finished its schedule (its last batches
train at a learning rate near zero) instead of being stopped halfway through it; a
run that finishes its epochs first ends its schedule with its last epoch.
"""

from __future__ import annotations

import math
import time

import keras

from core.config import RunConfig


def schedule_factor(schedule: str, progress: float) -> float:
    """Returns the learning rate's multiplier at a progress from 0 (start) to 1 (end)."""
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
    return 1.0


class BudgetSchedule(keras.callbacks.Callback):
    """Sets the learning rate before every batch and ends training when the budget is spent.

    Args:
        config: the run's config (learning rate, schedule, epochs, budget, initial epoch).
        batches: batches per epoch.
        clock: the time source (seconds).
    """

    def __init__(self, config: RunConfig, batches: int, clock=time.monotonic):
        super().__init__()
        self.base_rate = config.learning_rate
        self.schedule = config.lr_schedule
        self.budget = config.time_budget_seconds
        self.total_steps = max(1, (config.epochs - config.initial_epoch) * batches)
        self.clock = clock
        self.steps = 0
        self.progress = 0.0
        self.learning_rate = self.base_rate
        self.spent_budget = False
        self._started = 0.0

    def on_train_begin(self, logs=None):
        self._started = self.clock()

    def elapsed(self) -> float:
        """Returns the seconds since training began."""
        return self.clock() - self._started

    def on_train_batch_begin(self, batch, logs=None):
        self.progress = self.steps / self.total_steps
        if self.budget:
            self.progress = max(self.progress, self.elapsed() / self.budget)
        self.learning_rate = self.base_rate * schedule_factor(self.schedule, self.progress)
        if self.schedule != "constant":
            self.model.optimizer.learning_rate = self.learning_rate

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        self._stop_when_spent()

    def on_epoch_end(self, epoch, logs=None):
        self._stop_when_spent()  # The validation pass may have spent the rest.

    def _stop_when_spent(self) -> None:
        if self.budget and self.elapsed() >= self.budget:
            self.spent_budget = True
            self.model.stop_training = True

    def summary(self) -> dict:
        """Returns how training ended: the schedule's progress and last learning rate,
        the batches trained, and the budget (0 when none) and whether it was spent."""
        return {
            "schedule": self.schedule,
            "schedule_progress": round(min(self.progress, 1.0), 4),
            "final_learning_rate": self.learning_rate,
            "steps": self.steps,
            "time_budget_seconds": self.budget,
            "spent_budget": self.spent_budget,
        }
