"""The Compare page's filters (text, status, dataset, family, sweep, tag) and a run's
note and tags."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.config import DATASETS, FAMILIES
from core.store import MAX_TAGS_LENGTH, MAX_USER_NOTE_LENGTH, RunStore
from ui.format import STATUS_LABELS, dataset_label

SEARCHED_COLUMNS = ("name", "preset", "tags", "user_note")


def all_tags(table: pd.DataFrame) -> list[str]:
    """Returns every tag the runs carry, sorted."""
    tags = table["tags"].dropna().str.split(",").explode().str.strip()
    return sorted(set(tags[tags != ""]))


def has_tag(tags: pd.Series, wanted: list[str]) -> pd.Series:
    """Returns, per run, whether its comma-separated tags include any of `wanted`."""
    split = tags.fillna("").str.split(",").explode().str.strip()
    return split.isin(wanted).groupby(level=0).any().reindex(tags.index, fill_value=False)


def matches_text(table: pd.DataFrame, text: str) -> pd.Series:
    """Returns, per run, whether its name, preset, tags or note contain `text` (any case)."""
    needle = text.strip().lower()
    found = pd.Series(False, index=table.index)
    for column in SEARCHED_COLUMNS:
        found |= table[column].fillna("").str.lower().str.contains(needle, regex=False)
    return found


def filtered(table: pd.DataFrame, sweeps: list[dict]) -> tuple[pd.DataFrame, int | None]:
    """The runs the user's filters keep (all when none is set), and the sweep chosen."""
    text = st.text_input("Search names, tags and notes", key="filter_text", placeholder="e.g. baseline")
    cols = st.columns(4)
    statuses = cols[0].multiselect(
        "Status", list(STATUS_LABELS), format_func=STATUS_LABELS.get, key="filter_status"
    )
    datasets = cols[1].multiselect("Datasets", DATASETS, format_func=dataset_label, key="filter_datasets")
    families = cols[2].multiselect("Families", FAMILIES, key="filter_families")
    tags = cols[3].multiselect("Tags", all_tags(table), key="filter_tags")
    sweep_names = {sweep["id"]: f"#{sweep['id']} {sweep['name']}" for sweep in sweeps}
    sweep_id = (
        st.selectbox(
            "Sweep",
            [None, *sweep_names],
            format_func=lambda i: sweep_names.get(i, "All runs"),
            key="filter_sweep",
        )
        if sweep_names
        else None
    )
    keep = pd.Series(True, index=table.index)
    if text.strip():
        keep &= matches_text(table, text)
    if statuses:
        keep &= table["status"].isin(statuses)
    if datasets:
        keep &= table["dataset"].isin(datasets)
    if families:
        keep &= table["family"].isin(families)
    if tags:
        keep &= has_tag(table["tags"], tags)
    if sweep_id is not None:
        keep &= table["sweep_id"] == sweep_id
    return table[keep], sweep_id


def note_and_tags(store: RunStore, run: dict) -> None:
    """The user's tags and note for one run, saved on a button."""
    run_id = run["id"]
    with st.form(key=f"labels_{run_id}", border=False):
        cols = st.columns([1, 2])
        tags = cols[0].text_input(
            "Tags (comma-separated)", run["tags"], max_chars=MAX_TAGS_LENGTH, key=f"run_tags_{run_id}"
        )
        note = cols[1].text_area(
            "Note", run["user_note"], max_chars=MAX_USER_NOTE_LENGTH, height=68, key=f"run_note_{run_id}"
        )
        if st.form_submit_button("💾 Save tags and note", key=f"save_labels_{run_id}"):
            store.set_labels(run_id, tags, note)
            st.toast(f"Run #{run_id}: tags and note saved")
            st.rerun()
