"""Train: choose data, a preset or a family and its hyperparameters; watch it learn."""

import statistics
import time

import pandas as pd
import streamlit as st

from core.architecture import ConfigError, summarise
from core.cluster import cluster_problem
from core.config import (
    ACTIVATIONS,
    DATASETS,
    FAMILY_LABELS,
    LR_SCHEDULES,
    OPTIMIZERS,
    RECURRENT_FAMILIES,
    RunConfig,
    dataset_facts,
)
from core.datasets import DatasetUnavailable
from core.presets import family_layers, presets_for
from core.runs import check, submit
from core.store import ACTIVE, RunStore
from ui.charts import curves_figure
from ui.continue_training import continue_training
from ui.format import STATUS_LABELS, as_text, dataset_label, field_key, format_seconds
from ui.presenter import presenter_mode, readable
from ui.race import RACE, race_mode
from ui.resources import get_store, keep_workers_alive
from ui.sweep_form import sweep_mode

CUSTOM = "Custom (choose a family)"
# The hyperparameter fields, by the RunConfig field they set, and their labels.
HYPERPARAMETERS = {
    "optimizer": "Optimizer", "learning_rate": "Learning rate", "batch_size": "Batch size",
    "epochs": "Epochs", "validation_split": "Validation split", "seed": "Seed",
    "lr_schedule": "Learning-rate schedule", "limit": "Train on first N items (0 = all)",
    "time_limit_minutes": "Time limit (minutes)", "augment": "Augment images",
    "keep_best_epoch": "Keep the best epoch", "time_budget_seconds": "Time budget (seconds, 0 = none)",
}  # fmt: skip
SHOWN_BESIDE_THEIR_FIELD = ("units", "filters", "layers")
EPOCH_COLUMNS = {
    "loss": "train loss", "accuracy": "train accuracy", "val_loss": "validation loss",
    "val_accuracy": "validation accuracy", "seconds": "seconds",
}  # fmt: skip
REMEMBERED = "remembered_fields"  # The session's edits of every field, by widget key.
FOLLOWED = "form_follows_run"  # The run whose dataset and model the form last took.
ANCHORS = "progress_anchors"  # Per run: (time, epochs done) when a finished batch was first seen.
QUEUED = "queued_run"  # A run just queued, to announce after the rerun.
MODES = ("One run", "Sweep", "Race")


def on_dataset_change() -> None:
    remember("preset", presets_for(st.session_state.dataset)[0].name)


def remembered(key: str, default):
    """The value the field with that key last had in this session, else `default`.

    Streamlit forgets the state of a widget that a run does not show (choosing Custom
    hides a preset's fields, another page or the Race view hides the whole form), so
    every field's value is also kept here, and a field shown again starts from it.
    """
    return st.session_state.setdefault(REMEMBERED, {}).get(key, default)


def remember(key: str, value) -> None:
    """Sets the field with that key to `value` the next time it is shown."""
    st.session_state.setdefault(REMEMBERED, {})[key] = value
    st.session_state.pop(key, None)


def kept(widget, label: str, key: str, default, **options):
    """Shows a field (`widget`: a Streamlit input, bound to its container) that keeps the
    user's edit while hidden; returns its value."""
    value = widget(label, value=remembered(key, default), key=key, **options)
    st.session_state[REMEMBERED][key] = value
    return value


def kept_choice(widget, label: str, choices, key: str, default, **options):
    """`kept` for a selectbox: starts on the remembered choice, else on `default`."""
    choices = list(choices)
    wanted = remembered(key, default)
    index = (
        choices.index(wanted) if wanted in choices else choices.index(default) if default in choices else 0
    )
    value = widget(label, choices, index=index, key=key, **options)
    st.session_state[REMEMBERED][key] = value
    return value


def show_error(errors: dict[str, str], field: str) -> None:
    """Shows the engine's message under the field it concerns."""
    if field in errors:
        st.error(errors[field], icon="⚠️")


