"""What every page shares, loaded once per server: the run store, datasets, and the
model reader (a separate process: the web server never loads a model itself)."""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from core.datasets import Dataset, load_dataset
from core.reader import ReaderClient, ReaderUnavailable
from core.store import RunStore, default_home
from core.text import load_vocabulary
from core.worker import ensure_workers

WORKER_CHECK_SECONDS = 2.0
_last_check = 0.0


def get_store() -> RunStore:
    """Returns the run store of the configured data directory (one per server)."""
    return _store(str(default_home()))


@st.cache_resource
def _store(home: str) -> RunStore:
    return RunStore(home)


@st.cache_resource(show_spinner="Loading the dataset...")
def get_dataset(name: str) -> Dataset:
    """Returns a loaded dataset (cached for the server's life).

    Raises:
        DatasetUnavailable: no source of the dataset works here.
    """
    return load_dataset(name)


def keep_workers_alive() -> None:
    """Marks runs of dead workers failed and starts a worker for waiting runs
    (at most every 2 seconds per server: every rerun of every page calls it)."""
    global _last_check
    store = get_store()
    if store.read_only_reason:  # Nothing can be written: no run can change or start.
        return
    if time.monotonic() - _last_check >= WORKER_CHECK_SECONDS:
        _last_check = time.monotonic()
        ensure_workers(store)


def completed_runs(dataset: str) -> pd.DataFrame:
    """Returns the completed runs trained on a dataset, best first (runs whose stored
    settings cannot be read are left out: Compare shows them, to be deleted)."""
    runs = get_store().runs_table(dataset=dataset, status="completed")
    return runs[runs["config_error"] == ""]


def get_reader() -> ReaderClient:
    """Returns the client of the model reader process of the configured data directory."""
    return _reader(str(default_home()))


@st.cache_resource
def _reader(home: str) -> ReaderClient:
    return ReaderClient(get_store())


def warm_reader(run_ids: list[int]) -> None:
    """Has the model reader start and load these runs' models while the user draws or
    types; nothing when the store is read-only or the reader cannot start (a reading
    then says why)."""
    if get_store().read_only_reason:
        return
    with contextlib.suppress(OSError, ReaderUnavailable):
        get_reader().warm_up(run_ids)


def read_digits(run_ids: list[int], prepared) -> dict[int, np.ndarray | str]:
    """Returns each run's class probabilities for one prepared 28x28 digit (0-1), or a
    sentence saying why that model cannot read it."""
    with st.spinner("Reading..."):
        answers = get_reader().read_images(run_ids, prepared[None])
    return {run_id: answer if isinstance(answer, str) else answer[0] for run_id, answer in answers.items()}


def read_reviews(run_ids: list[int], review: str) -> dict[int, float | str]:
    """Returns each run's P(positive) for a review, or why that model cannot read it."""
    with st.spinner("Reading..."):
        answers = get_reader().read_texts(run_ids, [review])
    return {
        run_id: answer if isinstance(answer, str) else float(answer[0]) for run_id, answer in answers.items()
    }


def explain_digit(
    run_id: int, prepared: np.ndarray, target: int | None, allow: Callable[[], bool] | None = None
) -> dict | str | None:
    """Returns the "Inside the model" views of a prepared digit for one run (see
    `ReaderClient.explain_image`), or why there are none; None when `allow` (a rate
    limit, asked only for a new question) refuses."""
    image = np.asarray(prepared, dtype=np.float32)
    question = ("digit", run_id, _model_stamp(run_id), target, hashlib.sha256(image.tobytes()).hexdigest())
    with st.spinner("Looking inside the model..."):
        return answer_once(
            "last_explanation", question, lambda: get_reader().explain_image(run_id, image, target), allow
        )


def explain_review(run_id: int, review: str, allow: Callable[[], bool] | None = None):
    """Returns a sentiment model's verdict on a review word by word (a `WordReading`),
    or why there is none; None when `allow` refuses."""
    question = ("review", run_id, _model_stamp(run_id), review)
    with st.spinner("Looking inside the model..."):
        return answer_once(
            "last_explanation", question, lambda: get_reader().explain_text(run_id, review), allow
        )


def _model_stamp(run_id: int) -> int:
    try:
        return get_store().model_path(run_id).stat().st_mtime_ns
    except OSError:
        return 0


def answer_once(slot: str, question, ask: Callable, allow: Callable[[], bool] | None = None):
    """Answers the session's last question kept in `slot` again without asking (a rerun
    that changed nothing else); a new one is asked, if `allow` (a rate limit) permits,
    else returns None."""
    last = st.session_state.get(slot)
    if last is not None and last[0] == question:
        return last[1]
    if allow is not None and not allow():
        return None
    answer = ask()
    st.session_state[slot] = (question, answer)
    return answer


def model_vocabulary(run_id: int) -> frozenset[str] | None:
    """Returns the words a sentiment model knows (its vocabulary file, read once per run
    without TensorFlow), or None when the run has no readable vocabulary."""
    path = get_store().vocabulary_path(run_id)
    try:
        modified = path.stat().st_mtime_ns
    except OSError:
        return None
    return _vocabulary(str(path), modified)


@st.cache_resource(max_entries=64, show_spinner=False)
def _vocabulary(path: str, modified: int) -> frozenset[str] | None:
    try:
        return frozenset(load_vocabulary(Path(path)))
    except (OSError, ValueError, TypeError):
        return None
