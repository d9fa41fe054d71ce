"""The learning-rate schedule and the time budget of a run, followed batch by batch.

A run's progress is the larger of the fraction of its epochs done and, when it has a
budget in seconds, the fraction of the budget spent. A cosine schedule follows that
progress, so a run cut by its budget has finished its schedule (its last batches
train at a learning rate near zero) instead of being stopped halfway through it; a
run that finishes its epochs first ends its schedule with its last epoch. The budget
holds the validation passes too: training stops when the next batch (or the next
epoch's start-up and first batch) and the validation after it would not fit.
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
    """Sets the learning rate before every batch and ends training within the budget.

    The run's end is the budget less the validation pass that follows the last batch,
    as last measured: the schedule aims at that end, a batch starts only when it and the
    validation still fit, and an epoch starts only when its start-up and a batch fit too.

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
        self.batches = batches
        self.total_steps = max(1, (config.epochs - config.initial_epoch) * batches)
        self.clock = clock
        self.steps = 0
        self.progress = 0.0
        self.learning_rate = self.base_rate
        self.spent_budget = False
        self.cut_epoch = False  # The budget ended training within an epoch, not after one.
        self.batch_seconds = 0.0  # A batch, as recently measured (the first, traced one left out).
        self.validation_seconds = 0.0  # The validation pass after an epoch's batches.
        self.epoch_start_seconds = 0.0  # From an epoch's start to its first batch.
        self._started = self._epoch_began = self._batch_began = self._batch_ended = 0.0

    def on_train_begin(self, logs=None):
        self._started = self.clock()

    def elapsed(self) -> float:
        """Returns the seconds since training began."""
        return self.clock() - self._started

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_began = self.clock()

    def on_train_batch_begin(self, batch, logs=None):
        self._batch_began = self.clock()
        if batch == 0 and self.steps:  # The first epoch's start-up includes tracing: not typical.
            self.epoch_start_seconds = self._batch_began - self._epoch_began
        self.progress = self.steps / self.total_steps
        if self.budget:
            end = max(self.budget - self.validation_seconds, 1e-9)  # The last validation must fit.
            self.progress = max(self.progress, self.elapsed() / end)
        self.learning_rate = self.base_rate * schedule_factor(self.schedule, self.progress)
        if self.schedule != "constant":
            self.model.optimizer.learning_rate = self.learning_rate

    def on_train_batch_end(self, batch, logs=None):
        self._batch_ended = self.clock()
        if self.steps:
            seconds = self._batch_ended - self._batch_began
            self.batch_seconds = seconds if self.steps == 1 else 0.9 * self.batch_seconds + 0.1 * seconds
        self.steps += 1
        self._stop_unless_fits(self.batch_seconds + self.validation_seconds)
        self.cut_epoch = self.spent_budget and self.steps % self.batches != 0

    def on_epoch_end(self, epoch, logs=None):
        self.validation_seconds = self.clock() - self._batch_ended
        self._stop_unless_fits(self.epoch_start_seconds + self.batch_seconds + self.validation_seconds)

    def _stop_unless_fits(self, seconds: float) -> None:
        if self.budget and self.elapsed() + seconds > self.budget:
            self.spent_budget = True
            self.model.stop_training = True

    def summary(self) -> dict:
        """Returns how training ended: the schedule's progress and last learning rate,
        the batches trained, and the budget (0 when none) and whether it ended the run."""
        return {
            "schedule": self.schedule,
            "schedule_progress": round(min(self.progress, 1.0), 4),
            "final_learning_rate": self.learning_rate,
            "steps": self.steps,
            "time_budget_seconds": self.budget,
            "spent_budget": self.spent_budget,
        }
