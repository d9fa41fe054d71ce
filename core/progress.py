"""A Keras callback that writes a run's progress to the store and obeys Stop."""

from __future__ import annotations

import threading
import time

import keras

from core.store import RunStore

PROGRESS_INTERVAL_SECONDS = 0.5


class RunStopped(Exception):
    """Raised from inside training when the user stops the run."""


class RunLost(Exception):
    """Raised from inside training when the run is no longer this worker's: it was
    marked failed (its worker seemed dead while stopped or suspended) or deleted.
    The worker then leaves the run alone."""


class StoreProgress(keras.callbacks.Callback):
    """Writes batch progress (throttled) and every epoch's metrics to the store.

    Once `stop` is set (the worker's watcher sets it when a user asks), it ends
    training after the current batch by raising `RunStopped`, so no validation pass
    follows. A run that trains longer than its time limit ends after the current
    batch too, keeping what it learned. With `worker_pid`, every write checks that
    the run still runs in that worker; when it does not, training ends at once by
    raising `RunLost`, and nothing more is written. A sweep trial (`in_sweep`) reports
    each epoch's validation accuracy to its sweep (`core.sweeps.should_prune`); when the
    sweep prunes it, training ends after that epoch and `pruned_after` holds the epoch.

    Args:
        store: the run store.
        run_id: the run being trained.
        batches: batches per epoch.
        time_limit_seconds: stop after this much training time.
        stop: an event that asks training to stop.
        worker_pid: the worker that owns the run; None writes unchecked.
        in_sweep: the run is a trial of a sweep, which may prune it.
    """

    def __init__(
        self,
        store: RunStore,
        run_id: int,
        batches: int,
        time_limit_seconds: float,
        stop: threading.Event,
        worker_pid: int | None = None,
        in_sweep: bool = False,
    ):
        super().__init__()
        self.in_sweep = in_sweep
        self.pruned_after = 0
        self.store = store
        self.worker_pid = worker_pid
        self.stop = stop
        self.run_id = run_id
        self.batches = batches
        self.time_limit_seconds = time_limit_seconds
        self.stopped_by_time_limit = False
        self._epoch = 0
        self._epoch_started = 0.0
        self._train_started = 0.0
        self._last_write = 0.0

    def on_train_begin(self, logs=None):
        self._train_started = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._epoch_started = time.monotonic()
        self._report(0)

    def on_train_batch_end(self, batch, logs=None):
        now = time.monotonic()
        if now - self._last_write >= PROGRESS_INTERVAL_SECONDS:
            self._report(batch + 1)
        if self.stop.is_set():
            raise RunStopped(f"run {self.run_id} stopped by its user")
        if now - self._train_started > self.time_limit_seconds:
            self.stopped_by_time_limit = True
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        seconds = time.monotonic() - self._epoch_started
        if self.stopped_by_time_limit:
            return
        if not self.store.add_epoch(self.run_id, epoch + 1, {**logs, "seconds": seconds}, self.worker_pid):
            self._lost()
        if self.in_sweep:
            from core.sweeps import should_prune

            # Every epoch is reported (the pruner compares trials epoch by epoch); the
            # last one is never pruned: the trial has finished.
            prune = should_prune(self.store, self.run_id, epoch + 1, logs.get("val_accuracy"))
            if prune and epoch + 1 < self.params.get("epochs", 0):
                self.pruned_after = epoch + 1
                self.model.stop_training = True

    def _report(self, batch: int) -> None:
        self._last_write = time.monotonic()
        if not self.store.set_progress(self.run_id, self._epoch, batch, self.batches, self.worker_pid):
            self._lost()

    def _lost(self) -> None:
        """Ends training when a checked write found the run no longer ours."""
        if self.worker_pid is not None:
            raise RunLost(f"run {self.run_id} is no longer running in worker {self.worker_pid}")


class KeepBestEpoch(keras.callbacks.Callback):
    """Restores, when training ends, the weights of the epoch with the best
    validation accuracy (chosen on validation data, never on the test set); of
    epochs that tie, the later one, which trained longer. The optimizer's state
    goes back to that epoch too, so a run continued later goes on from there."""

    def __init__(self):
        super().__init__()
        self.best_accuracy = -1.0
        self.best_weights = None
        self.best_optimizer_state = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        accuracy = logs.get("val_accuracy")
        if accuracy is not None and accuracy >= self.best_accuracy:  # Ties: the later epoch.
            self.best_accuracy = accuracy
            self.best_weights = self.model.get_weights()
            self.best_optimizer_state = [variable.numpy() for variable in optimizer_variables(self.model)]

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)
            state = zip(optimizer_variables(self.model), self.best_optimizer_state, strict=True)
            for variable, value in state:
                variable.assign(value)


def optimizer_variables(model) -> list:
    """Returns the state of a model's optimizer (none for a model never compiled)."""
    optimizer = getattr(model, "optimizer", None)
    return list(optimizer.variables) if optimizer is not None else []