def parse_sizes(text: str, field: str, errors: dict[str, str]) -> tuple[int, ...]:
    """Reads '128, 64' as (128, 64); records a message for the field if it is not that."""
    try:
        sizes = tuple(int(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        errors[field] = "Write whole numbers separated by commas, for example 128, 64."
        return ()
    if any(size < 1 for size in sizes):
        errors[field] = "Every size must be at least 1."
    return sizes


def follow_run(store: RunStore) -> None:
    """Sets the form's dataset and model to those of the run in the address (?run=N),
    once per run: a button on another page (the Text page's sentiment model) opens
    this page on its run, and the form then offers that run's kind of model."""
    requested = st.query_params.get("run", "")
    if not (requested.isdecimal() and len(requested) < 12) or st.session_state.get(FOLLOWED) == int(
        requested
    ):
        return
    st.session_state[FOLLOWED] = int(requested)
    run = store.get_run(int(requested))
    if run is None or run["config"] is None or run["config"].dataset not in DATASETS:
        return
    config = run["config"]
    remember("dataset", config.dataset)
    if config.preset in {preset.name for preset in presets_for(config.dataset)}:
        remember("preset", config.preset)
    else:
        remember("preset", CUSTOM)
        remember("family", config.family)


def choose_model(errors: dict[str, str]) -> tuple[RunConfig, str]:
    """The dataset and the model (a preset, or a family and its sizes).

    Returns:
        The model's config with its own hyperparameters, and the model's name.
    """
    dataset = kept_choice(
        st.selectbox,
        "Dataset",
        DATASETS,
        "dataset",
        DATASETS[0],
        format_func=dataset_label,
        on_change=on_dataset_change,
    )
    presets = {preset.name: preset for preset in presets_for(dataset)}
    model_name = kept_choice(st.selectbox, "Model", [*presets, CUSTOM], "preset", next(iter(presets)))
    if model_name == CUSTOM:
        return choose_family(dataset, errors), model_name
    preset = presets[model_name]
    st.caption(preset.description + (f" Published: {preset.reference}." if preset.reference else ""))
    return preset.config.with_changes(dataset=dataset), model_name


def choose_family(dataset: str, errors: dict[str, str]) -> RunConfig:
    """A model of the user's own: a family allowed for the dataset, its layer sizes."""
    families = dataset_facts(dataset).families
    family = kept_choice(
        st.selectbox, "Family", families, "family", families[0], format_func=FAMILY_LABELS.get
    )
    recurrent = family in RECURRENT_FAMILIES
    units_label = "Recurrent layer sizes" if recurrent else "Dense layer sizes"
    units = parse_sizes(kept(st.text_input, units_label, "units", "128"), "units", errors)
    show_error(errors, "units")
    filters = (32, 64)
    kernel_size = 3
    if family == "cnn":
        filters = parse_sizes(
            kept(st.text_input, "Conv filters per block", "filters", "32, 64"), "filters", errors
        )
        show_error(errors, "filters")
        kernel_size = kept(st.number_input, "Kernel size", "kernel_size", 3, min_value=1, max_value=9)
    cols = st.columns(3)
    default_activation = ACTIVATIONS[1] if recurrent else ACTIVATIONS[0]
    activation = kept_choice(cols[0].selectbox, "Activation", ACTIVATIONS, "activation", default_activation)
    dropout_rate = kept(
        cols[1].number_input, "Dropout", "dropout_rate", 0.2, min_value=0.0, max_value=0.95, step=0.05
    )
    batch_norm = kept(cols[2].checkbox, "Batch norm", "batch_norm", False)
    layers = family_layers(
        family, dataset, units, filters, int(kernel_size), activation, dropout_rate, batch_norm
    )
    return RunConfig(dataset=dataset, family=family, layers=layers)


def choose_hyperparameters(
    base: RunConfig, model_name: str, slots: dict | None = None
) -> tuple[RunConfig, str]:
    """The fitting settings, starting from the model's own, and the run's name.

    Args:
        base: the model's config, with its own hyperparameters.
        model_name: the preset's name (or Custom): each field's key names it.
        slots: filled with an empty place under each field, by its config field, where
            the page shows that field's error.

    Returns:
        The run's config and the run's name (empty for the default).
    """
    slots = {} if slots is None else slots
    can_augment = dataset_facts(base.dataset).can_augment
    base = base.with_changes(augment=base.augment and can_augment)  # Unticked where disabled.

    # Each field's key names the dataset and model, so choosing another model gives
    # fresh fields that start from that model's values (or from the user's edits).
    def field(column, widget, name: str, **options):
        key = field_key(name, base.dataset, model_name)
        value = kept(getattr(column, widget), HYPERPARAMETERS[name], key, getattr(base, name), **options)
        slots[name] = column.empty()
        return value

    def choice(column, name: str, choices) -> str:
        key = field_key(name, base.dataset, model_name)
        value = kept_choice(column.selectbox, HYPERPARAMETERS[name], choices, key, getattr(base, name))
        slots[name] = column.empty()
        return value

    with st.container(border=True):
        st.markdown("**Hyperparameters**")
        cols = st.columns(3)
        optimizer = choice(cols[0], "optimizer", OPTIMIZERS)
        learning_rate = field(
            cols[1], "number_input", "learning_rate", min_value=0.0, format="%.5f", step=1e-4
        )
        batch_size = field(cols[2], "number_input", "batch_size", step=16)
        cols = st.columns(3)
        epochs = field(cols[0], "number_input", "epochs", step=1)
        validation_split = field(cols[1], "number_input", "validation_split", step=0.05)
        seed = field(cols[2], "number_input", "seed", min_value=0, max_value=2**32 - 1, step=1)
        cols = st.columns(3)
        lr_schedule = choice(cols[0], "lr_schedule", LR_SCHEDULES)
        limit = field(cols[1], "number_input", "limit", step=500)
        time_limit = field(cols[2], "number_input", "time_limit_minutes", step=5.0)
        cols = st.columns([1, 2])  # The checkboxes get the width their labels need.
        time_budget = field(
            cols[0],
            "number_input",
            "time_budget_seconds",
            step=30.0,
            help="Train for this many seconds; a cosine schedule then ends with the budget.",
        )
        augment = field(
            cols[1],
            "checkbox",
            "augment",
            disabled=not can_augment,
            help="Digits only: while training, some digits get a thinner or thicker pen, "
            "a slant, a wider or narrower shape, or a small shift, as other hands draw them; "
            "and one digit in ten more is added, drawn as on the canvas (boxy or hand-like strokes).",
        )
        keep_best_epoch = field(
            cols[1],
            "checkbox",
            "keep_best_epoch",
            help="Save the weights of the epoch with the best validation accuracy, not the last.",
        )
        name = kept(st.text_input, "Run name (optional)", "run_name", "", max_chars=80)
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
        time_budget_seconds=float(time_budget),
        augment=bool(augment) and can_augment,
        keep_best_epoch=bool(keep_best_epoch),
    )
    return config, name


def check_config(config: RunConfig, errors: dict[str, str]) -> int | None:
    """Returns the run's parameter count, or None and the engine's message under `errors`."""
    if errors:
        return None
    try:
        return check(config)
    except ConfigError as error:
        errors[error.field] = str(error)
    except DatasetUnavailable as error:
        errors["dataset"] = str(error)
    return None


def show_errors(errors: dict[str, str], slots: dict) -> None:
    """Shows each of the engine's messages under its field (in the current container
    when the field has no place of its own)."""
    for field, message in errors.items():
        if field in SHOWN_BESIDE_THEIR_FIELD:
            continue
        slots.get(field, st).error(message, icon="⚠️")


def shape_text(shape: tuple) -> str:
    """Writes an output shape as 26×26×16 (n: as many as the review has words)."""
    return "×".join("n" if size is None else str(size) for size in shape)


def show_summary(config: RunConfig, params: int | None, name: str, errors: dict[str, str]) -> None:
    """The parameter count and layers of the model, and the button that queues the run."""
    st.subheader("Model")
    if params is not None:
        st.metric("Parameters", f"{params:,}")
        rows = [
            {"layer": row.label, "output": shape_text(row.output_shape), "params": f"{row.params:,}"}
            for row in summarise(config)
        ]
        # An HTML table wraps its cells, so every count shows in full however narrow the column.
        st.table(pd.DataFrame(rows).style.hide(axis="index"))
        if config.augment:
            st.caption(
                "Augment: each training image gets a random stroke width, rotation, stretch, shear and shift."
            )
    show_error(errors, "layers")
    if errors:
        fields = [HYPERPARAMETERS.get(field, field.replace("_", " ")) for field in errors]
        st.caption(f"⚠️ To start, fix: {', '.join(fields)} (the message is under the field).")
    if st.button("▶️ Start training", type="primary", disabled=bool(errors), key="start"):
        try:
            run_id = submit(get_store(), config, name)
        except (ConfigError, DatasetUnavailable) as error:
            st.error(str(error))
        else:
            st.session_state[FOLLOWED] = run_id  # The form already shows this run's model.
            st.session_state[QUEUED] = run_id
            st.query_params["run"] = str(run_id)
            st.rerun()  # The page now opens on the run, the form folded away.


def requested_run(store: RunStore) -> tuple[int | None, bool]:
    """The run in the address (?run=N): its id, and whether it exists."""
    requested = st.query_params.get("run", "")
    if not (requested.isdecimal() and len(requested) < 12):
        return None, False
    return int(requested), store.get_run(int(requested)) is not None


def watched_run_id(store: RunStore, active: list[dict]) -> int | None:
    """The run in the address (?run=N), else the newest active run, else the newest run;
    a run in the address that no longer exists is said so, and only an active run is
    shown instead."""
    requested, exists = requested_run(store)
    if exists:
        return requested
    if requested is not None:
        st.warning(f"Run {requested} no longer exists: it was deleted.")
        return active[-1]["id"] if active else None
    if active:
        return active[-1]["id"]
    table = store.runs_table()
    return int(table["id"].max()) if len(table) else None


def watch_run(store: RunStore) -> None:
    """The watched run, polled every second while it is queued or running."""
    active = store.active_runs()
    run_id = watched_run_id(store, active)
    if run_id is None:
        if st.query_params.get("run") is None:
            st.info("No runs yet: choose a model above and press **Start training**.")
        return
    polling = any(run["id"] == run_id for run in active)
    st.fragment(show_run, run_every=1.0 if polling else None)(store, run_id, polling)


def show_run(store: RunStore, run_id: int, polling: bool) -> None:
    """One run: its status, progress or results, curves, epoch table and the queue."""
    keep_workers_alive()
    run = store.get_run(run_id)
    if run is None:
        st.warning(f"Run {run_id} was deleted.")
        return
    queue = store.active_runs()
    epochs = store.epochs([run_id])
    st.subheader(f"{as_text(run['name'])} · run #{run_id} · {STATUS_LABELS[run['status']]}")
    if run["status"] == "queued":
        waiting = [r["id"] for r in queue]
        position = waiting.index(run_id) + 1 if run_id in waiting else 1
        st.info(f"Waiting for a worker: number {position} in the queue.")
        cluster_trouble = cluster_problem(store.home)
        if cluster_trouble:
            st.error(cluster_trouble, icon="🛰️")
        if st.button("⏹️ Cancel", key="cancel"):
            store.request_stop(run_id)
    if run["status"] == "running":
        show_progress(store, run, epochs)
    if run["status"] == "failed":
        st.error(f"This run failed: {run['error']}")
    if run["status"] == "cancelled":
        st.warning("This run was stopped before it finished.")
    if run["status"] == "pruned":
        st.info(f"{run['note']} Its sweep judged it unpromising; its epochs are kept.")
    if run["status"] == "completed":
        show_results(run)
    if len(epochs):
        keeps_best = run["config"] is not None and run["config"].keep_best_epoch
        names = {run_id: run["name"]}
        parent = run["parent_run_id"]
        if parent is not None:  # A continued run's curves go on from its parent's.
            names[parent] = f"#{parent} (went on from)"
        shown = store.epochs([run_id] if parent is None else [parent, run_id])
        figure = curves_figure(shown, names, kept={run_id} if keeps_best else ())
        st.plotly_chart(readable(figure), key="curves")
        table = epochs.drop(columns="run_id").set_index("epoch").rename(columns=EPOCH_COLUMNS)
        st.dataframe(table.style.format("{:.4f}"), key="epoch_table")
    if len(queue) > 1 or (queue and queue[0]["id"] != run_id):
        st.caption("Queue: " + ", ".join(f"#{r['id']} {as_text(r['name'])} ({r['status']})" for r in queue))
    waiting = sum(r["status"] == "queued" for r in queue)
    if waiting > 1 and st.button(f"⏹️ Cancel all {waiting} queued runs", key="cancel_all_queued"):
        st.toast(f"{store.cancel_queued()} queued runs cancelled")
    if run["status"] not in ACTIVE and polling:
        st.rerun()  # The run ended: rerun the page so polling stops.


def remaining_seconds(
    anchor: tuple[float, float] | None,
    now: float,
    done: float,
    planned: float,
    time_left: float | None = None,
    epoch_seconds: list[float] | tuple = (),
) -> float | None:
    """Estimates how long a run still trains.

    From the pace since the first finished batch the page saw (so loading the data and
    building the model do not count), else from the epochs finished so far; never more
    than the time the run's time limit leaves.

    Args:
        anchor: (time, epochs done) when the page first saw a finished batch, or None.
        now: the time now (the clock of `anchor`).
        done: epochs done now, fractions of the current epoch included.
        planned: epochs the run trains.
        time_left: seconds until the run's time limit stops it, or None.
        epoch_seconds: how long each finished epoch took.

    Returns:
        Seconds, or None while there is nothing to go by yet.
    """
    estimate = None
    if anchor is not None and done > anchor[1] and now > anchor[0]:
        estimate = (planned - done) * (now - anchor[0]) / (done - anchor[1])
    elif epoch_seconds:
        estimate = (planned - done) * statistics.median(epoch_seconds)
    if estimate is not None and time_left is not None:
        estimate = min(estimate, time_left)
    return None if estimate is None else max(estimate, 0.0)


def show_progress(store: RunStore, run: dict, epochs: pd.DataFrame | None = None) -> None:
    """A running run: one progress bar for the whole run, elapsed and remaining time, Stop."""
    config = run["config"]
    planned = config.epochs if config else max(run["epoch"], 1)
    initial = config.initial_epoch if config else 0
    budget = config.time_budget_seconds if config else 0.0
    batches = max(run["batches"], 1)
    now = time.time()
    started = run["started_at"] or now
    done = min(run["epoch"] + run["batch"] / batches, planned)
    fraction = min((done - initial) / max(planned - initial, 1), 1.0)
    if budget:  # The larger share ends the run: its epochs or its budget.
        fraction = max(fraction, min((now - started) / budget, 1.0))
    epoch = f"Epoch {min(run['epoch'] + 1, planned)}" + ("" if budget else f" of {planned}")
    if run["batches"]:
        text = f"{epoch} · batch {run['batch']} of {batches} · {int(fraction * 100)}% of the run"
    else:
        text = f"{epoch} · loading the data and building the model"
    st.progress(fraction, text=text)
    anchors = st.session_state.setdefault(ANCHORS, {})
    if run["batch"] > 0 or run["epoch"] > 0:
        anchors.setdefault(run["id"], (now, done))
    limit = min(config.time_limit_minutes * 60, budget or float("inf")) if config else None
    time_left = limit - (now - started) if config else None
    seconds = [] if epochs is None or not len(epochs) else epochs["seconds"].tolist()
    remaining = remaining_seconds(anchors.get(run["id"]), now, done, planned, time_left, seconds)
    cols = st.columns(3)
    cols[0].metric("Elapsed", format_seconds(now - started))
    cols[1].metric("Remaining", format_seconds(remaining) if remaining is not None else "estimating...")
    if cols[2].button("⏹️ Stop", key="stop"):
        store.request_stop(run["id"])
        st.toast("Stopping after the current batch...")


def show_results(run: dict) -> None:
    """A completed run: test accuracy, best validation accuracy, time, prediction speed,
    and where to try the model."""

    def shown(value, style: str) -> str:  # A row another program wrote may lack results.
        return "–" if value is None else format(value, style)

    cols = st.columns(4)
    cols[0].metric("Test accuracy", shown(run["test_accuracy"], ".2%"))
    cols[1].metric("Best val accuracy", shown(run["best_val_accuracy"], ".2%"))
    cols[2].metric("Time", format_seconds(run["total_seconds"] or 0))
    cols[3].metric("ms / prediction", shown(run["ms_per_prediction"], ".2f"))
    if run["note"]:
        st.caption(run["note"])
    continued = continue_training(run, key="train")
    if continued is not None:
        st.query_params["run"] = str(continued)
        st.rerun()
    if run["dataset"] == "mnist":
        st.page_link("app_pages/draw.py", label="Try it on your own drawing", icon="✏️")
    elif dataset_facts(run["dataset"]).is_text:
        st.page_link("app_pages/text.py", label="Try it on a review of your own", icon="💬")
    else:
        st.page_link("app_pages/compare.py", label="See its mistakes on the Compare page", icon="📈")


def settings_form(store: RunStore) -> None:
    """The dataset, model and hyperparameters, checked as they change, and Start."""
    errors: dict[str, str] = {}
    slots: dict = {}
    settings, summary = st.columns([3, 2], gap="large")
    with settings:
        base, model_name = choose_model(errors)
        config, name = choose_hyperparameters(base, model_name, slots)
    params = check_config(config, errors)
    with settings:
        show_errors(errors, slots)
    with summary:
        show_summary(config, params, name, errors)


def main() -> None:
    presenter_mode()
    st.title("🏋️ Train")
    store = get_store()
    opened_on = "Race" if RACE in st.query_params else MODES[0]  # A race's address opens on it.
    mode = st.segmented_control("Mode", MODES, default=opened_on, required=True, key="train_mode")
    if mode == "Sweep":
        sweep_mode(store, choose_model)
        return
    if mode == "Race":
        race_mode(store)
        return
    if QUEUED in st.session_state:
        st.toast(f"Run {st.session_state.pop(QUEUED)} queued")
    follow_run(store)
    _, exists = requested_run(store)
    if exists:
        # The page is opened on a run (Start, or a link): the run comes first, the form
        # waits folded above it.
        with st.expander("⚙️ Set up another run", expanded=False):
            settings_form(store)
    else:
        settings_form(store)
        st.divider()
    watch_run(store)


if __name__ == "__main__":  # Streamlit runs a page as __main__; importing it runs nothing.
    main()
