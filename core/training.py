"""One training run: prepare data, build, fit with live progress, evaluate, save.

`execute_run` writes through `store`: the run store, or on a Ray node a stand-in that
streams the writes to the dispatcher (`core.cluster_task.ClusterStore`). Keep the
store calls made here and in the progress callback to the methods it has.
"""

from __future__ import annotations

import os
import platform
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.config import RunConfig
from core.datasets import Dataset, load_dataset, validation_split
from core.devices import training_device
from core.drawn_digits import drawn_training_digits
from core.model_files import check_free_space
from core.store import RunStore
from core.text import build_vocabulary, encode, save_vocabulary

DRAWN_DIGITS = 1_000  # The most drawn digits added to augmented digit training.


@dataclass
class PreparedData:
    """Model-ready arrays: training, validation and test splits."""

    x_fit: np.ndarray
    y_fit: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    vocabulary: list[str] | None = None


def prepare_data(dataset: Dataset, config: RunConfig, vocabulary: list[str] | None = None) -> PreparedData:
    """Limits, splits off validation and scales (images) or encodes (text) the data.

    Text is encoded with `vocabulary` when given (a continued run reads words as its
    parent did), else with one built from the training split.
    """
    x_train, y_train = dataset.x_train, dataset.y_train
    if config.limit:
        x_train, y_train = x_train[: config.limit], y_train[: config.limit]
    fit, val = validation_split(len(y_train), config.validation_split, config.seed)
    if dataset.is_text:
        vocabulary = vocabulary or build_vocabulary(x_train[fit])
        x_fit, x_val, x_test = (
            encode(x, vocabulary, config.max_words) for x in (x_train[fit], x_train[val], dataset.x_test)
        )
        y_fit = y_train[fit]
    else:
        vocabulary = None
        x_fit, y_fit = x_train[fit], y_train[fit]
        if config.augment and dataset.facts.can_augment:
            x_fit, y_fit = with_drawn_digits(x_fit, y_fit, config.seed)
        x_fit, x_val, x_test = (scale_images(x) for x in (x_fit, x_train[val], dataset.x_test))
    return PreparedData(x_fit, y_fit, x_val, y_train[val], x_test, dataset.y_test, vocabulary)


