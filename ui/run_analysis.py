"""Compare at a glance: for a sweep or selected runs, hyperparameters against test
accuracy (parallel coordinates), accuracy against size and time with the Pareto front,
and their settings side by side."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from core.store import RunStore
from ui.charts import parallel_coordinates_figure, tradeoff_figure
from ui.presenter import readable

MAX_ANALYSED = 500  # More lines than this read as a blur, and cost the browser.
MAX_SIDE_BY_SIDE = 12
AXES = {"learning_rate": "learning rate", "batch_size": "batch", "epochs": "epochs", "params": "parameters"}


def layers_text(layers: list[dict]) -> str:
    """Writes a layer list as 'conv 16 · maxpool · dense 64'."""
    parts = []
    for layer in layers:
        size = layer.get("units") or layer.get("filters") or layer.get("rate") or ""
        parts.append(f"{layer['kind']} {size}".strip())
    return " · ".join(parts)


def settings_table(store: RunStore, run_ids: list[int], only_differences: bool) -> pd.DataFrame:
    """Returns each run's settings as a column (layers written out), one row per setting;
    with `only_differences`, only the settings that are not the same for all."""
    columns = {}
    for run_id in run_ids:
        run = store.get_run(run_id)
        if run is None or run["config"] is None:
            continue
        settings = json.loads(run["config"].to_json())
        settings["layers"] = layers_text(settings["layers"])
        columns[f"#{run_id} {run['name']}"] = {key: str(value) for key, value in sorted(settings.items())}
    table = pd.DataFrame(columns)
    if only_differences and len(table.columns) > 1:
        table = table[table.nunique(axis=1) > 1]
    return table


def at_a_glance(store: RunStore, table: pd.DataFrame, selected: list[int], sweep_id: int | None) -> None:
    """The selected runs (else the chosen sweep's) compared at a glance."""
    st.subheader("At a glance")
    runs = (
        table[table["id"].isin(selected)] if selected else table if sweep_id is not None else table.iloc[:0]
    )
    if runs.empty:
        st.caption("Select runs in the table, or choose a sweep above, to compare them at a glance.")
        return
    scored = runs.dropna(subset=["test_accuracy"]).head(MAX_ANALYSED)
    if len(scored) >= 2:
        varied = {column: label for column, label in AXES.items() if scored[column].nunique() > 1}
        figure = parallel_coordinates_figure(
            scored, varied or AXES, "test_accuracy", "test accuracy", log=("learning_rate", "params")
        )
        st.plotly_chart(readable(figure), key="glance_parallel")
        left, right = st.columns(2)
        left.markdown("**Accuracy against size**")
        left.plotly_chart(
            readable(tradeoff_figure(scored, "params", "parameters", "test_accuracy", log_x=True)),
            key="glance_params",
        )
        right.markdown("**Accuracy against training time**")
        right.plotly_chart(
            readable(tradeoff_figure(scored, "total_seconds", "training seconds", "test_accuracy")),
            key="glance_seconds",
        )
        st.caption(
            "The orange line joins the Pareto front: no other run is both smaller (or faster) and better."
        )
    else:
        st.caption("The plots need two runs with a test accuracy (pruned and stopped runs have none).")
    side_by_side = [int(i) for i in runs["id"].head(MAX_SIDE_BY_SIDE)]
    only_differences = st.toggle("Only what differs", value=True, key="only_differences")
    settings = settings_table(store, side_by_side, only_differences)
    if len(runs) > MAX_SIDE_BY_SIDE:
        st.caption(f"Settings of the first {MAX_SIDE_BY_SIDE} of {len(runs)} runs.")
    st.dataframe(settings, key="settings_side_by_side")
