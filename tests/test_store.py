"""The run store's own contract, on real SQLite files (no TensorFlow, no worker)."""

import sqlite3
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from core.config import RunConfig
from core.store import SCHEMA_VERSION, RunStore, StoreError

CONFIG = RunConfig(family="dense", epochs=3)
RESULTS = {
    "test_loss": 0.3,
    "test_accuracy": 0.9,
    "seconds_per_epoch": 1.5,
    "total_seconds": 4.5,
    "ms_per_prediction": 0.8,
    "evaluation": {"confusion_matrix": [[1, 0], [0, 1]]},
    "versions": {"seed": 0},
    "model_file": "run-1.keras",
}


def running(store, name="run", config=CONFIG) -> int:
    """A run created and claimed by this process: its id."""
    run_id = store.create_run(config, 1000, name)
    assert store.claim_next(worker_pid=1, max_running=100) == run_id
    return run_id


def completed(store, name: str, test_accuracy: float) -> int:
    run_id = running(store, name)
    assert store.complete(run_id, RESULTS | {"test_accuracy": test_accuracy})
    return run_id


def status(store, run_id: int) -> str:
    return store.get_run(run_id)["status"]


def test_a_created_run_is_queued_with_its_config_decoded(store):
    config = CONFIG.with_changes(preset="MLP 32", learning_rate=0.01)
    run_id = store.create_run(config, 25_450, "  my run  ")
    run = store.get_run(run_id)
    assert run["config"] == config
    assert (run["name"], run["status"], run["params"]) == ("my run", "queued", 25_450)
    assert run["evaluation"] == {} and run["versions"] == {}
    assert store.get_run(run_id + 1) is None


def test_an_unnamed_run_takes_its_preset_or_family_name_and_long_names_are_cut(store):
    assert store.get_run(store.create_run(CONFIG.with_changes(preset="Small CNN"), 1))["name"] == "Small CNN"
    assert store.get_run(store.create_run(CONFIG, 1))["name"] == "Custom dense"
    assert len(store.get_run(store.create_run(CONFIG, 1, "x" * 200))["name"]) == 80


def test_runs_are_listed_best_first_and_filtered(store):
    weak = completed(store, "weak", 0.5)
    strong = completed(store, "strong", 0.99)
    unscored = store.create_run(CONFIG, 1, "queued")
    text = store.create_run(CONFIG.with_changes(dataset="sentiment"), 1, "text")
    table = store.runs_table()
    assert table["id"].tolist() == [strong, weak, text, unscored]  # Unscored last, newest first.
    assert table["epochs"].tolist() == [3, 3, 3, 3]
    assert store.runs_table(status="completed")["id"].tolist() == [strong, weak]
    assert store.runs_table(dataset="sentiment")["id"].tolist() == [text]
    assert [run["id"] for run in store.active_runs()] == [unscored, text]


def test_epochs_are_kept_per_run_in_order_with_the_best_validation_accuracy(store):
    first, second = running(store, "first"), running(store, "second")
    for epoch, val_accuracy in ((1, 0.8), (3, 0.85), (2, 0.9)):
        store.add_epoch(first, epoch, {"loss": 1.0, "accuracy": 0.7, "val_accuracy": val_accuracy})
    store.add_epoch(second, 1, {"loss": 2.0})
    epochs = store.epochs([first])
    assert epochs["epoch"].tolist() == [1, 2, 3]
    assert epochs["val_loss"].isna().all()  # A metric not given is stored as missing.
    assert store.get_run(first)["best_val_accuracy"] == 0.9
    assert store.get_run(first)["epoch"] == 2  # The last epoch written.
    assert len(store.epochs([first, second])) == 4
    assert store.epochs([]).empty


def test_claim_next_takes_the_oldest_queued_run_and_respects_max_running(store):
    older, newer = store.create_run(CONFIG, 1), store.create_run(CONFIG, 1)
    assert store.claim_next(worker_pid=7) == older
    run = store.get_run(older)
    assert run["status"] == "running" and run["worker_pid"] == 7 and run["started_at"] is not None
    assert store.claim_next(worker_pid=8, max_running=1) is None
    assert status(store, newer) == "queued"
    assert store.claim_next(worker_pid=8, max_running=2) == newer
    assert store.claim_next(worker_pid=9, max_running=5) is None  # Nothing left.


def test_claim_next_is_atomic_under_concurrent_workers(store):
    queued = {store.create_run(CONFIG, 1) for _ in range(6)}
    with ThreadPoolExecutor(max_workers=8) as pool:
        claims = list(pool.map(lambda pid: RunStore(store.home).claim_next(pid, max_running=100), range(24)))
    claimed = [run_id for run_id in claims if run_id is not None]
    assert sorted(claimed) == sorted(queued), "every run claimed exactly once"


def test_concurrent_workers_never_run_more_than_max_running(store):
    for _ in range(6):
        store.create_run(CONFIG, 1)
    with ThreadPoolExecutor(max_workers=8) as pool:
        claims = list(pool.map(lambda pid: RunStore(store.home).claim_next(pid, max_running=2), range(16)))
    assert len([run_id for run_id in claims if run_id is not None]) == 2
    assert len(store.running_runs()) == 2


