"""Worker processes under stress: stopped and resumed, racing to start, killed while
saving. Real processes, real signals, real files."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from core.store import RunStore
from core.worker import ensure_workers, reap_dead_runs, spawn_worker
from tests.conftest import REPO_DIR
from tests.helpers import QUICK, SLOW, queue, wait_for, wait_for_status


def _kill(pid: int) -> None:
    """Ends a worker this test started (its own process group) and lets it go."""
    for signal_number in (signal.SIGCONT, signal.SIGKILL):
        try:
            os.killpg(pid, signal_number)
        except ProcessLookupError:
            return


def _stop_outside_a_write(pid: int, home) -> None:
    """SIGSTOPs a worker at a moment when it holds no write lock on the store, so the
    test (as a reaper would) can still write."""
    for _ in range(50):
        os.kill(pid, signal.SIGSTOP)
        wait_for(lambda: _state(pid) == "T", timeout=10, interval=0.02, message="the worker to stop")
        db = sqlite3.connect(home / "runs.sqlite", timeout=1, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("ROLLBACK")
            return
        except sqlite3.OperationalError:  # Stopped inside a write: let it finish, stop again.
            os.kill(pid, signal.SIGCONT)
            time.sleep(0.05)
        finally:
            db.close()
    raise AssertionError("the worker never stopped outside a write")


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


def _age_heartbeats(home, seconds: float) -> None:
    """Moves every heartbeat back, as a long suspend or a clock jump leaves them."""
    with sqlite3.connect(home / "runs.sqlite") as db:
        db.execute("UPDATE runs SET heartbeat_at = heartbeat_at - ?", (seconds,))
        db.execute("UPDATE workers SET heartbeat_at = heartbeat_at - ?", (seconds,))


def test_a_stopped_worker_is_alive_and_its_run_is_not_reaped(store, home):
    run_id, waiting = queue(store, SLOW, "stopped"), queue(store, QUICK, "waiting")
    ensure_workers(store)
    run = wait_for(lambda: (r := store.get_run(run_id))["batch"] > 0 and r, message="training to start")
    pid = run["worker_pid"]
    try:
        _stop_outside_a_write(pid, home)
        _age_heartbeats(home, 3600)  # An hour without a heartbeat.
        assert reap_dead_runs(store) == []
        assert store.get_run(run_id)["status"] == "running"
        assert [worker["pid"] for worker in store.workers()] == [pid], "still registered"
        assert ensure_workers(store) == 0, "no second worker while the first is only stopped"
        assert store.get_run(waiting)["status"] == "queued"
        os.kill(pid, signal.SIGCONT)
        store.request_stop(run_id)
        assert wait_for_status(store, run_id, ("cancelled",), timeout=60)["worker_pid"] == pid
        assert wait_for_status(store, waiting, ("completed",))["worker_pid"] == pid
    finally:
        _kill(pid)


def test_a_resumed_worker_leaves_a_run_marked_failed_alone_and_moves_on(store, home):
    victim, follower = queue(store, SLOW, "victim"), queue(store, QUICK, "follower")
    ensure_workers(store)
    run = wait_for(lambda: (r := store.get_run(victim))["epoch"] >= 1 and r, message="an epoch to finish")
    pid = run["worker_pid"]
    try:
        _stop_outside_a_write(pid, home)
        store.finish(victim, "failed", "marked failed while its worker was stopped")
        before = store.get_run(victim)
        epochs_before = len(store.epochs([victim]))
        os.kill(pid, signal.SIGCONT)
        done = wait_for_status(store, follower, ("completed",))
        assert done["worker_pid"] == pid, "the same worker went on to the next run"
    finally:
        _kill(pid)
    after = store.get_run(victim)
    assert len(store.epochs([victim])) == epochs_before, "no epoch written after it was failed"
    for column in ("status", "error", "epoch", "batch", "heartbeat_at", "finished_at", "test_accuracy"):
        assert after[column] == before[column], column
    assert not store.model_path(victim).exists()
    log = (home / "worker.log").read_text()
    assert f"run {victim}: abandoned" in log and f"run {follower}: completed" in log


def test_a_run_whose_worker_pid_now_names_a_newer_process_is_reaped(store, home):
    reused, alive = store.create_run(QUICK, 1, "reused"), store.create_run(QUICK, 1, "alive")
    assert store.claim_next(worker_pid=os.getpid(), max_running=2) == reused
    assert store.claim_next(worker_pid=os.getpid(), max_running=2) == alive
    newer = subprocess.Popen(["sleep", "120"])  # Started after both runs were claimed ...
    try:
        with sqlite3.connect(home / "runs.sqlite") as db:  # ... an hour ago, by a worker that died.
            db.execute(
                "UPDATE runs SET worker_pid = ?, started_at = started_at - 3600 WHERE id = ?",
                (newer.pid, reused),
            )
        assert reap_dead_runs(store) == [reused]
        assert f"(pid {newer.pid}) disappeared during epoch 1" in store.get_run(reused)["error"]
        assert store.get_run(alive)["status"] == "running", "this process started before its run"
    finally:
        newer.kill()
        newer.wait()


STARTER = """
import sys, time
from core.store import RunStore
from core.worker import ensure_workers
store = RunStore(sys.argv[1])
while time.time() < float(sys.argv[2]):
    time.sleep(0.001)
