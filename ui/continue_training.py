"""The "Continue training" control of a completed run (Train and Compare pages)."""

from __future__ import annotations

import streamlit as st

from core.architecture import ConfigError
from core.config import MAX_EPOCHS
from core.datasets import DatasetUnavailable
from core.runs import submit_continuation
from ui.resources import get_store

DEFAULT_MORE_EPOCHS = 5


def continue_training(run: dict, key: str) -> int | None:
    """Shows, for a completed run, how many more epochs and a button that queues them
    as a new run going on from its model and optimizer state.

    Args:
        run: the run (as `RunStore.get_run` returns it).
        key: a prefix for the widgets' keys.

    Returns:
        The new run's id when one was queued just now, else None.
    """
    if run["status"] != "completed" or run["config"] is None:
        return None
    left = max(MAX_EPOCHS - int(run["epoch"]), 1)
    cols = st.columns([1, 2], vertical_alignment="bottom")
    epochs = cols[0].number_input(
        "More epochs", min_value=1, max_value=left, value=min(DEFAULT_MORE_EPOCHS, left), key=f"{key}_more"
    )
    pressed = cols[1].button(
        "⏩ Continue training",
        key=f"{key}_continue",
        help=f"A new run that goes on from this one's model and optimizer, numbering its epochs "
        f"on from {run['epoch']}.",
    )
    if not pressed:
        return None
    try:
        return submit_continuation(get_store(), run["id"], int(epochs))
    except (ConfigError, DatasetUnavailable) as error:
        st.error(str(error))
        return None
