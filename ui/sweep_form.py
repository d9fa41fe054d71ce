"""The Train page's Sweep mode: the sweep's form, and its trials as they train."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from core.config import RunConfig
from core.datasets import DatasetUnavailable
from core.store import RunStore
from core.sweep_spec import MAX_TRIALS, PARAMETER_KINDS, SEARCHES, SweepParameter, SweepSpec, check_spec
from core.sweeps import INSTALL_HINT, SweepInvalid, optuna_available, start_sweep, stop_sweep, sweep_summary
from ui.charts import parallel_coordinates_figure
from ui.format import STATUS_LABELS, as_text
from ui.presenter import readable
from ui.resources import keep_workers_alive

WATCHED = "watched_sweep"
# Where each range starts, and each list of choices, until the user changes them.
DEFAULT_RANGES = {"learning_rate": (1e-4, 1e-2), "dropout_rate": (0.1, 0.5), "epochs": (2, 8)}
DEFAULT_CHOICES = {"batch_size": "32, 64, 128, 256", "units": "32, 64, 128"}
FIELD_LABELS = {"parameters": "hyperparameters", "trials": "Trials", "minutes": "Minutes", "base": "model"}
TRIAL_COLUMNS = {
    "best_val_accuracy": st.column_config.NumberColumn("best val", format="%.2f %%"),
    "test_accuracy": st.column_config.NumberColumn("test acc", format="%.2f %%"),
    "seconds": st.column_config.NumberColumn("s", format="%.0f"),
}


def sweep_mode(store: RunStore, choose_model: Callable[[dict], tuple[RunConfig, str]]) -> None:
    """The Sweep mode: its form (the model chosen as for one run), Start, then the sweep."""
    if not optuna_available():
        st.info(INSTALL_HINT)
        return
    errors: dict[str, str] = {}
    slots: dict = {}
    settings, summary = st.columns([3, 2], gap="large")
    with settings:
        base, _ = choose_model(errors)
        spec = sweep_form(base, errors, slots)
    if not errors:
        try:
            errors.update(check_spec(spec, _check_config))
        except DatasetUnavailable as error:
            errors["base"] = str(error)
    with settings:
        for field, message in errors.items():
            slots.get(field, st).error(message, icon="⚠️")
    with summary:
        start_button(store, spec, errors)
    st.divider()
    watch_sweep(store)


def _check_config(config: RunConfig) -> int:
    """`core.runs.check`, imported when first needed (it loads the dataset)."""
    from core.runs import check

    return check(config)


def parameter_fields(errors: dict[str, str], slots: dict) -> tuple[SweepParameter, ...]:
    """One to three hyperparameters and, for each, its range or its choices; a place
    for each one's message goes into `slots`."""
    names = st.multiselect(
        "Hyperparameters to sweep (one to three)",
        list(PARAMETER_KINDS),
        default=["learning_rate"],
        format_func=lambda name: PARAMETER_KINDS[name].label,
        max_selections=3,
        key="sweep_parameters",
    )
    slots["parameters"] = st.empty()
    parameters = []
    for name in names:
        kind = PARAMETER_KINDS[name]
        if name == "augment":
            st.caption("Augment images: tries off and on.")
            parameters.append(SweepParameter(name, choices=(False, True)))
        elif kind.is_range:
            parameters.append(range_fields(name))
        else:
            parameters.append(choice_field(name, errors))
        slots[name] = st.empty()
    return tuple(parameters)


def range_fields(name: str) -> SweepParameter:
    """A range's two bounds, side by side."""
    kind = PARAMETER_KINDS[name]
    low, high = DEFAULT_RANGES[name]
    number = {"format": "%.0e" if kind.log else ("%d" if kind.whole else "%.2f")}
    if kind.whole:
        number["step"] = 1
    cols = st.columns(2)
    scale = " (log scale)" if kind.log else ""
    lower = cols[0].number_input(f"{kind.label}: from{scale}", value=low, key=f"sweep_{name}_low", **number)
    upper = cols[1].number_input(f"{kind.label}: to", value=high, key=f"sweep_{name}_high", **number)
    return SweepParameter(name, float(lower), float(upper))


