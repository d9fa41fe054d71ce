"""Compare at scale: the page's server-side render time with thousands of runs.

    python -m bench.compare_scale [--runs 5000] [--epochs 30] [--rounds 5]

Fills a temporary store with synthetic finished runs (real configs of every preset,
tags, a sweep, `--epochs` epoch rows each) through SQL, then renders the Compare page
with streamlit.testing AppTest: the first render, then `--rounds` warm reruns (median),
also with a text filter and with a sweep chosen (its runs at a glance). Target: a warm
render of at most 0.5 s with 5,000 runs and 150,000 epoch rows.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path


def fill(home: Path, runs: int, epochs: int) -> int:
    """Writes `runs` completed runs with `epochs` epochs each; returns a sweep's id that
    holds 100 of them."""
    from core.presets import PRESET_LIST
    from core.store import RunStore
    from core.sweep_spec import SweepParameter, SweepSpec

    store = RunStore(home)
    base = PRESET_LIST[0].config
    spec = SweepSpec(base, (SweepParameter("learning_rate", 1e-4, 1e-2),))
    sweep_id = store.create_sweep("bench sweep", spec.to_json())
    store.set_sweep_status(sweep_id, "completed")
    generator = random.Random(0)
    now = time.time()
    run_rows, epoch_rows = [], []
    for run_id in range(1, runs + 1):
        preset = PRESET_LIST[run_id % len(PRESET_LIST)]
        config = preset.config.with_changes(learning_rate=10 ** generator.uniform(-4, -2), seed=run_id)
        accuracy = generator.uniform(0.8, 0.995)
        run_rows.append(
            (run_id, f"{preset.name} #{run_id}", config.dataset, config.family, preset.name, config.to_json(),
             "completed", generator.randint(10_000, 2_000_000), now, accuracy, accuracy + 0.002,
             2.5, 2.5 * epochs, 1.1, epochs, "tag-a, tag-b" if run_id % 7 == 0 else "",
             sweep_id if run_id <= 100 else None)
        )  # fmt: skip
        for epoch in range(1, epochs + 1):
            epoch_rows.append((run_id, epoch, 1 / epoch, accuracy - 0.1 / epoch, 1.2 / epoch, accuracy, 2.5))
    with sqlite3.connect(store.path) as db:
        db.executemany(
            "INSERT INTO runs (id, name, dataset, family, preset, config, status, params, created_at,"
            " test_accuracy, best_val_accuracy, seconds_per_epoch, total_seconds, ms_per_prediction, epoch,"
            " tags, sweep_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            run_rows,
        )
        db.executemany("INSERT INTO epochs VALUES (?, ?, ?, ?, ?, ?, ?)", epoch_rows)
    return sweep_id


def timed(app, rounds: int) -> float:
    """Returns the median seconds of `rounds` reruns of the page."""
    seconds = []
    for _ in range(rounds):
        start = time.perf_counter()
        app.run()
        seconds.append(time.perf_counter() - start)
        assert not app.exception, app.exception
    return statistics.median(seconds)


def main() -> None:
    """Prints the first and warm render times of the Compare page, and with filters."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="digitlab-compare-scale-"))
    os.environ["DIGITLAB_HOME"] = str(home)
    os.environ["DIGITLAB_OFFLINE"] = "1"
    sweep_id = fill(home, args.runs, args.epochs)

    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=120)
    app.run()
    app.switch_page("app_pages/compare.py")
    start = time.perf_counter()
    app.run()
    first = time.perf_counter() - start
    assert not app.exception, app.exception
    shown = len(app.dataframe[0].value)
    warm = timed(app, args.rounds)
    app.text_input(key="filter_text").set_value("cnn")
    searched = timed(app, args.rounds)
    app.text_input(key="filter_text").set_value("")
    app.selectbox(key="filter_sweep").set_value(sweep_id)
    glance = timed(app, args.rounds)
    print(f"{args.runs:,} runs, {args.runs * args.epochs:,} epoch rows; the table shows {shown:,} rows")
    print(f"Compare, first render: {first:.3f} s")
    print(f"Compare, warm render (median of {args.rounds}): {warm:.3f} s (target <= 0.5 s)")
    print(f"Compare, text filter 'cnn': {searched:.3f} s")
    print(f"Compare, a sweep of 100 runs at a glance: {glance:.3f} s")


if __name__ == "__main__":
    main()
