"""Small helpers the tests share: queueing, waiting for a run to reach a state, rows
written as another program might, processes' environments and children."""

import os
import sqlite3
import time
from pathlib import Path

from core.presets import get_preset
from core.processes import parent_pid
from core.runs import submit

QUICK = get_preset("Quick CNN").config.with_changes(limit=600, epochs=1, batch_size=32)
SLOW = get_preset("DNN 128-128").config.with_changes(limit=5000, epochs=200, batch_size=8)


def queue(store, config, name=""):
    """Queues a run of `config` without starting a worker (the test runs one); returns its id."""
    return submit(store, config, name, start_worker=False)


def wait_for(condition, timeout=120.0, interval=0.2, message="condition"):
    """Polls `condition()` until it returns something truthy; returns that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {message}")


def wait_for_status(store, run_id, statuses, timeout=180.0):
    """Waits until the run's status is one of `statuses`; returns the run."""
    return wait_for(
        lambda: (run := store.get_run(run_id)) and run["status"] in statuses and run,
        timeout=timeout,
        message=f"run {run_id} to become {statuses}",
    )


def insert_raw_run(store, config_text, name="raw", status="completed"):
    """Writes a run row as another program (or version) might, bypassing the engine."""
    with sqlite3.connect(store.path) as db:
        cursor = db.execute(
            "INSERT INTO runs (name, dataset, family, preset, config, status, created_at)"
            " VALUES (?, 'mnist', 'dense', '', ?, ?, ?)",
            (name, config_text, status, time.time()),
        )
        return cursor.lastrowid


def environment_of(pid: int) -> dict[str, str]:
    """A running process's environment, as /proc shows it."""
    entries = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(entry.decode().split("=", 1) for entry in entries if b"=" in entry)


def child_pids(parent: int) -> list[int]:
    """The processes whose parent is `parent`."""
    return [int(pid) for pid in filter(str.isdecimal, os.listdir("/proc")) if parent_pid(int(pid)) == parent]