def test_stop_cancels_a_queued_run_and_only_flags_a_running_one(store):
    queued = store.create_run(CONFIG, 1)
    store.request_stop(queued)
    assert status(store, queued) == "cancelled" and store.stop_requested(queued)
    assert store.claim_next(worker_pid=1) is None, "a cancelled run is never claimed"
    active = running(store)
    assert not store.stop_requested(active)
    store.request_stop(active)
    assert status(store, active) == "running" and store.stop_requested(active)


def test_complete_only_while_running(store):
    active, reaped = running(store), running(store)
    queued = store.create_run(CONFIG, 1)
    assert not store.complete(queued, RESULTS)
    assert status(store, queued) == "queued" and store.get_run(queued)["test_accuracy"] is None
    assert store.complete(active, RESULTS | {"note": "kept epoch 2"})
    run = store.get_run(active)
    assert (run["status"], run["test_accuracy"], run["note"]) == ("completed", 0.9, "kept epoch 2")
    assert run["evaluation"] == RESULTS["evaluation"] and run["finished_at"] is not None
    assert not store.complete(active, RESULTS | {"test_accuracy": 0.1}), "completed twice"
    assert store.get_run(active)["test_accuracy"] == 0.9
    store.finish(reaped, "failed", "the worker died")
    assert not store.complete(reaped, RESULTS)
    assert status(store, reaped) == "failed"
    store.delete_run(queued)
    assert not store.complete(queued, RESULTS) and store.get_run(queued) is None


def test_finish_ends_only_active_runs_and_keeps_the_reason(store):
    active = running(store)
    store.finish(active, "failed", "Ran out of memory. " * 200)
    run = store.get_run(active)
    assert run["status"] == "failed" and run["error"].startswith("Ran out of memory.")
    assert len(run["error"]) == 2000 and run["finished_at"] is not None
    done = completed(store, "done", 0.9)
    store.finish(done, "cancelled")
    assert status(store, done) == "completed", "a finished run keeps its status"


def test_delete_removes_the_run_its_epochs_and_its_files(store):
    run_id = completed(store, "doomed", 0.9)
    store.add_epoch(run_id, 1, {"loss": 1.0})
    kept = completed(store, "kept", 0.8)
    store.add_epoch(kept, 1, {"loss": 1.0})
    for path in (store.model_path(run_id), store.vocabulary_path(run_id), store.model_path(kept)):
        path.write_text("model")
    store.delete_run(run_id)
    assert store.get_run(run_id) is None and store.epochs([run_id]).empty
    assert not store.model_path(run_id).exists() and not store.vocabulary_path(run_id).exists()
    assert store.get_run(kept) is not None and store.model_path(kept).exists()
    assert len(store.epochs([kept])) == 1
    store.delete_run(run_id)  # Deleting twice is harmless.


def test_workers_register_beat_and_unregister(store):
    store.register_worker(101)
    store.register_worker(102)
    assert {worker["pid"] for worker in store.workers()} == {101, 102}
    run_id = running(store)
    before = store.get_run(run_id)["heartbeat_at"]
    store.worker_heartbeat(101, run_id)
    assert store.get_run(run_id)["heartbeat_at"] >= before
    store.unregister_worker(101)
    assert [worker["pid"] for worker in store.workers()] == [102]


def test_the_store_file_is_in_wal_mode(home):
    RunStore(home)
    with sqlite3.connect(home / "runs.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_store_written_by_a_newer_version_is_refused(home):
    RunStore(home)
    with sqlite3.connect(home / "runs.sqlite") as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(StoreError, match="newer Digit Lab"):
        RunStore(home)
    assert RunStore(home / "elsewhere").runs_table().empty, "another folder still works"


def test_a_schema_1_store_is_upgraded_in_place_keeping_its_runs(home):
    store = RunStore(home)
    run_id = running(store)
    with sqlite3.connect(store.path) as db:  # Make it a store as schema 1 wrote it.
        for column in ("parent_run_id", "sweep_id", "tags", "user_note", "device"):
            db.execute(f"ALTER TABLE runs DROP COLUMN {column}")
        db.execute("DROP TABLE sweeps")
        db.execute("DROP TABLE drawings")
        db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    upgraded = RunStore(home)
    run = upgraded.get_run(run_id)
    assert run["status"] == "running" and run["tags"] == "" and run["parent_run_id"] is None
    with sqlite3.connect(store.path) as db:
        version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
        assert version == str(SCHEMA_VERSION)
        assert {"sweeps", "drawings"} <= {row[0] for row in db.execute("SELECT name FROM sqlite_master")}


def test_drawings_are_saved_relabelled_and_deleted(store):
    image = np.arange(784, dtype=np.uint8).reshape(28, 28)
    first = store.add_drawing(7, image, b"\\x89PNG")
    second = store.add_drawing(1, np.zeros((28, 28), np.uint8))
    store.relabel_drawing(first, 9)
    store.delete_drawing(second)
    [saved] = store.drawings()
    assert saved["id"] == first and saved["label"] == 9 and saved["stroke_png"] == b"\\x89PNG"
    assert np.array_equal(saved["image"], image)
    with pytest.raises(ValueError):
        store.add_drawing(10, image)
    with pytest.raises(ValueError):
        store.add_drawing(3, np.zeros((28, 29), np.uint8))
