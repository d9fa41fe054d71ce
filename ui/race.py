"""The Train page's Race mode: several presets, the same budget in seconds each, and
their results side by side, with curves against seconds of training."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.architecture import ConfigError
from core.config import DATASETS, dataset_facts
from core.datasets import DatasetUnavailable
from core.presets import presets_for
from core.race import DEFAULT_BUDGET_SECONDS, MAX_RACERS, RACE_PRESETS, submit_race
from core.store import ACTIVE, RunStore
from ui.charts import curves_figure, with_elapsed_seconds
from ui.format import STATUS_LABELS, dataset_label
from ui.presenter import readable
from ui.resources import keep_workers_alive

RACE = "race"  # The query parameter that names the race's runs: ?race=12,13,14.
IMAGE_DATASETS = tuple(name for name in DATASETS if not dataset_facts(name).is_text)


def race_mode(store: RunStore) -> None:
    """The race's settings and Start, then the race in the address, if any."""
    race_form(store)
    run_ids = race_in_address()
    if run_ids:
        st.divider()
        active = any((run := store.get_run(i)) is not None and run["status"] in ACTIVE for i in run_ids)
        st.fragment(race_results, run_every=1.0 if active else None)(store, run_ids, active)


def race_in_address() -> list[int]:
    """The runs of the race in the address (?race=12,13), at most `MAX_RACERS`."""
    parts = st.query_params.get(RACE, "").split(",")
    return [int(part) for part in parts if part.isdecimal() and len(part) < 12][:MAX_RACERS]


def race_form(store: RunStore) -> None:
    """Dataset, models, budget and Start; a refusal shows under the field it concerns."""
    st.caption(
        "Every model trains for the same number of seconds, one after another. Each one's "
        "learning-rate schedule follows the share of its budget spent, so it ends at the finish line."
    )
    slots = {}
    dataset = st.selectbox("Dataset", IMAGE_DATASETS, format_func=dataset_label, key="race_dataset")
    names = [preset.name for preset in presets_for(dataset)]
    chosen = st.multiselect(
        "Models",
        names,
        default=[n for n in RACE_PRESETS if n in names],
        key="race_presets",
        max_selections=MAX_RACERS,
    )
    slots["presets"] = st.empty()
    cols = st.columns(2)
    budget = cols[0].number_input(
        "Budget per model (seconds)", value=DEFAULT_BUDGET_SECONDS, step=15, key="race_budget"
    )
    slots["time_budget_seconds"] = cols[0].empty()
    limit = cols[1].number_input("Train on first N items (0 = all)", value=0, step=500, key="race_limit")
    slots["limit"] = cols[1].empty()
    if not st.button("🏁 Start the race", type="primary", key="start_race"):
        return
    try:
        run_ids = submit_race(store, chosen, float(budget), dataset, int(limit))
    except ConfigError as error:
        slots.get(error.field, st).error(str(error), icon="⚠️")
        return
    except DatasetUnavailable as error:
        st.error(str(error))
        return
    st.query_params[RACE] = ",".join(map(str, run_ids))
    st.rerun()


def race_results(store: RunStore, run_ids: list[int], polling: bool) -> None:
    """The racers side by side: a row each, and their curves against seconds of training."""
    keep_workers_alive()
    runs = [run for run in map(store.get_run, run_ids) if run is not None]
    if not runs:
        st.warning("The runs of this race were deleted.")
        return
    st.subheader(
        f"Race: {runs[0]['config'].time_budget_seconds:g} seconds each" if runs[0]["config"] else "Race"
    )
    st.dataframe(race_table(runs), hide_index=True, key="race_table")
    epochs = store.epochs([run["id"] for run in runs])
    if len(epochs):
        names = {run["id"]: f"#{run['id']} {racer_name(run)}" for run in runs}
        st.plotly_chart(
            readable(curves_figure(with_elapsed_seconds(epochs), names, x="elapsed")), key="race_curves"
        )
    if polling and not any(run["status"] in ACTIVE for run in runs):
        st.rerun()  # The race ended: rerun the page so polling stops.


def race_table(runs: list[dict]) -> pd.DataFrame:
    """One row per racer: status, epochs trained, accuracy, seconds and where its schedule ended."""
    rows = []
    for run in runs:
        training = run["evaluation"].get("training", {})
        rows.append(
            {
                "run": run["id"],
                "model": racer_name(run),
                "status": STATUS_LABELS.get(run["status"], run["status"]),
                "epochs": run["epoch"],
                "test accuracy": _percent(run["test_accuracy"]),
                "best val accuracy": _percent(run["best_val_accuracy"]),
                "seconds": None if run["total_seconds"] is None else round(run["total_seconds"]),
                "schedule done": _percent(training.get("schedule_progress")),
            }
        )
    return pd.DataFrame(rows)


def racer_name(run: dict) -> str:
    """A racer's model: its preset (the run's name says "Race 60 s: ..." for all of them)."""
    return run["config"].preset if run["config"] and run["config"].preset else run["name"]


def _percent(value) -> str:
    return "–" if value is None else f"{value:.2%}"
