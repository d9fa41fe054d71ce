"""Compare: every run in one table, curves side by side, one run in detail."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.config import DATASETS, FAMILIES
from core.datasets import DatasetUnavailable
from core.store import ACTIVE
from ui.charts import confusion_figure, curves_figure
from ui.state import DATASET_LABELS, STATUS_LABELS, get_dataset, get_store, run_label

GALLERY = 24

st.title("📈 Compare")
store = get_store()
table = store.runs_table()
if table.empty:
    st.info("No runs yet: train a model on the Train page (or the quick model on Home).")
    st.page_link("app_pages/train.py", label="Go to Train", icon="🏋️")
    st.stop()

cols = st.columns(2)
datasets = cols[0].multiselect("Datasets", DATASETS, format_func=DATASET_LABELS.get, key="filter_datasets")
families = cols[1].multiselect("Families", FAMILIES, key="filter_families")
if datasets:
    table = table[table["dataset"].isin(datasets)]
if families:
    table = table[table["family"].isin(families)]

shown = table.assign(
    test_accuracy=table["test_accuracy"] * 100,
    best_val_accuracy=table["best_val_accuracy"] * 100,
    status=table["status"].map(STATUS_LABELS),
    epochs=table["epochs_done"].astype(str) + "/" + table["epochs"].astype(str),
)
columns = [
    "id", "name", "status", "dataset", "family", "params", "epochs", "batch_size",
    "learning_rate", "test_accuracy", "best_val_accuracy", "seconds_per_epoch", "total_seconds",
    "ms_per_prediction",
]  # fmt: skip
# Short headings, explained on hover, so every column fits a laptop screen without scrolling.
event = st.dataframe(
    shown[columns],
    hide_index=True,
    key="runs_table",
    on_select="rerun",
    selection_mode="multi-row",
    column_config={
        "id": st.column_config.NumberColumn("run", format="%d"),
        "epochs": st.column_config.TextColumn("epochs", help="Epochs trained / epochs asked for"),
        "params": st.column_config.NumberColumn("params", format="localized", help="Trainable parameters"),
        "batch_size": "batch",
        "learning_rate": st.column_config.NumberColumn("lr", format="%.5g", help="Learning rate"),
        "test_accuracy": st.column_config.NumberColumn(
            "test acc", format="%.2f %%", help="Accuracy on the test set, which training never sees"
        ),
        "best_val_accuracy": st.column_config.NumberColumn(
            "best val", format="%.2f %%", help="Best validation accuracy of any epoch"
        ),
        "seconds_per_epoch": st.column_config.NumberColumn("s/epoch", format="%.1f"),
        "total_seconds": st.column_config.NumberColumn("total s", format="%.0f", help="Training time"),
        "ms_per_prediction": st.column_config.NumberColumn(
            "ms/pred", format="%.2f", help="Milliseconds to read one image or review"
        ),
    },
)
st.download_button(
    "⬇️ Download the table (CSV)", table.to_csv(index=False), "digit-lab-runs.csv", "text/csv", key="csv"
)

# A selection made before the rows changed (a filter, a deletion) may point past the end.
selected = [int(table.iloc[i]["id"]) for i in event.selection.rows if i < len(table)] if event else []
st.subheader("Curves")
curve_ids = selected or [int(i) for i in table["id"].head(3)]
st.caption("Select rows in the table to overlay their curves." if not selected else "")
epochs = store.epochs(curve_ids)
if len(epochs):
    names = {int(row["id"]): f"#{row['id']} {row['name']}" for _, row in table.iterrows()}
    st.plotly_chart(curves_figure(epochs, names), key="compare_curves")
else:
    st.info("These runs have no finished epoch yet.")

st.subheader("One run in detail")
labels = {int(row["id"]): run_label(row) for _, row in table.iterrows()}
detail_id = st.selectbox("Run", list(labels), format_func=labels.get, key="detail_run")
run = store.get_run(detail_id) if detail_id is not None else None
if run is None:
    st.warning("That run no longer exists.")
    st.stop()

st.caption(f"Data: {run['data_source'] or 'not loaded yet'} · status: {STATUS_LABELS[run['status']]}")
if run["status"] == "failed":
    st.error(f"This run failed: {run['error']}")
evaluation = run["evaluation"]
if run["status"] == "completed" and evaluation:
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
    left.plotly_chart(confusion_figure(evaluation["confusion_matrix"], class_names), key="confusion")
    right.markdown("**Accuracy per class**")
    per_class = go.Figure(go.Bar(x=list(class_names), y=evaluation["per_class_accuracy"]))
    per_class.update_layout(
        height=420, margin={"t": 10, "b": 10}, yaxis={"tickformat": ".0%"}, xaxis={"type": "category"}
    )
    right.plotly_chart(per_class, key="per_class")

    wrong = evaluation["misclassified"]
    matrix = np.array(evaluation["confusion_matrix"])
    st.markdown(f"**Misclassified test items**: {matrix.sum() - matrix.trace():,} of {matrix.sum():,}")
    same_data = data is not None and len(data.y_test) == evaluation["test_size"]
    if not wrong:
        st.success("No test item was misclassified.")
    elif not same_data:
        st.caption("The test data this run used is not loaded now, so its items cannot be shown.")
    elif data.is_text:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "review": data.x_test[i],
                        "true": data.class_names[data.y_test[i]],
                        "predicted": data.class_names[p],
                    }
                    for i, p in wrong[:GALLERY]
                ]
            ),
            hide_index=True,
            key="wrong_texts",
        )
    else:
        for start in range(0, min(GALLERY, len(wrong)), 12):
            for column, (index, predicted) in zip(st.columns(12), wrong[start : start + 12], strict=False):
                column.image(
                    np.kron(data.x_test[index], np.ones((2, 2), dtype=np.uint8)),
                    caption=f"{data.class_names[data.y_test[index]]} → {data.class_names[predicted]}",
                )
        st.caption("Each caption reads true → predicted.")

model_path = store.model_path(detail_id)
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
elif st.session_state.get("confirm_delete") == detail_id:
    cols[1].warning(f"Delete run #{detail_id} and its model for good?")
    if cols[1].button("Yes, delete", key="delete_yes", type="primary"):
        store.delete_run(detail_id)
        st.session_state.pop("confirm_delete")
        st.toast(f"Run #{detail_id} deleted")
        st.rerun()
    if cols[1].button("Keep it", key="delete_no"):
        st.session_state.pop("confirm_delete")
        st.rerun()
elif cols[1].button("🗑️ Delete this run", key="delete"):
    st.session_state["confirm_delete"] = detail_id
    st.rerun()
