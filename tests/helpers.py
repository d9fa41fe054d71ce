"""Small helpers the tests share: waiting for a run to reach a state."""

import time


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