def choice_field(name: str, errors: dict[str, str]) -> SweepParameter:
    """A list of values, written as '32, 64, 128'."""
    kind = PARAMETER_KINDS[name]
    text = st.text_input(f"{kind.label}: values", DEFAULT_CHOICES[name], key=f"sweep_{name}_choices")
    try:
        values = tuple(dict.fromkeys(int(part) for part in text.replace(" ", "").split(",") if part))
    except ValueError:
        errors[name] = "Write whole numbers separated by commas, for example 32, 64, 128."
        values = ()
    return SweepParameter(name, choices=values)


def sweep_form(base: RunConfig, errors: dict[str, str], slots: dict) -> SweepSpec:
    """The sweep's own settings; returns its spec (the caller checks it and shows each
    message in its field's place in `slots`)."""
    with st.container(border=True):
        st.markdown("**Sweep**")
        parameters = parameter_fields(errors, slots)
        cols = st.columns(2)
        epochs = cols[0].number_input("Epochs of each trial", value=base.epochs, step=1, key="sweep_epochs")
        limit = cols[1].number_input(
            "Train on first N items (0 = all)", value=base.limit, step=500, key="sweep_limit"
        )
        cols = st.columns(3)
        budget = cols[0].radio("Budget", ["trials", "minutes"], horizontal=True, key="sweep_budget")
        trials = cols[1].number_input("Trials", value=8, step=1, key="sweep_trials")
        slots["trials"] = cols[1].empty()
        minutes = cols[2].number_input(
            "Minutes", value=10.0, step=5.0, key="sweep_minutes", disabled=budget != "minutes"
        )
        slots["minutes"] = cols[2].empty()
        search = st.segmented_control(
            "Search",
            list(SEARCHES),
            format_func=SEARCHES.get,
            default="tpe",
            required=True,
            key="sweep_search",
        )
        slots["search"] = st.empty()
        pruning = st.checkbox(
            "Prune poor trials after an epoch",
            value=True,
            key="sweep_pruning",
            help="After epoch 1, and again after epochs 3, 9, ..., a trial goes on only if its "
            "validation accuracy is among the best third of the trials that got there "
            "(Optuna's successive-halving pruner).",
        )
        name = st.text_input("Sweep name (optional)", key="sweep_name", max_chars=60)
    return SweepSpec(
        base=base.with_changes(epochs=int(epochs), limit=int(limit)),
        parameters=parameters,
        trials=int(trials) if budget == "trials" else MAX_TRIALS,
        minutes=float(minutes) if budget == "minutes" else 0.0,
        search=search or "",
        pruning=bool(pruning),
        name=name,
    )


def start_button(store: RunStore, spec: SweepSpec, errors: dict[str, str]) -> None:
    """Says what to fix, or what the sweep is, and starts it."""
    st.subheader("Sweep")
    if errors:
        fields = [
            PARAMETER_KINDS[f].label if f in PARAMETER_KINDS else FIELD_LABELS.get(f, f) for f in errors
        ]
        st.caption(f"⚠️ To start, fix: {', '.join(fields)} (the message is under the field).")
    else:
        pruning = "on" if spec.pruning else "off"
        st.caption(f"{as_text(spec.label())} · {SEARCHES[spec.search]} search · pruning {pruning}")
    if st.button("🔎 Start the sweep", type="primary", disabled=bool(errors), key="start_sweep"):
        try:
            sweep_id = start_sweep(store, spec)
        except (SweepInvalid, DatasetUnavailable) as error:
            st.error(str(error))
        else:
            st.session_state[WATCHED] = sweep_id
            st.toast(f"Sweep {sweep_id} started")


