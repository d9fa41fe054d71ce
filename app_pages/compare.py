"""Compare: every run in one table, curves side by side, one run in detail."""

import numpy as np
import pandas as pd
import streamlit as st

from core.datasets import Dataset, DatasetUnavailable
from core.export import runs_csv
from core.store import ACTIVE, RunStore
from ui.charts import confusion_figure, curves_figure, per_class_figure
from ui.continue_training import continue_training
from ui.format import STATUS_LABELS, run_labels
from ui.handwriting import with_personal_scores
from ui.presenter import PARAMETER, presenter_mode, presenting, readable
from ui.resources import get_dataset, get_store
from ui.run_analysis import at_a_glance
from ui.run_filters import filtered, note_and_tags
from ui.widgets import digit_gallery

GALLERY = 24
TABLE_COLUMNS = [
    "id", "name", "status", "dataset", "family", "params", "epochs", "batch_size",
    "learning_rate", "test_accuracy", "my_drawings", "best_val_accuracy", "seconds_per_epoch",
    "total_seconds", "ms_per_prediction", "device",
]  # fmt: skip
# Columns that start hidden, so that the rest fit a 1280x720 screen: the table's column
# menu (the eye in its toolbar) shows them, and one run's detail below has them. Dataset
# and device start hidden only while every run has the same one.
HIDDEN_AT_FIRST = ("batch_size", "learning_rate", "total_seconds")
HIDDEN_WHILE_ALIKE = ("dataset", "device")
# Short headings, explained on hover.
TABLE_HEADINGS = {
    "id": st.column_config.NumberColumn("run", format="%d"),
    "epochs": st.column_config.TextColumn("epochs", help="Epochs trained / epochs asked for"),
    "params": st.column_config.NumberColumn("params", format="localized", help="Trainable parameters"),
    "batch_size": st.column_config.NumberColumn("batch", format="%d"),
    "learning_rate": st.column_config.NumberColumn("lr", format="%.5g", help="Learning rate"),
    "test_accuracy": st.column_config.NumberColumn(
        "test acc", format="%.2f %%", help="Accuracy on the test set, which training never sees"
    ),
    "my_drawings": st.column_config.NumberColumn(
        "my drawings", format="%.1f %%", help="Accuracy on your own drawings (My drawings)"
    ),
    "best_val_accuracy": st.column_config.NumberColumn(
        "best val", format="%.2f %%", help="Best validation accuracy of any epoch"
    ),
    "seconds_per_epoch": st.column_config.NumberColumn("s/epoch", format="%.1f"),
    "total_seconds": st.column_config.NumberColumn("total s", format="%.0f", help="Training time"),
    "ms_per_prediction": st.column_config.NumberColumn(
        "ms/pred", format="%.2f", help="Milliseconds to read one image or review"
    ),
    "device": st.column_config.TextColumn("device", help="What it trained on: CPU or the GPU's name"),
}


def runs_table(table: pd.DataFrame, audience: bool = False) -> list[int]:
    """The table of runs and (not for the audience) its CSV download; returns the ids
    of the selected rows.

    Formatted by the browser (column formats, a dash for a missing value), not by a
    pandas Styler: styling 5,000 rows took 1.6 s of the server's time on every rerun."""
    shown = table.assign(
        test_accuracy=table["test_accuracy"] * 100,
        best_val_accuracy=table["best_val_accuracy"] * 100,
        my_drawings=table["my_drawings"] * 100,
        status=table["status"].map(STATUS_LABELS).where(table["config_error"] == "", "⚠️ unreadable"),
        epochs=table["epochs_done"].astype(str) + "/" + table["epochs"].astype(str),
    )
    tagged = ["tags"] if (table["tags"] != "").any() else []  # A column only once a run has tags.
    columns = TABLE_COLUMNS + tagged
    if audience:  # The presenter's own drawings, and how each model reads them, stay theirs.
        columns = [column for column in columns if column != "my_drawings"]
    alike = [column for column in HIDDEN_WHILE_ALIKE if shown[column].nunique(dropna=False) <= 1]
    event = st.dataframe(
        shown[columns],
        column_order=[column for column in columns if column not in (*HIDDEN_AT_FIRST, *alike)],
        hide_index=True,
        placeholder="–",  # A value a run does not have (a stopped run's test accuracy).
        key="runs_table",
        on_select="rerun",
        selection_mode="multi-row",
        column_config=TABLE_HEADINGS,
    )
    if not audience:
        # Made when clicked, and no rerun: a rerun would replace the model download's file
        # while a second click (the .keras right after) still asks for the old one.
        st.download_button(
            "⬇️ Download the table (CSV)",
            lambda: runs_csv(table),  # No cell runs as a spreadsheet formula.
            "digit-lab-runs.csv",
            "text/csv",
            key="csv",
            on_click="ignore",
        )
    # A selection made before the rows changed (a filter, a deletion) may point past the end.
    return [int(table.iloc[i]["id"]) for i in event.selection.rows if i < len(table)] if event else []


