"""Sweeps: Optuna searches hyperparameters (ask-and-tell), the worker trains each trial
as an ordinary run, and pruning stops a trial after a poor epoch.

A sweep is a row in the store's `sweeps` table; each trial is a run with its
`sweep_id`, tied to its Optuna trial in `sweep_trials`. Optuna's own record (its
journal file, beside runs.sqlite) survives restarts and is safe for several processes.
Whoever looks after the queue (the worker between runs, `ensure_workers` when a page
polls) calls `top_up`: it tells Optuna how finished trials did, and asks for new ones
while the budget lasts, keeping at most `AHEAD` trials queued. Optuna is optional: without
it the app runs, and `start_sweep` says how to install it.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from functools import lru_cache
from pathlib import Path

from core.layers import ConfigError
from core.locks import file_lock
from core.runs import check, submit
from core.store import ACTIVE, RunStore
from core.sweep_spec import (
    PARAMETER_KINDS,
    SweepInvalid,
    SweepSpec,
    check_spec,
    grid_values,
    planned_trials,
    trial_config,
)

AHEAD = 2  # Trials kept queued ahead of the worker: enough that it never waits for Optuna.
JOURNAL = "optuna-journal.log"
INSTALL_HINT = (
    "Sweeps use Optuna, which is not installed here: run "
    "`.venv/bin/pip install -r requirements-extras.txt` (or "
    "`bash scripts/setup.sh requirements-extras.txt`), then restart the app."
)


def optuna_available() -> bool:
    """Returns True when Optuna can be imported."""
    try:
        return importlib.util.find_spec("optuna") is not None
    except (ImportError, ValueError):  # A broken install, or one removed while running.
        return False


@lru_cache(maxsize=8)
def _storage(path: str):
    """Returns Optuna's journal storage in that file (one per process: it keeps what it
    has read of the journal and reads only what was appended since)."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(path))


def _study_name(sweep_id: int) -> str:
    return f"digitlab-sweep-{int(sweep_id)}"


@lru_cache(maxsize=1)
def _grid_sampler_class():
    """Returns Optuna's GridSampler without its habit of stopping the study once the
    grid is used up: `Study.stop` works only inside `optimize`, and a sweep (asking and
    telling) stops asking by itself after `planned_trials`."""
    import optuna

    class AskAndTellGrid(optuna.samplers.GridSampler):
        def after_trial(self, study, trial, state, values) -> None:
            pass

    return AskAndTellGrid


