"""Quick CNN runs through Ray (a local instance with 2 CPUs, two runs at once) against
the local worker (two worker processes), and the dispatch overhead per run.

    DIGITLAB_OFFLINE=1 .venv/bin/python -m bench.cluster [--runs 4] [--limit 2000] [--epochs 3] [--rounds 1]

Each way trains the same runs in a fresh temporary store, started as the app starts
them (`ensure_workers`): the dispatcher connects to a Ray instance this process
started beforehand (its start is timed apart, as a cluster is up before runs come).
Total: from queueing the first run to the last one finished. Per run: seconds from
queued, and from claimed, to its first epoch finished (the store polled every 50 ms),
for the runs that started at once (the first two) and for all.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

WORKERS = 2


def set_variables(variables: dict[str, str | None]) -> None:
    """Sets environment variables (removes those whose value is None)."""
    for name, value in variables.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@contextmanager
def environment(**variables: str | None):
    """Sets (or, with None, removes) environment variables for the block."""
    saved = {name: os.environ.get(name) for name in variables}
    try:
        set_variables(variables)
        yield
    finally:
        set_variables(saved)


def train_all(config, runs: int, address: str | None) -> dict:
    """Trains `runs` runs of `config` the way the app does, in a fresh store; returns
    the total seconds and, per run, seconds from queued and from claimed to its first epoch."""
    from core.runs import submit
    from core.store import FINAL, RunStore
    from core.worker import ensure_workers

    home = Path(tempfile.mkdtemp(prefix="digitlab-bench-cluster-"))
    with environment(DIGITLAB_HOME=str(home), DIGITLAB_WORKERS=str(WORKERS), DIGITLAB_RAY_ADDRESS=address):
        store = RunStore(home)
        ids = [submit(store, config, f"bench {number}", start_worker=False) for number in range(runs)]
        ensure_workers(store, idle_exit_seconds=2)
        first_epoch: dict[int, float] = {}
        while True:
            rows = {run_id: store.get_run(run_id) for run_id in ids}
            for run_id, row in rows.items():
                if run_id not in first_epoch and row["epoch"] >= 1:
                    first_epoch[run_id] = time.time()
            if all(row["status"] in FINAL for row in rows.values()):
                break
            time.sleep(0.05)
        failed = {i: row for i, row in rows.items() if row["status"] != "completed"}
        if failed:
            reasons = [f"run {i}: {row['status']} {row['error']}" for i, row in failed.items()]
            raise RuntimeError("; ".join(reasons))
        while store.workers():  # Let the workers (or the dispatcher) exit before the next way.
            time.sleep(0.5)
    finished = max(row["finished_at"] for row in rows.values())
    return {
        "total": finished - min(row["created_at"] for row in rows.values()),
        "queued": [first_epoch[i] - rows[i]["created_at"] for i in ids],
        "claimed": [first_epoch[i] - rows[i]["started_at"] for i in ids],
        "test_accuracy": [rows[i]["test_accuracy"] for i in ids],
    }


def summary(name: str, figures: dict) -> str:
    queued = figures["queued"]
    return (
        f"{name:34} {figures['total']:7.1f} s   queued->1st epoch: first two "
        f"{statistics.median(queued[:WORKERS]):5.1f} s, all {statistics.median(queued):5.1f} s"
        f"   claimed->1st epoch: {statistics.median(figures['claimed']):5.1f} s"
        f"   test acc {statistics.median(figures['test_accuracy']):.3f}"
    )


def main() -> None:
    """Prints the total and the per-run overhead of both ways."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--limit", type=int, default=2000, help="train on the first N digits")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1, help="each way once per round, order alternating")
    args = parser.parse_args()

    import ray

    from core.presets import get_preset

    config = get_preset("Quick CNN").config.with_changes(limit=args.limit, epochs=args.epochs)
    started = time.perf_counter()
    context = ray.init(address="local", num_cpus=WORKERS, include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - started
    addresses = {"local": None, "ray": context.address_info["gcs_address"]}
    rounds = []
    try:
        for number in range(args.rounds):
            order = ("local", "ray") if number % 2 == 0 else ("ray", "local")
            rounds.append({way: train_all(config, args.runs, addresses[way]) for way in order})
    finally:
        ray.shutdown()
    print(
        f"{args.runs} Quick CNN runs, {args.limit} digits, {args.epochs} epochs, {WORKERS} at once "
        f"(medians per run); Ray instance started in {ray_start:.1f} s beforehand"
    )
    ratios, overheads = [], []
    for number, ways in enumerate(rounds, 1):
        local, through_ray = ways["local"], ways["ray"]
        print(f"round {number}, {' first, then '.join(ways)}:")
        print(summary(f"  local worker ({WORKERS} processes)", local))
        print(summary(f"  Ray ({WORKERS} CPUs, dispatcher)", through_ray))
        ratios.append(through_ray["total"] / local["total"])
        first_two = [statistics.median(way["queued"][:WORKERS]) for way in (through_ray, local)]
        overheads.append(first_two[0] - first_two[1])
    print(
        f"Ray/local total time: {statistics.median(ratios):.2f}; dispatch overhead per run (queued->1st "
        f"epoch of the first two, Ray minus local): {statistics.median(overheads):+.1f} s (medians of rounds)"
    )


if __name__ == "__main__":
    main()
