"""Submitting a run: the one path from a config to a queued run a worker will take.

The app, the CLI, the benchmarks and the tests all queue runs through `submit`, so
a run is checked once, against the data it will train on, the same way everywhere.
"""

from __future__ import annotations

from functools import lru_cache

from core.architecture import validate
from core.children import check_drawings, completed_parent, continuation_config, fine_tune_config
from core.config import RunConfig
from core.datasets import load_dataset
from core.model_files import check_room_to_queue
from core.settings import positive_int
from core.store import QueueFull, RunStore

__all__ = [
    "DEFAULT_MAX_QUEUED",
    "QueueFull",
    "check",
    "max_queued",
    "submit",
    "submit_continuation",
    "submit_fine_tune",
    "training_size",
]
DEFAULT_MAX_QUEUED = 20


def max_queued() -> int:
    """Returns how many runs may wait in the queue (`DIGITLAB_MAX_QUEUED`, default 20,
    at least 1)."""
    return positive_int("DIGITLAB_MAX_QUEUED", DEFAULT_MAX_QUEUED)


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
    store: RunStore,
    config: RunConfig,
    name: str = "",
    start_worker: bool = True,
    sweep_id: int | None = None,
    parent_run_id: int | None = None,
) -> int:
    """Checks a config, queues it as a run and makes sure a worker will train it.

    Args:
        store: the run store.
        config: the run to queue.
        name: a name for the run (defaults to the preset or family).
        start_worker: start a worker process if none is alive; False when the caller
            executes runs itself (a benchmark, a test).
        sweep_id: the sweep this run is a trial of, if any.
        parent_run_id: the run this one starts from (continued or fine-tuned).

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
    run_id = store.create_run(
        config, params, name, max_queued=max_queued(), sweep_id=sweep_id, parent_run_id=parent_run_id
    )
    if start_worker:
        from core.worker import ensure_workers

        ensure_workers(store)
    return run_id


def submit_continuation(
    store: RunStore,
    parent_run_id: int,
    epochs: int,
    learning_rate: float | None = None,
    name: str = "",
    start_worker: bool = True,
) -> int:
    """Queues a run that trains a completed run `epochs` more epochs from its saved
    model and optimizer state, numbering its epochs on from the parent's last.

    Args:
        store: the run store.
        parent_run_id: the completed run to go on from.
        epochs: how many more epochs.
        learning_rate: the rate to go on at (default: see `continuation_config`).
        name: a name for the run (default: the parent's, with "+N").
        start_worker: as for `submit`.

    Returns:
        The new run's id.

    Raises:
        ConfigError: the parent cannot be continued, or `epochs` is out of range
            (the message says why); nothing is queued. And whatever `submit` raises.
    """
    parent = completed_parent(store, parent_run_id, "continued")
    config = continuation_config(parent, int(epochs), learning_rate)
    label = name or f"{parent['name']} +{int(epochs)}"
    return submit(store, config, label, start_worker, parent_run_id=parent_run_id)


def submit_fine_tune(store: RunStore, parent_run_id: int, name: str = "", start_worker: bool = True) -> int:
    """Queues a run that fine-tunes a completed digits run on the user's saved drawings
    (augmented, mixed with replayed MNIST); a part of the drawings is kept aside to
    measure it (`core/fine_tune.py`).

    Args:
        store: the run store.
        parent_run_id: the completed MNIST run to teach.
        name: a name for the run (default: the parent's, with "+ my handwriting").
        start_worker: as for `submit`.

    Returns:
        The new run's id.

    Raises:
        ConfigError: the parent cannot be fine-tuned, or there are fewer than 3
            drawings of some digit (the message says which); nothing is queued. And
            whatever `submit` raises.
    """
    parent = completed_parent(store, parent_run_id, "fine-tuned")
    config = fine_tune_config(parent)
    check_drawings([drawing["label"] for drawing in store.drawings()])
    label = name or f"{parent['name']} + my handwriting"
    return submit(store, config, label, start_worker, parent_run_id=parent_run_id)