def watch_sweep(store: RunStore) -> None:
    """The watched sweep (the one started here, else the newest), polled while it runs."""
    sweeps = store.sweeps()
    if not sweeps:
        st.info("No sweeps yet: choose a model and what to vary above, then **Start the sweep**.")
        return
    names = {sweep["id"]: f"#{sweep['id']} {sweep['name']}" for sweep in sweeps}
    watched = st.session_state.get(WATCHED)
    index = list(names).index(watched) if watched in names else 0
    sweep_id = st.selectbox("Sweep", list(names), index=index, format_func=names.get, key="sweep_shown")
    running = store.get_sweep(sweep_id)["status"] == "running"
    st.fragment(show_sweep, run_every=1.0 if running else None)(store, sweep_id, running)


def trials_frame(trials: list[dict], spec: SweepSpec) -> pd.DataFrame:
    """The trials as a table: status in words (a pruned trial says after which epoch)."""
    frame = pd.DataFrame(trials)
    if frame.empty:
        return frame
    epochs = frame["epochs"].fillna(0).astype(int)
    labels = frame["status"].map({**STATUS_LABELS, "deleted": "🗑️ deleted"})
    frame["status"] = labels.where(frame["status"] != "pruned", "✂️ pruned after epoch " + epochs.astype(str))
    frame["epochs"] = epochs.astype(str) + f"/{spec.base.epochs}"
    for column in ("best_val_accuracy", "test_accuracy"):
        frame[column] = frame[column].astype(float) * 100
    return frame


def show_sweep(store: RunStore, sweep_id: int, polling: bool) -> None:
    """One sweep: progress, its trials, the parallel-coordinates plot, Stop."""
    keep_workers_alive()  # Tops the sweep up too: the next trials are queued as others end.
    sweep = store.get_sweep(sweep_id)
    spec, trials = sweep_summary(store, sweep_id)
    done = sum(trial["status"] not in ("queued", "running") for trial in trials)
    st.subheader(f"{as_text(sweep['name'])} · sweep #{sweep_id} · {sweep['status']}")
    budget = f"{spec.minutes:g} minutes" if spec.minutes else f"{spec.trials} trials"
    st.caption(f"Trials done: {done}; queued or training: {len(trials) - done} · budget {budget}")
    if sweep["status"] == "running" and st.button("⏹️ Stop the sweep", key="stop_sweep"):
        stop_sweep(store, sweep_id)
        st.rerun()
    training = [trial for trial in trials if trial["status"] == "running"]
    if training:  # A trial is an ordinary run: the One run view draws its live curves.
        links = ", ".join(f"[trial {t['trial']} (run #{t['run']})](train?run={t['run']})" for t in training)
        st.markdown(f"Live curves of {links}")
    frame = trials_frame(trials, spec)
    if not frame.empty:
        swept = {
            p.name: st.column_config.NumberColumn(
                PARAMETER_KINDS[p.name].label.split(" (")[0],
                format="%.2e" if PARAMETER_KINDS[p.name].log else None,
            )
            for p in spec.parameters
            if p.name != "augment"
        }
        st.dataframe(frame, hide_index=True, key="sweep_trials_table", column_config=TRIAL_COLUMNS | swept)
    scored = pd.DataFrame(trials).dropna(subset=["best_val_accuracy"]) if trials else pd.DataFrame()
    if len(scored) >= 2:
        names = {p.name: PARAMETER_KINDS[p.name].label.split(" (")[0] for p in spec.parameters}
        log = [p.name for p in spec.parameters if PARAMETER_KINDS[p.name].log]
        figure = parallel_coordinates_figure(scored, names, "best_val_accuracy", "best val accuracy", log)
        st.plotly_chart(readable(figure), key="sweep_parallel")
    elif trials:
        st.caption("The parallel-coordinates plot appears once two trials have an epoch.")
    if sweep["status"] != "running" and polling:
        st.rerun()  # The sweep ended: rerun the page so polling stops.