def with_drawn_digits(x_fit: np.ndarray, y_fit: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The training digits with one drawn digit added per ten (at most DRAWN_DIGITS) from
    core.drawn_digits: boxy and hand-like strokes of every width and aspect, which MNIST
    barely has. Validation and test stay MNIST's own."""
    drawn_x, drawn_y = drawn_training_digits(min(DRAWN_DIGITS, len(y_fit) // 10), seed)
    return np.concatenate([x_fit, drawn_x]), np.concatenate([y_fit, drawn_y.astype(y_fit.dtype)])


def batches_of(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int | None = None):
    """The examples as a tf.data pipeline of batches, reshuffled every epoch when `seed`
    is given, with tf.data's autotuning off.

    With it on (as when model.fit is handed arrays), about every other epoch ran with
    one of this machine's two cores idle, taking half as long again for the same CPU
    time (`python -m bench.epochs`)."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    if seed is not None:
        dataset = dataset.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.batch(batch_size).prefetch(1).with_options(options)


def scale_images(images: np.ndarray) -> np.ndarray:
    """Returns uint8 0-255 images as float32 in [0, 1], the input every model expects."""
    return images.astype(np.float32) / 255.0


def execute_run(store: RunStore, run_id: int, stop: threading.Event | None = None) -> str:
    """Trains, evaluates and saves one claimed run; returns its final status.

    Training progress and results go to the store. A user's stop ends the run as
    cancelled; a sweep that prunes the run ends it as pruned after that epoch;
    reaching the time limit ends it completed, with a note. Every write checks that
    the run still runs in this process; once it does not (it was marked failed while
    this worker was stopped or suspended, or deleted), training ends at once and the
    run is left alone: the status is then "abandoned".
    """
    import keras

    from core.budget import BudgetSchedule
    from core.continuation import save_optimizer_state, start_run
    from core.progress import KeepBestEpoch, RunLost, RunStopped, StoreProgress

    stop = stop or threading.Event()
    pid = os.getpid()
    run = store.get_run(run_id)
    if run["config"] is None:
        raise ValueError(f"This run's settings cannot be read ({run['config_error']}): delete it.")
    config = run["config"]
    if not store.set_device(run_id, training_device(), worker_pid=pid):
        return "abandoned"
    started = time.monotonic()
    dataset = load_dataset(config.dataset)
    if not store.set_data_source(run_id, dataset.describe(), worker_pid=pid):
        return "abandoned"
    start = start_run(store, run, dataset)  # Fresh, or from the parent run's model.
    data, model = start.data, start.model
    batches = -(-len(data.y_fit) // config.batch_size)
    schedule = BudgetSchedule(config, batches)
    limit = config.time_limit_minutes * 60
    in_sweep = run["sweep_id"] is not None
    progress = StoreProgress(store, run_id, batches, limit, stop, worker_pid=pid, in_sweep=in_sweep)
    try:
        model.fit(
            batches_of(data.x_fit, data.y_fit, config.batch_size, seed=config.seed),
            epochs=config.epochs,
            initial_epoch=config.initial_epoch,
            validation_data=batches_of(data.x_val, data.y_val, config.batch_size),
            callbacks=[schedule, progress, *([KeepBestEpoch()] if config.keep_best_epoch else [])],
            shuffle=False,  # batches_of shuffles.
            verbose=0,
        )
    except RunStopped:
        store.finish(run_id, "cancelled", worker_pid=pid)
        return "cancelled"
    except RunLost:
        return "abandoned"
    if progress.pruned_after:  # Its sweep stopped it: no test, no model to keep.
        return "pruned" if store.prune(run_id, progress.pruned_after, worker_pid=pid) else "abandoned"
    train_seconds = time.monotonic() - started
    epochs_done = store.get_run(run_id)["epoch"]
    results = evaluate(model, data, config.is_text)
    model_path = store.model_path(run_id)
    if not store.is_running_in(run_id, pid):
        return "abandoned"
    save_atomically(model, model_path)
    optimizer_note = save_optimizer_state(model, store.optimizer_path(run_id))
    if config.is_text:
        save_vocabulary(data.vocabulary, store.vocabulary_path(run_id))
    results.update(
        seconds_per_epoch=_seconds_per_epoch(store, run_id),
        total_seconds=train_seconds,
        ms_per_prediction=time_single_prediction(model_path, data, store.vocabulary_path(run_id), config),
        versions={
            "python": platform.python_version(),
            "tensorflow": _tensorflow_version(),
            "keras": keras.__version__,
            "numpy": np.__version__,
            "seed": config.seed,
        },
        model_file=model_path.name,
        note=" ".join(
            filter(None, [start.note, _ending_note(config, progress, schedule, epochs_done), optimizer_note])
        ),
    )
    results["evaluation"]["training"] = schedule.summary()
    start.finish(model, results)
    if not store.complete(run_id, results, worker_pid=pid):  # Reaped or deleted meanwhile.
        for path in (model_path, store.vocabulary_path(run_id), store.optimizer_path(run_id)):
            path.unlink(missing_ok=True)
        return "abandoned"
    return "completed"


def _ending_note(config: RunConfig, progress, schedule, epochs_done: int) -> str:
    """Says how a run ended when its epochs did not end it: its time limit or its budget."""
    if progress.stopped_by_time_limit:
        return f"Stopped at the {config.time_limit_minutes:g}-minute time limit after {epochs_done} epochs."
    if schedule.spent_budget:
        finished = ", its learning-rate schedule finished" if config.lr_schedule != "constant" else ""
        return (
            f"Trained for its {config.time_budget_seconds:g}-second budget: {epochs_done} epochs"
            f"{' (the last one cut short)' if schedule.cut_epoch else ''}{finished}."
        )
    return ""


def evaluate(model, data: PreparedData, is_text: bool) -> dict:
    """Returns test loss and accuracy, per-class accuracy, the confusion matrix and
    the misclassified test items (index, predicted label), from one pass over the test
    set (the loss is the model's own loss of those predictions, as `evaluate` gives)."""
    import keras

    scores = model.predict(data.x_test, batch_size=256, verbose=0)
    targets = data.y_test.reshape(len(scores), -1) if is_text else data.y_test
    test_loss = float(np.mean(keras.losses.get(model.loss)(targets, scores)))
    if is_text:
        predicted = (scores.reshape(-1) >= 0.5).astype(int)
        classes = 2
    else:
        predicted = scores.argmax(axis=1)
        classes = scores.shape[1]
    truth = data.y_test.astype(int)
    confusion = np.zeros((classes, classes), dtype=int)
    np.add.at(confusion, (truth, predicted), 1)
    per_class = confusion.diagonal() / np.maximum(confusion.sum(axis=1), 1)
    wrong = np.flatnonzero(predicted != truth)
    return {
        "test_loss": test_loss,
        "test_accuracy": float(np.mean(predicted == truth)),
        "evaluation": {
            "per_class_accuracy": per_class.round(4).tolist(),
            "confusion_matrix": confusion.tolist(),
            "misclassified": [[int(i), int(predicted[i])] for i in wrong],
            "test_size": int(len(truth)),
        },
    }


def save_atomically(model, path: Path) -> None:
    """Saves a model as `.keras` via a temporary file, so no half-written model exists.

    The file holds the architecture and weights, not the optimizer's state (Adam's
    two moments would triple it), which is kept apart (`core.continuation`): the app
    loads models to predict, and only a continued run reads the state.

    Raises:
        DiskFull: the disk has too little free space for the model (nothing written).
    """
    import keras

    check_free_space(path.parent, model.count_params())
    lean = keras.Sequential(
        [keras.Input(shape=model.input_shape[1:], dtype=model.inputs[0].dtype), *model.layers],
        name=model.name,
    )  # The same layers and weights, never compiled: no optimizer to save.
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.tmp.keras")
    try:
        lean.save(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def time_single_prediction(
    model_path: Path, data: PreparedData, vocabulary_path: Path, config: RunConfig
) -> float:
    """Returns the median milliseconds of one single-item prediction through the
    saved model, loaded the way the app loads it."""
    from core.predict import Predictor

    predictor = Predictor(model_path, vocabulary_path if config.is_text else None, config.max_words)
    sample = data.x_test[:1]
    predictor.predict_prepared(sample)  # The first call traces the function; it is not timed.
    timings = []
    for _ in range(30):
        start = time.perf_counter()
        predictor.predict_prepared(sample)
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)


def _seconds_per_epoch(store: RunStore, run_id: int) -> float | None:
    seconds = store.epochs([run_id])["seconds"]
    return float(seconds.median()) if len(seconds) else None


def _tensorflow_version() -> str:
    import tensorflow as tf

    return tf.__version__
