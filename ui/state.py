"""What every page shares: the run store, datasets and loaded models, cached once."""

from __future__ import annotations

import re
import time

import pandas as pd
import streamlit as st

from core.architecture import validate
from core.config import RunConfig
from core.datasets import Dataset, load_dataset
from core.store import RunStore, default_home
from core.worker import ensure_workers

WORKER_CHECK_SECONDS = 2.0
_last_check = 0.0
DATASET_LABELS = {
    "mnist": "MNIST digits",
    "fashion_mnist": "Fashion-MNIST",
    "sentiment": "Movie-review sentiment",
}
STATUS_LABELS = {
    "queued": "⏳ queued",
    "running": "🏃 running",
    "completed": "✅ completed",
    "failed": "❌ failed",
    "cancelled": "⏹️ stopped",
}


def get_store() -> RunStore:
    """Returns the run store of the configured data directory (one per server)."""
    return _store(str(default_home()))


@st.cache_resource
def _store(home: str) -> RunStore:
    return RunStore(home)


@st.cache_resource(show_spinner="Loading the dataset...")
def get_dataset(name: str) -> Dataset:
    """Returns a loaded dataset (cached for the server's life)."""
    return load_dataset(name)


def start_run(config: RunConfig, name: str = "") -> int:
    """Validates and queues a run, makes sure a worker will train it; returns its id.

    Raises:
        ValueError: the config is invalid (the message says what to change).
    """
    store = get_store()
    run_id = store.create_run(config, validate(config), name)
    ensure_workers(store)
    return run_id


def keep_workers_alive() -> None:
    """Marks runs of dead workers failed and starts a worker for waiting runs
    (at most every 2 seconds per server: every rerun of every page calls it)."""
    global _last_check
    if time.monotonic() - _last_check >= WORKER_CHECK_SECONDS:
        _last_check = time.monotonic()
        ensure_workers(get_store())


def completed_runs(dataset: str):
    """Returns the completed runs trained on a dataset, best first."""
    return get_store().runs_table(dataset=dataset, status="completed")


def run_label(row) -> str:
    """Returns 'Name (#id, 97.2 %)' for a run row."""
    accuracy = row["test_accuracy"]
    score = f", {accuracy:.1%}" if pd.notna(accuracy) else ""
    return f"{row['name']} (#{row['id']}{score})"


MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!<>|~$:=])")


def field_key(field: str, dataset: str, model: str) -> str:
    """The widget key of a Train page hyperparameter field for a dataset and model,
    e.g. 'epochs--mnist-mlp-32'."""
    return f"{field}--" + re.sub(r"[^a-z0-9]+", "-", f"{dataset} {model}".lower()).strip("-")


def as_text(text: str) -> str:
    """Escapes user text (a run name) so Markdown shows it as typed, never as markup."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", str(text))


@st.cache_resource(max_entries=16, show_spinner="Loading the model...")
def _load_predictor(run_id: int, modified: float):
    from core.predict import load_predictor

    return load_predictor(get_store(), run_id)


def get_predictor(run_id: int):
    """Returns the cached predictor of a completed run (reloaded if its file changed).

    Raises:
        ModelUnavailable: the run or its model file is gone or unusable.
    """
    from core.predict import ModelUnavailable

    path = get_store().model_path(run_id)
    try:
        modified = path.stat().st_mtime
    except OSError as error:
        raise ModelUnavailable(f"The model file of run {run_id} is missing: retrain the run.") from error
    return _load_predictor(int(run_id), modified)


def readings_table(rows: list[dict], score_column: str, key: str) -> None:
    """Shows one row per model: its reading, a score bar and its test accuracy."""
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        key=key,
        column_config={
            score_column: st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="percent"),
            "test accuracy": st.column_config.NumberColumn(format="percent"),
        },
    )


def train_preset_button(preset_name: str, label: str, key: str) -> None:
    """A button that queues a preset and opens the Train page on its run."""
    from core.presets import get_preset

    if st.button(label, key=key, type="primary"):
        run_id = start_run(get_preset(preset_name).config, preset_name)
        st.switch_page("app_pages/train.py", query_params={"run": str(run_id)})
