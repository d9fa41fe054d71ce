"""Widgets several pages show: a preset's train button, every model's reading, a digit gallery."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence

import numpy as np
import pandas as pd
import streamlit as st

from core.architecture import ConfigError
from core.datasets import DatasetUnavailable
from core.presets import get_preset
from core.runs import submit
from ui.format import distinct_names
from ui.images import enlarge
from ui.readings_table import readings_table_html
from ui.resources import completed_runs, get_store

MAX_MODELS = 12
# A CNN and a dense network (an MLP) that both train in seconds, for "CNN against MLP".
DEMO_PRESETS = ("Quick CNN", "DNN 128-128")


def train_preset_button(preset_name: str, label: str, key: str) -> None:
    """A button that queues a preset and opens the Train page on its run."""
    if st.button(label, key=key, type="primary"):
        try:
            run_id = submit(get_store(), get_preset(preset_name).config, preset_name)
        except (ConfigError, DatasetUnavailable) as error:
            st.error(str(error))
            return
        st.switch_page("app_pages/train.py", query_params={"run": str(run_id)})


def demo_button(key: str) -> None:
    """A button that trains a quick CNN and a quick dense network (an MLP), one after the
    other, and opens the Draw page on both (?demo=CNN,MLP), to see where they disagree."""
    if not st.button(
        "🆚 CNN against MLP",
        key=key,
        help="Trains Quick CNN and a small dense network (DNN 128-128), about a minute for both, "
        "then opens Draw with both side by side.",
    ):
        return
    run_ids = []
    for preset_name in DEMO_PRESETS:
        try:
            run_ids.append(submit(get_store(), get_preset(preset_name).config, preset_name))
        except (ConfigError, DatasetUnavailable) as error:
            st.error(str(error))
            return
    st.switch_page("app_pages/draw.py", query_params={"demo": ",".join(str(i) for i in run_ids)})


def trained_models(
    dataset: str, missing: str, preset_name: str, label: str, key: str, also: Callable[[], None] | None = None
) -> pd.DataFrame:
    """Returns the completed runs of a dataset, best first; with none, says `missing`,
    offers a button that trains the preset (and whatever `also` shows), and stops the page."""
    runs = completed_runs(dataset)
    if runs.empty:
        st.info(missing)
        train_preset_button(preset_name, label, key=key)
        if also is not None:
            also()
        st.stop()
    return runs


def readings_table(rows: list[dict], score_column: str, highlight: Collection[int] = ()) -> None:
    """Shows one row per model: its reading, a score bar and its test accuracy, as a
    plain HTML table (ui/readings_table.py) that fits a phone's width. The rows of the
    runs in `highlight` stand out."""
    st.html(readings_table_html(rows, score_column, highlight))


def every_models_reading(
    runs: pd.DataFrame,
    answers: Mapping[int, object],
    describe: Callable[[object, dict], dict],
    unavailable: dict,
    score_column: str,
    highlight: Collection[int] = (),
) -> None:
    """Shows what each model made of one input, a row per model.

    Args:
        runs: completed runs, best first.
        answers: each run's answer from the model reader, or a sentence saying why
            that model could not read.
        describe: turns a run's answer into reading columns, given the answer and run.
        unavailable: the reading columns of a model that could not read (a 'note'
            column says why).
        score_column: the column shown as a 0-1 bar.
        highlight: the runs whose rows stand out (they read otherwise than the rest).
    """
    rows = []
    names = distinct_names(runs)
    for run in runs.to_dict("records"):
        if run["id"] not in answers:
            continue
        model = {"model": names[int(run["id"])], "run": run["id"]}
        answer = answers[run["id"]]
        if isinstance(answer, str):
            rows.append(model | unavailable | {"note": answer})
            continue
        rows.append(model | describe(answer, run) | {"test accuracy": run["test_accuracy"]})
    readings_table(rows, score_column, highlight=highlight)


def digit_gallery(images: Sequence[np.ndarray], captions: Sequence[str], factor: int) -> None:
    """Shows images enlarged `factor` times above their captions, side by side in rows
    that wrap to the page's width: a dozen to a row on a laptop, five on a phone."""
    row = st.container(horizontal=True, gap="small")
    for image, caption in zip(images, captions, strict=True):
        row.image(enlarge(image, factor), caption=caption)