def _samplers(spec: SweepSpec, asked: int):
    """Returns the Optuna sampler and pruner a spec asks for.

    The study is loaded anew for every batch of questions, so a random or TPE sampler
    seeded with the sweep's seed alone would draw the same first values each time: its
    seed also counts the trials `asked` so far.
    """
    import optuna

    if spec.search == "grid":
        sampler = _grid_sampler_class()({p.name: grid_values(p) for p in spec.parameters}, seed=spec.seed)
    elif spec.search == "random":
        sampler = optuna.samplers.RandomSampler(seed=spec.seed + asked)
    else:
        startup = min(10, max(3, spec.trials // 3))
        sampler = optuna.samplers.TPESampler(seed=spec.seed + asked, n_startup_trials=startup)
    if spec.pruning:
        # Successive halving: after epoch 1, and again after epoch 3, 9, ..., a trial goes on
        # only if it is among the best third of the trials that reached that epoch. (A
        # median pruner stops few trials once TPE samples mostly good ones.)
        pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    else:
        pruner = optuna.pruners.NopPruner()
    return sampler, pruner


def _study(store: RunStore, sweep_id: int, spec: SweepSpec, create: bool = False, asked: int = 0):
    """Returns the Optuna study of a sweep (created when `create`), its sampler seeded
    for the next trial after the `asked` ones."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler, pruner = _samplers(spec, asked)
    storage = _storage(str(Path(store.home) / JOURNAL))
    if create:
        return optuna.create_study(
            storage=storage,
            study_name=_study_name(sweep_id),
            direction="maximize",
            sampler=sampler,
            pruner=pruner,
        )
    return optuna.load_study(
        storage=storage, study_name=_study_name(sweep_id), sampler=sampler, pruner=pruner
    )


def validate_sweep(spec: SweepSpec) -> None:
    """Checks a sweep before anything is queued.

    Raises:
        SweepInvalid: a field must change (its `errors` say which and how); also when
            Optuna is not installed (field "optuna").
        DatasetUnavailable: the dataset cannot be loaded here.
    """
    errors = check_spec(spec, check)
    if not optuna_available():
        errors["optuna"] = INSTALL_HINT
    if errors:
        raise SweepInvalid(errors)


def start_sweep(store: RunStore, spec: SweepSpec, start_worker: bool = True) -> int:
    """Checks a sweep, records it, queues its first trials and makes sure a worker runs.

    Args:
        store: the run store.
        spec: the sweep.
        start_worker: start a worker if none is alive (False when the caller trains).

    Returns:
        The sweep's id.

    Raises:
        SweepInvalid: the spec must change; nothing is queued.
        DatasetUnavailable: the dataset cannot be loaded here; nothing is queued.
    """
    validate_sweep(spec)
    sweep_id = store.create_sweep(spec.label(), spec.to_json())
    with file_lock(store.home / "sweeps.lock"):
        _study(store, sweep_id, spec, create=True)
        _top_up_one(store, store.get_sweep(sweep_id))
    if start_worker:
        from core.worker import ensure_workers

        ensure_workers(store)
    return sweep_id


def top_up(store: RunStore) -> None:
    """Tells Optuna how the finished trials of every running sweep did, asks for new
    trials while budgets last, and marks sweeps whose trials are all done completed.

    Cheap when no sweep runs (one query). A sweep whose study is missing from the
    journal is marked failed; one that cannot be driven for another reason is reported
    on stderr and tried again next time; the others go on.
    """
    if store.read_only_reason:
        return
    running = store.sweeps(status="running")
    if not running or not optuna_available():
        return
    with file_lock(store.home / "sweeps.lock"):
        for sweep in running:
            try:
                _top_up_one(store, store.get_sweep(sweep["id"]))
            except KeyError as error:  # Its study is not in the journal (deleted, or another store's).
                store.set_sweep_status(sweep["id"], "failed")
                print(
                    f"sweep {sweep['id']}: no Optuna study ({error}): marked failed",
                    file=sys.stderr,
                    flush=True,
                )
            except Exception as error:  # One damaged sweep must not stop the queue.
                print(f"sweep {sweep['id']}: {type(error).__name__}: {error}", file=sys.stderr, flush=True)


def _top_up_one(store: RunStore, sweep: dict) -> None:
    """Tells, asks and finishes one sweep; the caller holds the sweeps lock. Optuna's
    study is loaded only when there is something to tell or ask."""
    spec = SweepSpec.from_json(sweep["spec"])
    rows = store.sweep_trial_rows(sweep["id"])
    untold = [row for row in rows if not row["told"] and row["status"] not in ACTIVE]
    running = sweep["status"] == "running"
    queued = sum(row["status"] == "queued" for row in rows)
    asked = len(rows)
    out_of_time = bool(spec.minutes) and time.time() - sweep["created_at"] > spec.minutes * 60
    may_ask = running and not out_of_time and asked < planned_trials(spec)
    if untold or (may_ask and queued < AHEAD):
        study = _study(store, sweep["id"], spec, asked=asked)
        for row in untold:
            _tell(study, row)
            store.mark_trial_told(row["run_id"])
        while may_ask and asked < planned_trials(spec) and queued < AHEAD:
            if not _ask(store, study, sweep["id"], spec, asked):
                break
            asked += 1
            queued += 1
    done_asking = asked >= planned_trials(spec) or out_of_time
    if running and done_asking and asked == len(rows) and not any(row["status"] in ACTIVE for row in rows):
        store.set_sweep_status(sweep["id"], "completed")


def _tell(study, row: dict) -> None:
    """Tells Optuna how a finished trial did: its best validation accuracy (the
    hyperparameters are chosen on validation data, never on the test set)."""
    from optuna.trial import TrialState

    if row["status"] == "completed" and row["best_val_accuracy"] is not None:
        study.tell(row["trial_number"], row["best_val_accuracy"], skip_if_finished=True)
    elif row["status"] == "pruned":
        study.tell(row["trial_number"], state=TrialState.PRUNED, skip_if_finished=True)
    else:  # Failed, stopped, deleted (status None), or completed without a validation score.
        study.tell(row["trial_number"], state=TrialState.FAIL, skip_if_finished=True)


def _ask(store: RunStore, study, sweep_id: int, spec: SweepSpec, number: int) -> bool:
    """Asks Optuna for one trial and queues it as a run; returns False (and tells the
    trial failed) when it cannot be queued now."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
    from optuna.trial import TrialState

    distributions = {}
    for parameter in spec.parameters:
        kind = PARAMETER_KINDS[parameter.name]
        if spec.search == "grid" or not kind.is_range:
            values = (
                grid_values(parameter) if spec.search == "grid" else list(dict.fromkeys(parameter.choices))
            )
            distributions[parameter.name] = CategoricalDistribution(values)
        elif kind.whole:
            distributions[parameter.name] = IntDistribution(int(parameter.low), int(parameter.high))
        else:
            distributions[parameter.name] = FloatDistribution(parameter.low, parameter.high, log=kind.log)
    trial = study.ask(distributions)
    values = trial.params
    try:
        run_id = submit(
            store,
            trial_config(spec.base, values),
            f"{spec.label()[:60]} · trial {number + 1}",
            start_worker=False,
            sweep_id=sweep_id,
        )
    except ConfigError as error:  # The queue is full, or the disk: try again later.
        study.tell(trial, state=TrialState.FAIL)
        print(f"sweep {sweep_id}: trial not queued: {error}", file=sys.stderr, flush=True)
        return False
    store.add_sweep_trial(run_id, sweep_id, trial.number, trial._trial_id, json.dumps(values))
    return True


def should_prune(store: RunStore, run_id: int, epoch: int, value: float | None) -> bool:
    """Reports a sweep trial's validation accuracy after an epoch to its study; returns
    True when the sweep prunes it (the run then ends after this epoch as "pruned").

    The one place that decides pruning: every path that records a trial's epochs
    calls it. Returns False at once for a run that is no sweep trial.

    Args:
        store: the run store.
        run_id: the run that finished an epoch.
        epoch: that epoch, counted from 1.
        value: its validation accuracy (None or NaN: nothing to report).
    """
    trial_row = store.sweep_trial_of(run_id)
    if trial_row is None or value is None or value != value:
        return False
    sweep = store.get_sweep(trial_row["sweep_id"])
    if sweep is None:
        return False
    import optuna

    spec = SweepSpec.from_json(sweep["spec"])
    study = _study(store, sweep["id"], spec)
    trial = optuna.Trial(study, trial_row["trial_id"])
    trial.report(float(value), int(epoch))
    return spec.pruning and trial.should_prune()


def stop_sweep(store: RunStore, sweep_id: int) -> None:
    """Stops a sweep: no new trials; queued ones are cancelled, running ones stop."""
    store.set_sweep_status(sweep_id, "stopped")
    for row in store.sweep_trial_rows(sweep_id):
        if row["status"] in ACTIVE:
            store.request_stop(row["run_id"])


def sweep_summary(store: RunStore, sweep_id: int) -> tuple[SweepSpec, list[dict]]:
    """Returns a sweep's spec and its trials: trial (from 1), run id, each parameter's
    value, status, epochs done, best validation and test accuracy, seconds."""
    sweep = store.get_sweep(sweep_id)
    spec = SweepSpec.from_json(sweep["spec"])
    trials = []
    for row in store.sweep_trial_rows(sweep_id):
        trials.append(
            {
                "trial": row["trial_number"] + 1,
                "run": row["run_id"],
                **json.loads(row["params"]),
                "status": row["status"] or "deleted",
                "epochs": row["epoch"],
                "best_val_accuracy": row["best_val_accuracy"],
                "test_accuracy": row["test_accuracy"],
                "seconds": row["total_seconds"],
            }
        )
    return spec, trials


__all__ = [
    "INSTALL_HINT",
    "SweepInvalid",
    "SweepSpec",
    "should_prune",
    "start_sweep",
    "stop_sweep",
    "sweep_summary",
    "top_up",
    "validate_sweep",
]
