"""The worker process that executes queued runs, and how the app keeps one alive.

A worker is `python -m core worker`: it claims the oldest queued run, trains it,
and goes on to the next. A watcher thread beats its heartbeat and turns a user's
Stop into an event the training callback sees within one batch. Runs whose worker
died (killed, out of memory) are found by pid and heartbeat and marked failed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from core.store import RunStore

HEARTBEAT_SECONDS = 2.0
STOP_POLL_SECONDS = 0.25
STALE_SECONDS = 60.0
IDLE_POLL_SECONDS = 0.5
REPO_DIR = Path(__file__).resolve().parent.parent
_spawned: list[subprocess.Popen] = []
_spawn_lock = threading.Lock()  # One server's sessions never spawn workers twice at once.


def worker_count() -> int:
    """Returns how many workers may train at once (`DIGITLAB_WORKERS`, default 1)."""
    try:
        return max(1, int(os.environ.get("DIGITLAB_WORKERS", "1")))
    except ValueError:
        return 1


def process_alive(pid: int | None) -> bool:
    """Returns True if a process with that pid runs (and is not a zombie)."""
    if not pid:
        return False
    for child in list(_spawned):
        if child.poll() is not None:  # Reaps our own dead children.
            _spawned.remove(child)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def reap_dead_runs(store: RunStore) -> list[int]:
    """Marks running runs whose worker is gone as failed (returns their ids) and
    forgets workers that are gone."""
    now = time.time()
    reaped = []
    for run in store.running_runs():
        stale = run["heartbeat_at"] is not None and now - run["heartbeat_at"] > STALE_SECONDS
        if process_alive(run["worker_pid"]) and not stale:
            continue
        reason = (
            f"The worker process (pid {run['worker_pid']}) stopped unexpectedly during epoch "
            f"{run['epoch'] + 1}: it was killed or ran out of memory."
        )
        store.finish(run["id"], "failed", reason)
        reaped.append(run["id"])
    for worker in store.workers():
        if not process_alive(worker["pid"]) or now - worker["heartbeat_at"] > STALE_SECONDS:
            store.unregister_worker(worker["pid"])
    return reaped


def ensure_workers(store: RunStore, idle_exit_seconds: float = 30.0) -> int:
    """Reaps dead runs and starts workers (that exit after `idle_exit_seconds`
    without work) while runs wait and fewer than `worker_count()` are alive;
    returns how many were started."""
    with _spawn_lock:
        reap_dead_runs(store)
        needed = min(store.count_queued(), worker_count() - len(store.workers()))
        for _ in range(max(0, needed)):
            spawn_worker(store, idle_exit_seconds)
        return max(0, needed)


def spawn_worker(store: RunStore, idle_exit_seconds: float | None) -> subprocess.Popen:
    """Starts `python -m core worker` in its own session (it outlives the caller)."""
    command = [sys.executable, "-m", "core", "worker"]
    if idle_exit_seconds is not None:
        command += ["--idle-exit", str(idle_exit_seconds)]
    environment = {**os.environ, "DIGITLAB_HOME": str(store.home)}
    with open(store.home / "worker.log", "ab") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO_DIR,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    store.register_worker(process.pid)
    _spawned.append(process)
    return process


class _Watcher(threading.Thread):
    """Beats the worker's heartbeat and watches for Stop on the current run.

    `current` is one (run id, stop event) pair, replaced whole for each run, so a
    late Stop of one run can never reach the next.
    """

    def __init__(self, store: RunStore, pid: int):
        super().__init__(daemon=True)
        self.store = store
        self.pid = pid
        self.current: tuple[int, threading.Event] | None = None
        self.finished = threading.Event()

    def run(self) -> None:
        last_beat = 0.0
        while not self.finished.wait(STOP_POLL_SECONDS):
            try:
                current = self.current
                run_id = current[0] if current else None
                if current and self.store.stop_requested(run_id):
                    current[1].set()
                if time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
                    self.store.worker_heartbeat(self.pid, run_id)
                    last_beat = time.monotonic()
            except Exception as error:  # A busy or vanished store must not kill the thread.
                print(f"watcher: {error}", file=sys.stderr, flush=True)


def run_worker(store: RunStore, idle_exit_seconds: float | None = None) -> int:
    """Executes queued runs until none has arrived for `idle_exit_seconds`
    (forever when None); returns how many runs it executed."""
    from core.training import execute_run

    pid = os.getpid()
    store.register_worker(pid)
    watcher = _Watcher(store, pid)
    watcher.start()
    executed = 0
    idle_since = time.monotonic()
    try:
        while True:
            reap_dead_runs(store)
            run_id = store.claim_next(pid, worker_count()) if store.count_queued() else None
            if run_id is None:
                if idle_exit_seconds is not None and time.monotonic() - idle_since > idle_exit_seconds:
                    store.unregister_worker(pid)  # Before the last look, so no run waits on us.
                    run_id = store.claim_next(pid, worker_count())
                    if run_id is None:
                        return executed
                    store.register_worker(pid)
                else:
                    time.sleep(IDLE_POLL_SECONDS)
                    continue
            stop = threading.Event()
            watcher.current = (run_id, stop)
            print(f"run {run_id}: started", flush=True)
            try:
                status = execute_run(store, run_id, stop)
            except Exception as error:
                status = "failed"
                store.finish(run_id, "failed", describe_failure(error))
            print(f"run {run_id}: {status}", flush=True)
            watcher.current = None
            executed += 1
            idle_since = time.monotonic()
            _release_memory()
    finally:
        watcher.finished.set()
        store.unregister_worker(pid)


def describe_failure(error: BaseException) -> str:
    """Returns the one-line reason shown for a failed run."""
    if isinstance(error, MemoryError):
        return "Ran out of memory: use a smaller model or batch size."
    if isinstance(error, (ValueError, RuntimeError)) and str(error):
        return str(error).splitlines()[0]
    if isinstance(error, OSError):
        return f"Could not read or write a file: {error}"
    return f"{type(error).__name__}: {error}".splitlines()[0]


def _release_memory() -> None:
    import keras

    keras.backend.clear_session()