print(ensure_workers(store))
"""


def test_processes_starting_workers_at_the_same_moment_start_no_more_than_allowed(store, home, monkeypatch):
    monkeypatch.setenv("DIGITLAB_WORKERS", "2")
    for name in "abcd":
        queue(store, QUICK, name)
    go = time.time() + 4  # Every starter has imported everything by then.
    starters = [
        subprocess.Popen(
            [sys.executable, "-c", STARTER, str(home), str(go)],
            cwd=REPO_DIR,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    try:
        started = sum(
            int(starter.communicate(timeout=120)[0].strip().splitlines()[-1]) for starter in starters
        )
        workers = [worker["pid"] for worker in store.workers()]
        assert started == 2 and len(workers) == 2, (started, workers)
    finally:
        for worker in store.workers():
            _kill(worker["pid"])


def test_the_reaper_names_what_it_cannot_know_as_a_disappearance(store, home):
    run_id = queue(store, SLOW)
    starter = (
        "from core.store import RunStore; from core.worker import ensure_workers; ensure_workers(RunStore())"
    )
    subprocess.run([sys.executable, "-c", starter], cwd=REPO_DIR, check=True)  # Not our child.
    run = wait_for(lambda: (r := store.get_run(run_id))["batch"] > 0 and r, message="training to start")
    pid = run["worker_pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: reap_dead_runs(store) or store.get_run(run_id)["status"] == "failed", timeout=30)
    run = store.get_run(run_id)
    error = run["error"]
    assert error.startswith(f"The worker process (pid {pid}) disappeared during epoch {run['epoch'] + 1};")
    assert "worker.log" in error


def test_the_reaper_names_the_signal_that_killed_a_worker_it_started(store):
    run_id = queue(store, SLOW)
    process = spawn_worker(store, idle_exit_seconds=5)
    wait_for(lambda: store.get_run(run_id)["batch"] > 0, message="training to start")
    process.send_signal(signal.SIGKILL)
    wait_for(lambda: process.poll() is not None, timeout=30, message="the worker to die")
    assert reap_dead_runs(store) == [run_id]
    run = store.get_run(run_id)
    assert run["error"].startswith(
        f"The worker process (pid {process.pid}) was killed (SIGKILL) during epoch {run['epoch'] + 1}, "
        "often because it ran out of memory"
    )


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.mark.parametrize("cleaner", ["worker", "cli runs"])
def test_temporary_model_files_of_dead_workers_are_removed(store, home, cleaner):
    dead = store.models_dir / f".run-7.{_dead_pid()}.tmp.keras"
    living = store.models_dir / f".run-8.{os.getpid()}.tmp.keras"  # This process may still be saving.
    for path in (dead, living):
        path.write_bytes(b"PK half a model")
    if cleaner == "worker":
        assert spawn_worker(store, idle_exit_seconds=0).wait(timeout=120) == 0
    else:
        command = [sys.executable, "-m", "core", "runs"]
        subprocess.run(command, cwd=REPO_DIR, check=True, capture_output=True, timeout=120)
    assert not dead.exists()
    assert living.exists()
    assert RunStore(home).models_folder_bytes() == len(b"PK half a model")
