"""Train: choose data, a preset or a family and its hyperparameters; watch it learn."""

import time

import pandas as pd
import streamlit as st

from core.architecture import ConfigError, summarise, validate
from core.config import ACTIVATIONS, DATASETS, FAMILIES, LR_SCHEDULES, OPTIMIZERS, TEXT_FAMILIES, RunConfig
from core.datasets import DatasetUnavailable
from core.presets import family_layers, presets_for
from core.store import ACTIVE
from ui.charts import curves_figure
from ui.state import (
    DATASET_LABELS,
    STATUS_LABELS,
    as_text,
    field_key,
    get_dataset,
    get_store,
    keep_workers_alive,
    start_run,
)

CUSTOM = "Custom (choose a family)"
HYPERPARAMETERS = (
    "optimizer", "learning_rate", "lr_schedule", "batch_size", "epochs", "validation_split",
    "seed", "limit", "time_limit_minutes", "augment", "keep_best_epoch",
)  # fmt: skip
EPOCH_COLUMNS = {
    "loss": "train loss", "accuracy": "train accuracy", "val_loss": "validation loss",
    "val_accuracy": "validation accuracy", "seconds": "seconds",
}  # fmt: skip
FAMILY_LABELS = {"dense": "Dense (MLP)", "cnn": "CNN", "simplernn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}

st.title("🏋️ Train")
store = get_store()
errors: dict[str, str] = {}


def on_dataset_change() -> None:
    st.session_state.preset = presets_for(st.session_state.dataset)[0].name


def show_error(field: str) -> None:
    """Shows the engine's message under the field it concerns."""
    if field in errors:
        st.error(errors[field], icon="⚠️")


def parse_sizes(text: str, field: str) -> tuple[int, ...]:
    """Reads '128, 64' as (128, 64); records a message for the field if it is not that."""
    try:
        sizes = tuple(int(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        errors[field] = "Write whole numbers separated by commas, for example 128, 64."
        return ()
    if any(size < 1 for size in sizes):
        errors[field] = "Every size must be at least 1."
    return sizes


settings, summary = st.columns([3, 2], gap="large")
with settings:
    dataset = st.selectbox(
        "Dataset", DATASETS, format_func=DATASET_LABELS.get, key="dataset", on_change=on_dataset_change
    )
    presets = {preset.name: preset for preset in presets_for(dataset)}
    preset_name = st.selectbox("Model", [*presets, CUSTOM], key="preset")
    if preset_name != CUSTOM:
        preset = presets[preset_name]
        st.caption(preset.description + (f" Published: {preset.reference}." if preset.reference else ""))
        base = preset.config.with_changes(dataset=dataset)
    else:
        families = TEXT_FAMILIES if dataset == "sentiment" else FAMILIES
        family = st.selectbox("Family", families, format_func=FAMILY_LABELS.get, key="family")
        recurrent = family in ("simplernn", "lstm", "gru")
        units_label = "Recurrent layer sizes" if recurrent else "Dense layer sizes"
        units = parse_sizes(st.text_input(units_label, "128", key="units"), "units")
        show_error("units")
        filters = (32, 64)
        kernel_size = 3
        if family == "cnn":
            filters = parse_sizes(st.text_input("Conv filters per block", "32, 64", key="filters"), "filters")
            show_error("filters")
            kernel_size = st.number_input("Kernel size", 1, 9, 3, key="kernel_size")
        cols = st.columns(3)
        activation = cols[0].selectbox(
            "Activation", ACTIVATIONS, index=1 if recurrent else 0, key="activation"
        )
        dropout_rate = cols[1].number_input("Dropout", 0.0, 0.95, 0.2, 0.05, key="dropout_rate")
        batch_norm = cols[2].checkbox("Batch norm", key="batch_norm")
        base = RunConfig(
            dataset=dataset,
            family=family,
            layers=family_layers(
                family, dataset, units, filters, int(kernel_size), activation, dropout_rate, batch_norm
            ),
        )

    with st.expander("Hyperparameters", expanded=True):
        # Each field's key names the dataset and model, so choosing another model gives
        # fresh fields that start from that model's values.
        def field(name: str) -> dict:
            return {"value": getattr(base, name), "key": field_key(name, dataset, preset_name)}

        cols = st.columns(3)
        optimizer = cols[0].selectbox(
            "Optimizer",
            list(OPTIMIZERS),
            index=list(OPTIMIZERS).index(base.optimizer),
            key=field("optimizer")["key"],
        )
        learning_rate = cols[1].number_input(
            "Learning rate", min_value=0.0, format="%.5f", step=1e-4, **field("learning_rate")
        )
        batch_size = cols[2].number_input("Batch size", step=16, **field("batch_size"))
        cols = st.columns(3)
        epochs = cols[0].number_input("Epochs", step=1, **field("epochs"))
        validation_split = cols[1].number_input("Validation split", step=0.05, **field("validation_split"))
        seed = cols[2].number_input("Seed", min_value=0, max_value=2**32 - 1, step=1, **field("seed"))
        cols = st.columns(3)
        lr_schedule = cols[0].selectbox(
            "Learning-rate schedule",
            LR_SCHEDULES,
            index=LR_SCHEDULES.index(base.lr_schedule),
            key=field("lr_schedule")["key"],
        )
        limit = cols[1].number_input("Train on first N items (0 = all)", step=500, **field("limit"))
        time_limit = cols[2].number_input("Time limit (minutes)", step=5.0, **field("time_limit_minutes"))
        cols = st.columns(2)
        augment = cols[0].checkbox("Augment images", disabled=dataset == "sentiment", **field("augment"))
        keep_best_epoch = cols[1].checkbox(
            "Keep the best epoch",
            help="Save the weights of the epoch with the best validation accuracy, not the last.",
            **field("keep_best_epoch"),
        )
        name = st.text_input("Run name (optional)", key="run_name", max_chars=80)

config = base.with_changes(
    optimizer=optimizer,
    learning_rate=float(learning_rate),
    lr_schedule=lr_schedule,
    batch_size=int(batch_size),
    epochs=int(epochs),
    validation_split=float(validation_split),
    seed=int(seed),
    limit=int(limit),
    time_limit_minutes=float(time_limit),
    augment=bool(augment) and dataset != "sentiment",
    keep_best_epoch=bool(keep_best_epoch),
)
params = None
try:
    train_size = len(get_dataset(dataset).y_train)
except DatasetUnavailable as error:
    errors["dataset"] = str(error)
if not errors:
    try:
        params = validate(config, train_size=train_size)
    except ConfigError as error:
        errors[error.field] = str(error)

with settings:
    for field in [*HYPERPARAMETERS, "dataset", "family"]:
        show_error(field)

with summary:
    st.subheader("Model")
    if params is not None:
        st.metric("Parameters", f"{params:,}")
        rows = [
            {"layer": row.label, "output": str(row.output_shape), "params": row.params}
            for row in summarise(config)
        ]
        st.dataframe(pd.DataFrame(rows), hide_index=True, key="architecture")
        if config.augment:
            st.caption(
                "Augment: each training image gets a random stroke width, rotation, stretch, shear and shift."
            )
    show_error("layers")
    if st.button("▶️ Start training", type="primary", disabled=bool(errors), key="start"):
        try:
            run_id = start_run(config, name)
        except ValueError as error:
            st.error(str(error))
        else:
            st.query_params["run"] = str(run_id)
            st.toast(f"Run {run_id} queued")

st.divider()
active = store.active_runs()


def watched_run_id() -> int | None:
    """The run in the address (?run=N), else the newest active run, else the newest run."""
    requested = st.query_params.get("run", "")
    if requested.isdecimal() and len(requested) < 12 and store.get_run(int(requested)) is not None:
        return int(requested)
    if active:
        return active[-1]["id"]
    table = store.runs_table()
    return int(table["id"].max()) if len(table) else None


watched = watched_run_id()
if watched is None:
    st.info("No runs yet: choose a model above and press **Start training**.")
    st.stop()
watched_is_active = any(run["id"] == watched for run in active)


def format_seconds(seconds: float) -> str:
    """Returns 75 as '1 min 15 s'."""
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


@st.fragment(run_every=1.0 if watched_is_active else None)
def monitor(run_id: int) -> None:
    """The watched run: progress, curves, epoch table, Stop; polls while it is active."""
    keep_workers_alive()
    run = store.get_run(run_id)
    if run is None:
        st.warning(f"Run {run_id} was deleted.")
        return
    queue = store.active_runs()
    st.subheader(f"{as_text(run['name'])} · run #{run_id} · {STATUS_LABELS[run['status']]}")
    epochs_planned = run["config"].epochs
    if run["status"] == "queued":
        position = [r["id"] for r in queue].index(run_id) + 1 if run_id in [r["id"] for r in queue] else 1
        st.info(f"Waiting for a worker: number {position} in the queue.")
    if run["status"] == "running":
        batches = max(run["batches"], 1)
        done = run["epoch"] + run["batch"] / batches
        st.progress(
            min(run["batch"] / batches, 1.0),
            text=f"Epoch {min(run['epoch'] + 1, epochs_planned)} of {epochs_planned}: "
            f"batch {run['batch']} of {batches}",
        )
        elapsed = time.time() - (run["started_at"] or time.time())
        remaining = elapsed / done * (epochs_planned - done) if done > 0 else None
        cols = st.columns(3)
        cols[0].metric("Elapsed", format_seconds(elapsed))
        cols[1].metric("Remaining", format_seconds(remaining) if remaining is not None else "estimating...")
        if cols[2].button("⏹️ Stop", key="stop"):
            store.request_stop(run_id)
            st.toast("Stopping after the current batch...")
    if run["status"] == "queued" and st.button("⏹️ Cancel", key="cancel"):
        store.request_stop(run_id)
    if run["status"] == "failed":
        st.error(f"This run failed: {run['error']}")
    if run["status"] == "cancelled":
        st.warning("This run was stopped before it finished.")
    if run["status"] == "completed":
        cols = st.columns(4)
        cols[0].metric("Test accuracy", f"{run['test_accuracy']:.2%}")
        cols[1].metric(
            "Best val accuracy", f"{run['best_val_accuracy']:.2%}" if run["best_val_accuracy"] else "-"
        )
        cols[2].metric("Time", format_seconds(run["total_seconds"]))
        cols[3].metric("ms / prediction", f"{run['ms_per_prediction']:.2f}")
        if run["note"]:
            st.caption(run["note"])
        st.page_link("app_pages/draw.py", label="Try it on your own drawing", icon="✏️")
    epochs = store.epochs([run_id])
    if len(epochs):
        st.plotly_chart(curves_figure(epochs, {run_id: run["name"]}), key="curves")
        table = epochs.drop(columns="run_id").set_index("epoch").rename(columns=EPOCH_COLUMNS)
        st.dataframe(table.style.format("{:.4f}"), key="epoch_table")
    if len(queue) > 1 or (queue and queue[0]["id"] != run_id):
        st.caption("Queue: " + ", ".join(f"#{r['id']} {as_text(r['name'])} ({r['status']})" for r in queue))
    if run["status"] not in ACTIVE and watched_is_active:
        st.rerun()  # The run ended: rerun the page so polling stops.


monitor(watched)
