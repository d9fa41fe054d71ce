"""Sweeps: a spec checked field by field, trials trained by real workers, pruning, a
killed worker in the middle of a sweep."""

import os
import re
import signal
from dataclasses import replace

import optuna
import pytest

from core.presets import get_preset
from core.store import RunStore
from core.sweep_spec import SweepParameter, SweepSpec
from core.sweeps import JOURNAL, SweepInvalid, start_sweep, sweep_summary, top_up
from core.worker import ensure_workers, reap_dead_runs, run_worker
from tests.helpers import wait_for

BASE = get_preset("Quick CNN").config.with_changes(limit=600, epochs=3, batch_size=32, augment=False)
LEARNING_RATE = SweepParameter("learning_rate", 1e-5, 1e-2)


def study_states(home, sweep_id) -> list[str]:
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(home / JOURNAL)))
    study = optuna.load_study(storage=storage, study_name=f"digitlab-sweep-{sweep_id}")
    return [trial.state.name for trial in study.trials]


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"parameters": ()}, "parameters", "Choose one to three"),
        ({"parameters": (SweepParameter("learning_rate", 1e-3, 1e-3),)}, "learning_rate", "is empty"),
        ({"parameters": (SweepParameter("learning_rate", 1e-2, 1e-4),)}, "learning_rate", "swap them"),
        ({"parameters": (SweepParameter("batch_size", choices=()),)}, "batch_size", "at least one value"),
        ({"parameters": (SweepParameter("dropout_rate", 0.1, 0.5),)}, "dropout_rate", "no dropout layer"),
        ({"parameters": (SweepParameter("epochs", 1, float("nan")),)}, "epochs", "must be numbers"),
        ({"parameters": (SweepParameter("batch_size", choices=(32, 9000)),)}, "batch_size", "between 1 and"),
        ({"trials": 0}, "trials", "1 to 200 trials"),
        ({"trials": 10_000}, "trials", "1 to 200 trials"),
        ({"minutes": -1.0}, "minutes", "time budget"),
        ({"search": "<b>magic</b>"}, "search", "grid, random, tpe"),
    ],
)
def test_a_bad_sweep_says_what_to_change_under_its_field_and_queues_nothing(store, changes, field, words):
    spec = replace(SweepSpec(BASE, (LEARNING_RATE,)), **changes)
    with pytest.raises(SweepInvalid) as refused:
        start_sweep(store, spec, start_worker=False)
    assert words in refused.value.errors[field]
    assert store.runs_table().empty and store.sweeps() == [], "nothing was queued"


def test_a_sweep_trains_its_trials_in_a_worker_and_prunes_a_poor_one_after_an_epoch(store, home):
    spec = SweepSpec(
        BASE.with_changes(epochs=2),
        (LEARNING_RATE,),
        trials=4,
        search="grid",
        pruning=True,
        name="lr <sweep>",
    )
    sweep_id = start_sweep(store, spec, start_worker=False)
    queued = store.runs_table()
    assert len(queued) == 2, "two trials wait ahead of the worker, no more"
    assert set(queued["sweep_id"]) == {sweep_id}
    run_worker(store, idle_exit_seconds=1)  # Trains every trial, topping the sweep up between runs.

    _, trials = sweep_summary(store, sweep_id)
    assert [trial["trial"] for trial in trials] == [1, 2, 3, 4]
    assert sorted(trial["learning_rate"] for trial in trials) == [1e-5, 0.0001, 0.001, 0.01]
    pruned = [trial for trial in trials if trial["status"] == "pruned"]
    completed = [trial for trial in trials if trial["status"] == "completed"]
    assert pruned and completed and len(pruned) + len(completed) == 4
    for trial in pruned:
        run = store.get_run(trial["run"])
        assert run["epoch"] == 1, "a pruned trial stopped after its first epoch, not its second"
        assert len(store.epochs([trial["run"]])) == run["epoch"], "its epochs are kept"
        assert run["note"] == f"Pruned by its sweep after epoch {run['epoch']}."
        assert not store.model_path(trial["run"]).exists()
    assert all(trial["test_accuracy"] > 0 for trial in completed)
    assert max(t["best_val_accuracy"] for t in completed) > max(t["best_val_accuracy"] for t in pruned)
    assert store.get_sweep(sweep_id)["status"] == "completed"
    assert sorted(study_states(home, sweep_id)) == sorted(
        "PRUNED" if trial["status"] == "pruned" else "COMPLETE" for trial in trials
    ), "Optuna was told how every trial ended"


