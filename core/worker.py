"""The worker process that executes queued runs, and how the app keeps one alive.

A worker is `python -m core worker`: it claims the oldest queued run, trains it,
and goes on to the next. A watcher thread beats its heartbeat and turns a user's
Stop into an event the training callback sees within one batch. Runs whose worker
died (killed, out of memory) are found by pid and process start time and marked
failed; a worker that is only stopped or suspended is alive, and is left alone.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

from core.cluster import cluster_address, ray_installed
from core.locks import file_lock
from core.model_files import DiskFull, remove_leftover_temporaries
from core.processes import same_process_since, start_engine_process
from core.settings import positive_int
from core.store import RunStore
from core.sweeps import top_up

HEARTBEAT_SECONDS = 2.0
STOP_POLL_SECONDS = 0.25
IDLE_POLL_SECONDS = 0.5
_spawned: list[subprocess.Popen] = []
_exit_codes: dict[int, int] = {}  # pid -> return code of the workers this process started.
_spawn_lock = threading.Lock()  # One server's sessions never spawn workers twice at once.


def worker_count() -> int:
    """Returns how many workers may train at once (`DIGITLAB_WORKERS`, default 1)."""
    return positive_int("DIGITLAB_WORKERS", 1)


def worker_processes_wanted() -> int:
    """Returns how many worker processes to keep while runs wait: `worker_count()`;
    with a Ray cluster configured, one dispatcher (it trains `worker_count()` runs at
    once on the cluster), or none while Ray is not installed (the Train page says so)."""
    address = cluster_address()
    if not address:
        return worker_count()
    return 1 if ray_installed() else 0


def collect_exited_children() -> None:
    """Waits for the workers this process started that have exited, so none stays a zombie."""
    for child in list(_spawned):
        code = child.poll()
        if code is not None:
            _spawned.remove(child)
            _exit_codes[child.pid] = code


def reap_dead_runs(store: RunStore) -> list[int]:
    """Marks running runs whose worker is gone as failed (returns their ids) and
    forgets workers that are gone.

    A worker is gone when its process no longer exists, or when its pid now names
    a process that started after the worker took the run (the pid was reused). An
    old heartbeat alone proves nothing: a worker stopped (SIGSTOP, a suspended
    laptop) or a clock that jumped leaves one, and that worker resumes later.
    """
    collect_exited_children()
    reaped = []
    for run in store.running_runs():
        if same_process_since(run["worker_pid"], run["started_at"]):
            continue
        if store.finish(run["id"], "failed", _disappearance(store, run), worker_pid=run["worker_pid"]):
            reaped.append(run["id"])
    for worker in store.workers():
        if not same_process_since(worker["pid"], worker["started_at"]):
            store.unregister_worker(worker["pid"])
    return reaped


def _disappearance(store: RunStore, run: dict) -> str:
    """Returns why a run's worker is gone: how it ended when this process started it
    (and so knows its exit status), otherwise only that it disappeared."""
    pid, epoch = run["worker_pid"], run["epoch"] + 1
    for child in [child for child in _spawned if child.pid == pid]:
        # Our child is a zombie already, but it can be waited for only once all its
        # threads have ended: moments, for a process killed with many threads.
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=10)
    collect_exited_children()
    code = _exit_codes.pop(pid, None)
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        if -code == signal.SIGKILL:
            return (
                f"The worker process (pid {pid}) was killed ({name}) during epoch {epoch}, "
                "often because it ran out of memory: try a smaller model or batch size."
            )
        return f"The worker process (pid {pid}) was killed by {name} during epoch {epoch}."
    if code is not None:
        return f"The worker process (pid {pid}) exited with code {code} during epoch {epoch}."
    return (
        f"The worker process (pid {pid}) disappeared during epoch {epoch}; "
        f"{store.home / 'worker.log'} may say why."
    )


@contextmanager
def _workers_lock(store: RunStore):
    """Holds an exclusive lock on `<home>/workers.lock`, so that processes counting
    workers and starting new ones take turns."""
    if store.read_only_reason:  # Nothing can be started in a read-only store anyway.
        yield
        return
    with file_lock(store.home / "workers.lock"):
        yield


def ensure_workers(store: RunStore, idle_exit_seconds: float = 30.0) -> int:
    """Reaps dead runs and starts workers (that exit after `idle_exit_seconds`
    without work) while runs wait and fewer than `worker_count()` are alive;
    returns how many were started. Running sweeps are topped up first. Several
    processes may call it at once: they count and start workers one after another."""
    with _spawn_lock, _workers_lock(store):
        reap_dead_runs(store)
        top_up(store)  # A sweep whose trial just ended (or whose worker died) queues its next.
        needed = min(store.count_queued(), worker_processes_wanted() - len(store.workers()))
        for _ in range(max(0, needed)):
            spawn_worker(store, idle_exit_seconds)
        return max(0, needed)


def spawn_worker(store: RunStore, idle_exit_seconds: float | None) -> subprocess.Popen:
    """Starts `python -m core worker` in its own session (it outlives the caller)."""
    arguments = ["worker"]
    if idle_exit_seconds is not None:
        arguments += ["--idle-exit", str(idle_exit_seconds)]
    process = start_engine_process(store.home, arguments, "worker.log")
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
    remove_leftover_temporaries(store.models_dir)
    watcher = _Watcher(store, pid)
    watcher.start()
    executed = 0
    idle_since = time.monotonic()
    try:
        while True:
            reap_dead_runs(store)
            top_up(store)
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
                store.finish(run_id, "failed", describe_failure(error), worker_pid=pid)
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
    if isinstance(error, DiskFull):
        return str(error)
    disk = _disk_failure(error)
    if disk:
        return disk
    if isinstance(error, (ValueError, RuntimeError)) and str(error):
        return str(error).splitlines()[0]
    if isinstance(error, OSError):
        return f"Could not read or write a file: {error}"
    return f"{type(error).__name__}: {error}".splitlines()[0]


def _disk_failure(error: BaseException) -> str:
    """Returns the reason for a full or failing disk found anywhere in the error's
    chain (h5py and SQLite wrap the system's error), or ""."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        text = str(error).splitlines()[0] if str(error) else type(error).__name__
        number = getattr(error, "errno", None)
        if number in (errno.ENOSPC, errno.EDQUOT) or "No space left" in text or "disk is full" in text:
            return (
                f"The disk is full ({text}): free some space or delete runs you no longer need, "
                "then run it again."
            )
        if number == errno.EIO or "disk I/O error" in text or "Input/output error" in text:
            return f"The disk failed to read or write ({text}): check the disk, then run it again."
        error = error.__cause__ or error.__context__
    return ""


def _release_memory() -> None:
    import keras

    keras.backend.clear_session()
