"""Runs that start from a completed run (their parent): the configs of a continued and
of a fine-tuned run, and what makes a parent or a set of drawings fit for them.

No TensorFlow here: pages import it through `core.runs`. The training side is in
`core/continuation.py` and `core/fine_tune.py`.
"""

from __future__ import annotations

from collections import Counter

from core.config import MAX_EPOCHS, RunConfig
from core.layers import ConfigError
from core.store import RunStore

MIN_DRAWINGS_PER_DIGIT = 3
FINE_TUNE_EPOCHS = 3
# A continued cosine run restarts its schedule at a tenth of the parent's rate (a gentle
# warm restart: it refines what the parent learned instead of shaking it up); a fine-tune
# trains at a tenth of the parent's rate, constant.
RESTART_RATE_FACTOR = 0.1


def completed_parent(store: RunStore, run_id: int, purpose: str) -> dict:
    """Returns a completed run with a readable config and its model file.

    Args:
        store: the run store.
        run_id: the parent run.
        purpose: what the parent is for, e.g. "continued" (for the messages).

    Raises:
        ConfigError: (field "parent") the run is missing, not completed, unreadable or
            has no model file; the message says which.
    """
    run = store.get_run(run_id)
    if run is None:
        raise ConfigError("parent", f"Run {run_id} does not exist (it may have been deleted).")
    if run["status"] != "completed":
        status = run["status"]
        raise ConfigError("parent", f"Run {run_id} is {status}: only a completed run can be {purpose}.")
    if run["config"] is None:
        raise ConfigError("parent", f"Run {run_id}'s settings cannot be read ({run['config_error']}).")
    if not store.model_path(run_id).is_file():
        raise ConfigError("parent", f"Run {run_id}'s model file is missing, so it cannot be {purpose}.")
    return run


def continuation_config(parent: dict, epochs: int, learning_rate: float | None = None) -> RunConfig:
    """Returns the config of a run that trains a parent `epochs` more epochs.

    Its epochs are numbered on from the parent's last; it has no time budget (its
    epochs decide). Its learning rate is `learning_rate`, else the parent's, or a
    tenth of it when the parent followed a cosine schedule (which restarts over the
    new epochs).

    Raises:
        ConfigError: (field "epochs") fewer than 1 epoch, or more than the most a run
            may reach.
    """
    config, done = parent["config"], int(parent["epoch"])
    if epochs < 1:
        raise ConfigError("epochs", f"Continue for at least 1 more epoch; got {epochs}.")
    if done + epochs > MAX_EPOCHS:
        raise ConfigError(
            "epochs",
            f"Run {parent['id']} has trained {done} epochs: it can go on for at most "
            f"{MAX_EPOCHS - done} more (a run trains at most {MAX_EPOCHS}).",
        )
    if learning_rate is None:
        factor = RESTART_RATE_FACTOR if config.lr_schedule == "cosine" else 1.0
        learning_rate = config.learning_rate * factor
    return config.with_changes(
        start_from="continue",
        initial_epoch=done,
        epochs=done + epochs,
        learning_rate=float(learning_rate),
        time_budget_seconds=0.0,
    )


def check_drawings(labels: list[int]) -> None:
    """Refuses a personal set with fewer than `MIN_DRAWINGS_PER_DIGIT` drawings of some digit.

    Raises:
        ConfigError: (field "drawings") the message says which digits need more.
    """
    counts = Counter(int(label) for label in labels)
    short = [digit for digit in range(10) if counts[digit] < MIN_DRAWINGS_PER_DIGIT]
    if not short:
        return
    listed = ", ".join(f"{counts[digit] or 'none'} of the digit {digit}" for digit in short)
    raise ConfigError(
        "drawings",
        f"Teaching a model your handwriting needs at least {MIN_DRAWINGS_PER_DIGIT} drawings of every "
        f"digit (some are kept aside to test it). You have saved {listed}. Draw and save more "
        "on the Draw page.",
    )


def fine_tune_config(parent: dict) -> RunConfig:
    """Returns the config of a run that fine-tunes a digits parent on the user's drawings.

    Raises:
        ConfigError: (field "parent") the parent does not read handwritten digits.
    """
    config, done = parent["config"], int(parent["epoch"])
    if config.dataset != "mnist":
        raise ConfigError(
            "parent",
            f"Run {parent['id']} reads {config.dataset}, not handwritten digits: "
            "choose a run trained on MNIST.",
        )
    if done + FINE_TUNE_EPOCHS > MAX_EPOCHS:
        raise ConfigError("parent", f"Run {parent['id']} has trained {done} epochs, the most a run may.")
    return config.with_changes(
        start_from="fine_tune",
        initial_epoch=done,
        epochs=done + FINE_TUNE_EPOCHS,
        learning_rate=config.learning_rate * RESTART_RATE_FACTOR,
        lr_schedule="constant",
        keep_best_epoch=False,
        time_budget_seconds=0.0,
    )
