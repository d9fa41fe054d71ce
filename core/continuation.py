"""Where a run starts: fresh weights, or its parent's model (and optimizer state).

A completed run keeps its optimizer's state beside its model (`run-N.optimizer.npz`:
the optimizer's own variables, nothing else), so a run that continues it goes on
from the same weights, step count and moments. Fine-tuned runs start from the
parent's weights with a fresh optimizer (`core/fine_tune.py`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.datasets import Dataset
from core.model_files import MODEL_FILE_MARGIN_BYTES
from core.store import RunStore
from core.training import PreparedData, prepare_data


@dataclass
class Start:
    """A run's model and data, ready to fit.

    Attributes:
        model: the compiled Keras model.
        data: the splits it trains, validates and is tested on.
        note: a sentence for the run's note (where it started), or "".
        finish: adds what this kind of run reports to its results (a dict with
            "evaluation" and "note"), given the trained model.
    """

    model: object
    data: PreparedData
    note: str = ""
    finish: Callable[[object, dict], None] = field(default=lambda model, results: None)


def start_run(store: RunStore, run: dict, dataset: Dataset) -> Start:
    """Returns the model and data a claimed run starts with, as its config says.

    Raises:
        ModelUnavailable: the parent's model cannot be loaded.
        ConfigError: a fine-tune finds too few drawings (deleted since it was queued).
        ValueError: the parent's optimizer state does not fit its model.
    """
    from core.models import build_model

    config = run["config"]
    if config.start_from == "fine_tune":
        from core.fine_tune import fine_tune_start

        return fine_tune_start(store, run, dataset)
    if config.start_from == "continue":
        return continued_start(store, run, dataset)
    return Start(build_model(config), prepare_data(dataset, config))


def continued_start(store: RunStore, run: dict, dataset: Dataset) -> Start:
    """The parent's model and optimizer state, and the same data as the parent's."""
    from core.text import load_vocabulary

    config, parent_id = run["config"], run["parent_run_id"]
    model = parent_model(store, run)
    restored = load_optimizer_state(model, store.optimizer_path(parent_id))
    vocabulary = load_vocabulary(store.vocabulary_path(parent_id)) if config.is_text else None
    data = prepare_data(dataset, config, vocabulary)
    fresh = "" if restored else " with a fresh optimizer (the parent's optimizer state was not saved)"
    return Start(model, data, f"Continued from run {parent_id} after epoch {config.initial_epoch}{fresh}.")


def parent_model(store: RunStore, run: dict):
    """Returns the parent run's model, loaded safely and compiled with a new optimizer
    of the run's kind and learning rate.

    Raises:
        ModelUnavailable: the parent or its model file is gone or cannot be read.
    """
    import keras

    from core.models import loss_name, make_optimizer
    from core.predict import ModelUnavailable, load_predictor

    config, parent_id = run["config"], run["parent_run_id"]
    if parent_id is None:
        raise ModelUnavailable(f"Run {run['id']} should start from another run but names none.")
    keras.utils.set_random_seed(config.seed)
    try:
        model = load_predictor(store, parent_id).model
    except ModelUnavailable as error:
        raise ModelUnavailable(f"Cannot start from run {parent_id}: {error}") from error
    model.compile(optimizer=make_optimizer(config), loss=loss_name(config), metrics=["accuracy"])
    return model


def save_optimizer_state(model, path: Path) -> str:
    """Saves the optimizer's variables (step count, learning rate, moments) as `.npz`,
    via a temporary file so no half-written state exists.

    Returns:
        "", or when the disk has no room for it (Adam's state is twice the weights), a
        sentence for the run's note saying it was not kept.
    """
    state: dict[str, np.ndarray] = {}
    model.optimizer.save_own_variables(state)
    needed = sum(value.nbytes for value in state.values()) + MODEL_FILE_MARGIN_BYTES
    if shutil.disk_usage(path.parent).free < needed:
        return "Its optimizer state was not kept (the disk is nearly full): it would go on with a fresh one."
    temporary = path.with_name(f".{path.name.removesuffix('.npz')}.{os.getpid()}.tmp.npz")
    try:
        np.savez(temporary, **state)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return ""


def load_optimizer_state(model, path: Path) -> bool:
    """Loads a saved optimizer state into a compiled model's optimizer; returns False
    (changing nothing) when there is no saved state (a run from before it was kept).

    Raises:
        ValueError: the saved state does not fit the model (another architecture).
    """
    if not path.is_file():
        return False
    with np.load(path, allow_pickle=False) as saved:
        state = {key: saved[key] for key in saved.files}
    optimizer = model.optimizer
    optimizer.build(model.trainable_variables)
    shapes = [tuple(variable.shape) for variable in optimizer.variables]
    saved_shapes = [tuple(state[str(i)].shape) if str(i) in state else None for i in range(len(state))]
    if saved_shapes != shapes:
        raise ValueError(f"The saved optimizer state {path.name} does not fit this model.")
    optimizer.load_own_variables(state)
    return True
