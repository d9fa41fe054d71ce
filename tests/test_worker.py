"""Runs executed by real worker processes: lifecycle, stop, a killed worker, concurrency."""

import os
import signal
import subprocess
import sys

from core.store import RunStore
from core.worker import ensure_workers, reap_dead_runs, spawn_worker
from tests.helpers import QUICK, SLOW, queue, wait_for, wait_for_status


def test_queued_runs_execute_in_order_in_a_worker_process(store):
    first, second = queue(store, QUICK, "first"), queue(store, QUICK, "second")
    assert store.get_run(first)["status"] == "queued"
    assert ensure_workers(store) == 1
    assert ensure_workers(store) == 0, "one worker is the default: no second one"
    done = wait_for_status(store, second, ("completed",))
    assert store.get_run(first)["status"] == "completed"
    assert store.get_run(first)["started_at"] < done["started_at"]
    assert done["worker_pid"] != os.getpid(), "training never runs in the caller"


def test_stop_ends_a_running_run_within_moments(store):
    run_id = queue(store, SLOW)
    ensure_workers(store)
    wait_for(lambda: store.get_run(run_id)["batch"] > 0, message="training to start")
    store.request_stop(run_id)
    run = wait_for_status(store, run_id, ("cancelled",), timeout=20)
    assert run["test_accuracy"] is None and not store.model_path(run_id).exists()


def test_stop_cancels_a_queued_run_at_once(store):
    run_id = queue(store, QUICK)
    store.request_stop(run_id)
    assert store.get_run(run_id)["status"] == "cancelled"


def test_killed_worker_fails_its_run_and_the_queue_goes_on(store):
    finished = queue(store, QUICK, "kept")
    ensure_workers(store)
    wait_for_status(store, finished, ("completed",))
    victim, follower = queue(store, SLOW, "victim"), queue(store, QUICK, "follower")
    ensure_workers(store)
    run = wait_for(lambda: (r := store.get_run(victim))["epoch"] >= 1 and r, message="an epoch to finish")
    os.kill(run["worker_pid"], signal.SIGKILL)
    wait_for(lambda: reap_dead_runs(store) or store.get_run(victim)["status"] == "failed", timeout=10)
    failed = store.get_run(victim)
    assert failed["status"] == "failed"
    assert "was killed (SIGKILL)" in failed["error"] and "ran out of memory" in failed["error"]
    assert len(store.epochs([victim])) >= 1, "the epochs it finished are kept"
    ensure_workers(store)
    assert wait_for_status(store, follower, ("completed",))["test_accuracy"] > 0
    kept = store.get_run(finished)
    assert kept["status"] == "completed" and store.model_path(finished).is_file()


WRITER = """
import sys
from core.config import RunConfig, LayerSpec
from core.store import RunStore
store = RunStore(sys.argv[1])
config = RunConfig(family="dense", layers=(LayerSpec("dense", units=8),))
for i in range(60):
    run_id = store.create_run(config, 1, f"{sys.argv[2]}-{i}")
    for epoch in range(1, 6):
        metrics = {"loss": run_id, "accuracy": epoch / 10, "val_loss": 1, "val_accuracy": 0.5, "seconds": 1}
        store.add_epoch(run_id, epoch, metrics)
"""


def test_processes_writing_at_once_lose_nothing(home):
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(home), f"w{n}"], cwd=os.getcwd())
        for n in range(4)
    ]
    assert all(writer.wait(timeout=120) == 0 for writer in writers)
    store = RunStore(home)
    table = store.runs_table()
    assert len(table) == 240
    epochs = store.epochs(table["id"].tolist())
    assert len(epochs) == 1200
    assert (epochs["loss"] == epochs["run_id"]).all(), "no metric landed on another run"


def test_a_spawned_worker_exits_when_idle(store):
    process = spawn_worker(store, idle_exit_seconds=0.5)
    assert process.wait(timeout=60) == 0
    assert store.workers() == [], "the worker unregisters itself when it exits"