def curves(store: RunStore, table: pd.DataFrame, selected: list[int]) -> None:
    """Accuracy and loss of the selected runs (else the best three), overlaid."""
    st.subheader("Curves")
    curve_ids = selected or [int(i) for i in table["id"].head(3)]
    if not selected:
        st.caption("The three best runs; select rows in the table to overlay theirs instead.")
    epochs = store.epochs(curve_ids)
    if len(epochs):
        names = {int(i): f"#{i} {name}" for i, name in zip(table["id"], table["name"], strict=True)}
        st.plotly_chart(readable(curves_figure(epochs, names)), key="compare_curves")
    else:
        st.info("These runs have no finished epoch yet.")


def run_in_detail(store: RunStore, table: pd.DataFrame, audience: bool = False) -> None:
    """One run chosen from the table: its data, errors, evaluation and (not for the
    audience) its model download and deletion."""
    st.subheader("One run in detail")
    labels = dict(zip(table["id"].astype(int), run_labels(table), strict=True))
    run_id = st.selectbox("Run", list(labels), format_func=labels.get, key="detail_run")
    run = store.get_run(run_id) if run_id is not None else None
    if run is None:
        st.warning("That run no longer exists.")
        return
    st.caption(f"Data: {run['data_source'] or 'not loaded yet'} · status: {STATUS_LABELS[run['status']]}")
    if run["config"] is None:
        st.error(f"This run's stored settings cannot be read: {run['config_error']} It can only be deleted.")
    if run["status"] == "failed":  # The reason may name server paths: the lab alone shows it.
        st.error("This run failed." if audience else f"This run failed: {run['error']}")
    if run["note"]:
        st.caption(run["note"])
    if run["status"] == "completed" and run["evaluation"]:
        evaluation_of(run)
        if not audience and run["dataset"] == "mnist":
            look_inside_a_mistake(run)
    if not audience:
        note_and_tags(store, run)
        model_and_deletion(store, run)
        continued = continue_training(run, key="compare")
        if continued is not None:
            st.switch_page("app_pages/train.py", query_params={"run": str(continued)})


def evaluation_of(run: dict) -> None:
    """A completed run on the test set: confusion matrix, accuracy per class, mistakes."""
    evaluation = run["evaluation"]
    try:
        data = get_dataset(run["dataset"])
    except DatasetUnavailable as error:
        data = None
        st.warning(str(error))
    class_names = (
        data.class_names if data else tuple(str(i) for i in range(len(evaluation["per_class_accuracy"])))
    )
    left, right = st.columns(2)
    left.markdown("**Confusion matrix**")
    left.plotly_chart(
        readable(confusion_figure(evaluation["confusion_matrix"], class_names)), key="confusion"
    )
    right.markdown("**Accuracy per class**")
    right.plotly_chart(
        readable(per_class_figure(evaluation["per_class_accuracy"], class_names)), key="per_class"
    )

    matrix = np.array(evaluation["confusion_matrix"])
    st.markdown(f"**Misclassified test items**: {matrix.sum() - matrix.trace():,} of {matrix.sum():,}")
    if not evaluation["misclassified"]:
        st.success("No test item was misclassified.")
    elif data is None or len(data.y_test) != evaluation["test_size"]:
        st.caption("The test data this run used is not loaded now, so its items cannot be shown.")
    else:
        misclassified(data, evaluation["misclassified"][:GALLERY])


