"""The personal set in the pages: saving a drawing with its label from the Draw page,
every model's score on the saved drawings, and "Teach it my handwriting"."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import streamlit as st

from core.datasets import DatasetUnavailable
from core.handwriting import model_view, stroke_png
from core.personal_scores import PersonalScore, ReadingsCache
from core.runs import submit_fine_tune
from core.store import RunStore, StoreError, default_home
from ui.format import as_text, run_label
from ui.resources import completed_runs, get_reader, get_store

SCORED_RUNS = 40  # Each scored run is a model the reader loads: Compare scores the best this many.
SAVED = "saved_drawing"  # (fingerprint of the drawing, its id, its label) of the last one saved.
SAVE_AS = "save_as"  # The digit picked for the drawing now shown (the widget's key).
SAVE_AS_DRAWING = "save_as_drawing"  # The fingerprint of the drawing that pick is for.
DIGITS = tuple(range(10))  # The labels a drawing may have.


def save_buttons(prepared: np.ndarray, picture: np.ndarray) -> None:
    """Ten digits in one row under a reading: one click saves the drawing to My drawings
    with that digit as its label; once saved, another click relabels it.

    Args:
        prepared: the 28x28 the model saw (0-1).
        picture: the drawing as made (the canvas, or the uploaded picture).
    """
    fingerprint = hashlib.sha256(model_view(prepared).tobytes()).hexdigest()
    saved = st.session_state.get(SAVED)
    saved = saved if saved is not None and saved[0] == fingerprint else None
    if saved:
        st.caption(f"✅ Saved in My drawings as a {saved[2]}. Wrong? Click the right digit.")
    else:
        st.caption("Right or wrong? Click the digit it is: it is saved in My drawings.")
    if st.session_state.get(SAVE_AS_DRAWING) != fingerprint:  # A new drawing: nothing picked yet.
        st.session_state[SAVE_AS_DRAWING] = fingerprint
        st.session_state[SAVE_AS] = saved[2] if saved else None
    label = st.segmented_control("Save as", DIGITS, key=SAVE_AS, label_visibility="collapsed")
    if label is not None and (saved is None or label != saved[2]):
        save_drawing(fingerprint, prepared, picture, label, saved)


def save_drawing(fingerprint: str, prepared: np.ndarray, picture: np.ndarray, label: int, saved) -> None:
    """Saves the drawing as `label`, or relabels it if this very drawing was saved."""
    store = get_store()
    try:
        if saved:
            store.relabel_drawing(saved[1], label)
            drawing_id = saved[1]
            st.toast(f"Now saved as a {label}", icon="✏️")
        else:
            drawing_id = store.add_drawing(label, model_view(prepared), stroke_png(picture))
            st.toast(f"Saved as a {label} in My drawings", icon="📒")
    except StoreError as error:
        st.error(as_text(error))
        return
    st.session_state[SAVED] = (fingerprint, drawing_id, label)
    st.rerun()


@st.cache_resource
def _readings_cache(home: str) -> ReadingsCache:
    return ReadingsCache(get_reader())


def personal_scores(run_ids: list[int]) -> dict[int, PersonalScore | str]:
    """Returns each digit run's score on the saved drawings (or why it cannot read);
    empty when there is no drawing. Each model reads each drawing once per server."""
    drawings = get_store().drawings()
    if not drawings or not run_ids:
        return {}
    with st.spinner("Reading your drawings..."):
        return _readings_cache(str(default_home())).scores(run_ids, drawings)


def with_personal_scores(table: pd.DataFrame) -> pd.DataFrame:
    """Returns the runs table with a `my_drawings` column: the accuracy on the saved
    drawings (0-1) of the first SCORED_RUNS completed digit runs in the table (best
    first; a filter reaches the others); empty for other runs and without drawings."""
    completed = (table["status"] == "completed") & (table["config_error"] == "")
    digit_runs = table[completed & (table["dataset"] == "mnist")].head(SCORED_RUNS)
    scores = personal_scores([int(run_id) for run_id in digit_runs["id"]])
    accuracy = {run_id: s.accuracy for run_id, s in scores.items() if isinstance(s, PersonalScore)}
    return table.assign(my_drawings=table["id"].map(lambda run_id: accuracy.get(int(run_id), np.nan)))


def queue_fine_tune(store: RunStore, parent_run_id: int) -> int:
    """Queues "Teach it my handwriting": the run fine-tuned on the saved drawings, as a
    new run the worker trains (`core.runs.submit_fine_tune`). Returns the new run's id.

    Raises:
        ConfigError: fewer than 3 drawings of some digit, or a run that cannot be
            fine-tuned (the message says why); nothing is queued.
    """
    return submit_fine_tune(store, parent_run_id)


def teach_button(store: RunStore) -> None:
    """A completed digit run to choose and "Teach it my handwriting": queues its
    fine-tuning and opens the Train page on the new run, or says why it cannot."""
    runs = completed_runs("mnist")
    if runs.empty:
        st.caption("Train a digit model first: then it can learn your handwriting here.")
        return
    labels = {int(run["id"]): run_label(run) for run in runs.to_dict("records")}
    parent = st.selectbox("Model to teach", list(labels), format_func=labels.get, key="teach_run")
    st.caption(
        "Fine-tunes a copy of it on your drawings (augmented) mixed with MNIST digits, as a new "
        "run; it needs at least 3 drawings of every digit."
    )
    if not st.button("🎓 Teach it my handwriting", key="teach"):
        return
    try:
        run_id = queue_fine_tune(store, parent)
    except (ValueError, DatasetUnavailable, StoreError) as error:
        st.error(as_text(error))
        return
    st.switch_page("app_pages/train.py", query_params={"run": str(run_id)})