@pytest.mark.parametrize("search", ["random", "tpe"])
def test_every_trial_of_a_sweep_tries_new_values(store, search):
    """The worker asks for two trials at a time, each time from a freshly loaded study:
    no two trials may get the same learning rate."""
    spec = SweepSpec(BASE, (LEARNING_RATE,), trials=6, search=search, pruning=False)
    sweep_id = start_sweep(store, spec, start_worker=False)
    while (run_id := store.claim_next(os.getpid())) is not None:  # Each trial fails at once.
        store.finish(run_id, "failed", "a test", worker_pid=os.getpid())
        top_up(store)
    _, trials = sweep_summary(store, sweep_id)
    rates = [trial["learning_rate"] for trial in trials]
    assert len(rates) == 6 and len(set(rates)) == 6, rates


def test_a_sweep_goes_on_with_a_new_worker_when_its_worker_is_killed(home):
    store = RunStore(home)
    batch = SweepParameter("batch_size", choices=(16, 32, 64))
    spec = SweepSpec(BASE, (batch,), trials=3, search="grid", pruning=False)
    sweep_id = start_sweep(store, spec, start_worker=True)
    assert len(store.runs_table()) == 2, "two trials queued; the third is asked for later"
    first = min(store.runs_table()["id"])
    run = wait_for(lambda: (r := store.get_run(first))["batch"] > 0 and r, message="the first trial to train")
    os.kill(run["worker_pid"], signal.SIGKILL)
    wait_for(lambda: reap_dead_runs(store) or store.get_run(first)["status"] == "failed", timeout=20)

    restarted = RunStore(home)  # The app again, as after a restart: only the files remain.
    ensure_workers(restarted)
    wait_for(lambda: restarted.get_sweep(sweep_id)["status"] == "completed", timeout=240, message="the sweep")
    _, trials = sweep_summary(restarted, sweep_id)
    assert [trial["status"] for trial in trials] == ["failed", "completed", "completed"]
    assert sorted(trial["batch_size"] for trial in trials) == [16, 32, 64], "the grid went on where it was"
    assert "was killed (SIGKILL)" in restarted.get_run(first)["error"]
    assert sorted(study_states(home, sweep_id)) == ["COMPLETE", "COMPLETE", "FAIL"]


def test_a_sweep_started_on_the_train_page_shows_its_trials_and_parallel_coordinates(browser, tmp_path):
    from playwright.sync_api import expect

    from devtools.app_server import AppServer, kill_workers
    from devtools.browser import (
        RERUN_TIMEOUT_MS,
        TRAIN_TIMEOUT_MS,
        VIEWPORT,
        assert_no_app_errors,
        click_button,
        fill_number,
        key,
        open_page,
        screenshot,
        select_option,
        wait_until_idle,
    )

    server = AppServer(tmp_path, tmp_path / "streamlit.log").start()
    page = browser.new_context(viewport=VIEWPORT).new_page()
    try:
        open_page(page, server.url, "train", heading="Train")
        page.locator(key("train_mode")).get_by_role("radio", name="Sweep").click()
        wait_until_idle(page)
        select_option(page, "preset", "DNN 128-128")  # A dense model: the quickest trials.
        fill_number(page, "sweep_trials", 10000)
        expect(page.locator(key("start_sweep")).locator("button")).to_be_disabled()
        expect(page.get_by_text("A sweep runs 1 to 200 trials")).to_be_visible(timeout=RERUN_TIMEOUT_MS)
        fill_number(page, "sweep_trials", 2)
        fill_number(page, "sweep_epochs", 2)
        fill_number(page, "sweep_limit", 600)
        click_button(page, "start_sweep")
        expect(page.get_by_role("heading", name=re.compile(r"sweep #1"))).to_be_visible(
            timeout=RERUN_TIMEOUT_MS
        )
        expect(page.get_by_test_id("stDataFrame")).to_be_visible()
        chart = page.locator(key("sweep_parallel"))
        expect(chart).to_contain_text("best val accuracy", timeout=TRAIN_TIMEOUT_MS)
        expect(chart).to_contain_text("Learning rate (log)", timeout=RERUN_TIMEOUT_MS)
        assert_no_app_errors(page)
        screenshot(page, "sweep-train-page")
    finally:
        page.context.close()
        server.stop()
        kill_workers(tmp_path)
    store = RunStore(tmp_path)
    assert len(store.sweeps()) == 1 and store.runs_table()["sweep_id"].notna().all()
    assert (store.runs_table()["status"] == "completed").sum() >= 2
