"""A sweep with pruning against the same sweep without: time and best trial.

    python -m bench.sweep [--trials 16] [--limit 0] [--search tpe]

Quick CNN; learning rate log-uniform 1e-4 to 1e-2, batch size 32/64/128/256; the same
seed and search for both sweeps, each in its own temporary store, trained in this
process by the worker loop (`core.worker.run_worker`) after one warm-up run. Target:
the pruned sweep takes at most 60 % of the time of the unpruned one, and its best trial
(chosen on validation accuracy) is within 0.3 points of test accuracy of the unpruned
sweep's best.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def run_sweep(trials: int, limit: int, search: str, pruning: bool) -> tuple[float, dict, int]:
    """Runs one sweep to its end; returns seconds, its best trial and how many were pruned."""
    from core.presets import get_preset
    from core.store import RunStore
    from core.sweep_spec import SweepParameter, SweepSpec
    from core.sweeps import start_sweep, sweep_summary
    from core.worker import run_worker

    home = tempfile.mkdtemp(prefix="digitlab-sweep-bench-")
    os.environ["DIGITLAB_HOME"] = home
    store = RunStore(home)
    base = get_preset("Quick CNN").config.with_changes(limit=limit)
    parameters = (
        SweepParameter("learning_rate", 1e-4, 1e-2),
        SweepParameter("batch_size", choices=(32, 64, 128, 256)),
    )
    spec = SweepSpec(base, parameters, trials=trials, search=search, pruning=pruning)
    start = time.perf_counter()
    sweep_id = start_sweep(store, spec, start_worker=False)
    run_worker(store, idle_exit_seconds=0.5)
    seconds = time.perf_counter() - start
    _, rows = sweep_summary(store, sweep_id)
    finished = [row for row in rows if row["status"] == "completed"]
    best = max(finished, key=lambda row: row["best_val_accuracy"])
    return seconds, best, sum(row["status"] == "pruned" for row in rows)


def warm_up(limit: int) -> None:
    """Trains one short run, so neither sweep pays for TensorFlow's first tracing."""
    from core.presets import get_preset
    from core.runs import submit
    from core.store import RunStore
    from core.worker import run_worker

    home = tempfile.mkdtemp(prefix="digitlab-sweep-bench-")
    os.environ["DIGITLAB_HOME"] = home
    store = RunStore(home)

    submit(store, get_preset("Quick CNN").config.with_changes(limit=limit, epochs=1), start_worker=False)
    run_worker(store, idle_exit_seconds=0.5)


def main() -> None:
    """Prints each sweep's time, best trial and pruned count, and the two targets."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--limit", type=int, default=0, help="train on the first N items (0 = all)")
    parser.add_argument("--search", default="tpe", choices=("tpe", "random", "grid"))
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    warm_up(args.limit)
    results = {}
    for pruning in (False, True):
        results[pruning] = run_sweep(args.trials, args.limit, args.search, pruning)
        seconds, best, pruned = results[pruning]
        print(
            f"pruning {'on ' if pruning else 'off'}: {seconds:.1f} s, {pruned} of {args.trials} pruned; "
            f"best trial lr {best['learning_rate']:.2e}, batch {best['batch_size']}: "
            f"val {best['best_val_accuracy']:.4f}, test {best['test_accuracy']:.4f}"
        )
    ratio = results[True][0] / results[False][0]
    gap = (results[False][1]["test_accuracy"] - results[True][1]["test_accuracy"]) * 100
    print(f"Quick CNN, {args.trials} trials, {args.search} search, limit {args.limit or 'all'}")
    print(f"time with pruning / without: {ratio:.2f} (target <= 0.60)")
    print(f"best test accuracy, unpruned minus pruned: {gap:+.2f} points (target <= 0.30)")


if __name__ == "__main__":
    main()
