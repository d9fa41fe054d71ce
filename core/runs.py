"""Submitting a run: the one path from a config to a queued run a worker will take.

The app, the CLI, the benchmarks and the tests all queue runs through `submit`, so
a run is checked once, against the data it will train on, the same way everywhere.
"""

from __future__ import annotations

import os
from functools import lru_cache

from core.architecture import validate
from core.config import RunConfig
from core.datasets import load_dataset
from core.model_files import check_room_to_queue
from core.store import QueueFull, RunStore

__all__ = ["DEFAULT_MAX_QUEUED", "QueueFull", "check", "max_queued", "submit", "training_size"]
DEFAULT_MAX_QUEUED = 20


def max_queued() -> int:
    """Returns how many runs may wait in the queue (`DIGITLAB_MAX_QUEUED`, default 20,
    at least 1)."""
    try:
        return max(1, int(os.environ.get("DIGITLAB_MAX_QUEUED", DEFAULT_MAX_QUEUED)))
    except ValueError:
        return DEFAULT_MAX_QUEUED


@lru_cache(maxsize=8)
def training_size(dataset: str) -> int:
    """Returns how many training items the dataset has here (the full set online,
    the bundled subset offline); counted once per process."""
    return len(load_dataset(dataset).y_train)


def check(config: RunConfig) -> int:
    """Checks a config against the data it will train on; returns its parameter count.

    Raises:
        ConfigError: a setting must change (its `field` names it, the message says how).
        DatasetUnavailable: the dataset cannot be loaded here.
    """
    return validate(config, train_size=training_size(config.dataset))


def submit(
    store: RunStore, config: RunConfig, name: str = "", start_worker: bool = True, sweep_id: int | None = None
) -> int:
    """Checks a config, queues it as a run and makes sure a worker will train it.

    Args:
        store: the run store.
        config: the run to queue.
        name: a name for the run (defaults to the preset or family).
        start_worker: start a worker process if none is alive; False when the caller
            executes runs itself (a benchmark, a test).
        sweep_id: the sweep this run is a trial of, if any.

    Returns:
        The new run's id.

    Raises:
        ConfigError: a setting must change; nothing is queued.
        QueueFull: `max_queued()` runs already wait (a ConfigError); nothing is queued.
        NoRoomForModel: the disk has no room for the model (a ConfigError); nothing
            is queued.
        DatasetUnavailable: the dataset cannot be loaded here; nothing is queued.
        StoreError: the store cannot be written (StoreReadOnly when it was opened
            read-only); nothing is queued.
    """
    params = check(config)
    check_room_to_queue(store.models_dir, params)
    run_id = store.create_run(config, params, name, max_queued=max_queued(), sweep_id=sweep_id)
    if start_worker:
        from core.worker import ensure_workers

        ensure_workers(store)
    return run_id