def misclassified(data: Dataset, wrong: list[tuple[int, int]]) -> None:
    """The test items a run got wrong, given as (test index, predicted class) pairs."""
    names = data.class_names
    if data.is_text:
        rows = [
            {"review": data.x_test[i], "true": names[data.y_test[i]], "predicted": names[p]} for i, p in wrong
        ]
        st.dataframe(pd.DataFrame(rows), hide_index=True, key="wrong_texts")
        return
    digit_gallery(
        [data.x_test[i] for i, _ in wrong],
        [f"{names[data.y_test[i]]} → {names[p]}" for i, p in wrong],
        factor=2,
    )
    st.caption("Each caption reads true → predicted.")


def look_inside_a_mistake(run: dict) -> None:
    """Opens a misclassified test digit on the Draw page, with this model's inside views."""
    wrong = run["evaluation"].get("misclassified", [])[:GALLERY]
    if not wrong:
        return
    choices = {int(index): f"test digit {index} → {predicted}" for index, predicted in wrong}  # Fits a phone.
    row = st.container(horizontal=True, vertical_alignment="bottom")
    index = row.selectbox("Why this mistake?", list(choices), format_func=choices.get, key="mistake")
    if row.button("🔎 Look inside the model", key="look_inside"):
        address = {"run": str(run["id"]), "test": str(index)} | ({PARAMETER: "1"} if presenting() else {})
        st.switch_page("app_pages/draw.py", query_params=address)


def model_and_deletion(store: RunStore, run: dict) -> None:
    """The model download, and deleting the run after a confirmation."""
    run_id = run["id"]
    model_path = store.model_path(run_id)
    cols = st.columns(2)
    if run["status"] == "completed" and model_path.is_file():
        cols[0].download_button(
            "⬇️ Download the model (.keras)",
            model_path.read_bytes,  # Read only when clicked.
            model_path.name,
            key="download_model",
            on_click="ignore",
        )
    if run["status"] in ACTIVE:
        cols[1].caption("Stop the run on the Train page before deleting it.")
    elif st.session_state.get("confirm_delete") == run_id:
        cols[1].warning(f"Delete run #{run_id} and its model for good?")
        if cols[1].button("Yes, delete", key="delete_yes", type="primary"):
            store.delete_run(run_id)
            st.session_state.pop("confirm_delete")
            st.toast(f"Run #{run_id} deleted")
            st.rerun()
        if cols[1].button("Keep it", key="delete_no"):
            st.session_state.pop("confirm_delete")
            st.rerun()
    elif cols[1].button("🗑️ Delete this run", key="delete"):
        st.session_state["confirm_delete"] = run_id
        st.rerun()


def main(audience: bool = False) -> None:
    """The Compare page; for the audience (audience.py) read only: no download, no deletion."""
    presenter_mode(toggle=not audience)
    st.title("📈 Compare")
    store = get_store()
    table = store.runs_table()
    if table.empty and audience:
        st.info("No runs yet: the models the lab trains appear here.")
        return
    if table.empty:
        st.info("No runs yet: train a model on the Train page (or the quick model on Home).")
        st.page_link("app_pages/train.py", label="Go to Train", icon="🏋️")
        return
    table, sweep_id = filtered(table, store.sweeps())
    table = with_personal_scores(table)
    selected = runs_table(table, audience)
    if not audience:
        disk_use(store)
    at_a_glance(store, table, selected, sweep_id)
    curves(store, table, selected)
    run_in_detail(store, table, audience)


def disk_use(store: RunStore) -> None:
    """How much disk the models take, and model files that belong to no run."""
    orphans = store.orphaned_model_files()
    note = (
        f" · {len(orphans)} model file(s) belong to no run (a restored or replaced store): "
        + ", ".join(path.name for path in orphans[:5])
        if orphans
        else ""
    )
    st.caption(f"Models folder: {store.models_folder_bytes() / 1e6:,.1f} MB in {store.models_dir}{note}")


if __name__ == "__main__":  # Streamlit runs a page as __main__; importing it runs nothing.
    main()
