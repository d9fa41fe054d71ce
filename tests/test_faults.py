"""Faults injected against the real engine and store: nothing lost, nothing broken."""

import errno
import os
import signal
import subprocess
import sys
import threading

import pytest

from core.predict import ModelUnavailable, Predictor
from core.store import RunStore, StoreError
from core.worker import ensure_workers, run_worker
from tests.conftest import REPO_DIR
from tests.helpers import QUICK, SLOW, queue, wait_for, wait_for_status


def test_model_file_with_code_is_refused_never_executed(tmp_path):
    import keras

    model = keras.Sequential(
        [keras.Input((28, 28)), keras.layers.Lambda(lambda x: x * 2.0), keras.layers.Flatten()]
    )
    path = tmp_path / "code.keras"
    model.save(path)
    with pytest.raises(ModelUnavailable, match="carries code"):
        Predictor(path)


def test_disk_full_while_saving_fails_the_run_and_leaves_no_half_written_model(store, monkeypatch):
    import keras

    def disk_full(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as handle:
            handle.write(b"PK partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(keras.Model, "save", disk_full)
    run_id = queue(store, QUICK)
    run_worker(store, idle_exit_seconds=0)
    run = store.get_run(run_id)
    assert run["status"] == "failed"
    assert "No space left on device" in run["error"]
    assert run["test_accuracy"] is None, "no result row for a model that was not saved"
    assert list(store.models_dir.iterdir()) == []


def test_read_only_data_directory_is_refused_with_a_clear_error(tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("x")
    with pytest.raises(StoreError, match="Cannot open the run store"):
        RunStore(blocked)


def test_store_file_is_shared_safely_and_a_newer_schema_is_refused(store, home):
    import sqlite3

    with sqlite3.connect(home / "runs.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal", "readers never block the writer"
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="written by a newer Digit Lab"):
        RunStore(home)


def test_worker_outlives_the_process_that_started_it(store, home):
    run_id = queue(store, QUICK)
    starter = (
        "from core.store import RunStore; from core.worker import ensure_workers; ensure_workers(RunStore())"
    )
    subprocess.run([sys.executable, "-c", starter], cwd=REPO_DIR, check=True)
    assert wait_for_status(store, run_id, ("completed",))["test_accuracy"] > 0


def test_restart_after_everything_died_fails_the_interrupted_run_and_runs_the_queue(store):
    interrupted, waiting = queue(store, SLOW, "interrupted"), queue(store, QUICK, "waiting")
    ensure_workers(store)
    run = wait_for(lambda: (r := store.get_run(interrupted))["batch"] > 0 and r, message="training to start")
    os.kill(run["worker_pid"], signal.SIGKILL)  # The machine's processes all die.
    restarted = RunStore(store.home)  # A new server opens the same store and polls it, as pages do.
    wait_for(
        lambda: ensure_workers(restarted) >= 0 and restarted.get_run(waiting)["status"] == "completed",
        timeout=180,
        interval=1.0,
        message="the queued run to complete after the restart",
    )
    assert restarted.get_run(interrupted)["status"] == "failed"
    assert not restarted.active_runs(), "nothing stays running or queued"


def test_twenty_sessions_polling_while_two_runs_train_lose_nothing(store, monkeypatch):
    monkeypatch.setenv("DIGITLAB_WORKERS", "2")
    first, second = (
        queue(store, QUICK.with_changes(epochs=2), "a"),
        queue(store, QUICK.with_changes(epochs=3), "b"),
    )
    ensure_workers(store)
    stop, failures, polls = threading.Event(), [], [0]

    def poll():
        while not stop.is_set():
            try:
                store.runs_table()
                store.active_runs()
                store.epochs([first, second])
                polls[0] += 1
            except Exception as error:  # Any error here is a lost update a user would see.
                failures.append(error)

    sessions = [threading.Thread(target=poll) for _ in range(20)]
    for session in sessions:
        session.start()
    try:
        wait_for_status(store, first, ("completed",))
        wait_for_status(store, second, ("completed",))
    finally:
        stop.set()
        for session in sessions:
            session.join()
    assert failures == []
    assert polls[0] > 20
    epochs = store.epochs([first, second])
    assert epochs.groupby("run_id").size().to_dict() == {first: 2, second: 3}
    assert store.get_run(first)["worker_pid"] != store.get_run(second)["worker_pid"], (
        "two workers trained at once"
    )
