"""Trains presets side by side on the same data through the engine and prints a table.

    python -m bench.accuracy                      # reference presets, then best presets
    python -m bench.accuracy "CNN 3-conv" "Best CNN"

Each preset runs as a normal queued run, executed by a worker loop in this process,
into a fresh data directory (bench-output/accuracy/), with the preset's own epochs.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

REFERENCE = [
    "DNN 128-128", "MLP 512-512", "MLP 32", "Small CNN", "CNN 2-conv", "CNN 3-conv",
    "LSTM 50", "Stacked LSTM", "SimpleRNN sentiment",
]  # fmt: skip
BEST = [
    "Best CNN",
    "Best dense",
    "Best GRU",
    "Best LSTM",
    "Best SimpleRNN",
    "GRU sentiment",
    "Bag-of-words sentiment",
]


def main(names: list[str]) -> None:
    """Queues one run per preset, trains them in order and prints the comparison."""
    home = Path("bench-output/accuracy") / time.strftime("%Y%m%d-%H%M%S")
    os.environ["DIGITLAB_HOME"] = str(home)
    from core.presets import get_preset
    from core.runs import submit
    from core.store import RunStore
    from core.worker import run_worker

    store = RunStore(home)
    for name in names:
        config = get_preset(name).config
        submit(store, config, name, start_worker=False)
    run_worker(store, idle_exit_seconds=0)
    table = store.runs_table().sort_values("id")
    print(f"\n{time.strftime('%Y-%m-%d')}, {platform.node()}, {os.cpu_count()} cores")
    header = ("preset", "data", "params", "epochs", "test acc", "s/epoch", "total s", "ms/pred")
    print("{:24} {:42} {:>9} {:>6} {:>8} {:>7} {:>7} {:>7}".format(*header))
    for row in table.itertuples():
        accuracy = f"{row.test_accuracy:.4f}" if row.status == "completed" else row.status
        seconds = (row.seconds_per_epoch or 0, row.total_seconds or 0, row.ms_per_prediction or 0)
        print(
            f"{row.name:24} {row.data_source[:42]:42} {row.params:>9,} {row.epochs_done:>6} {accuracy:>8} "
            f"{seconds[0]:>7.1f} {seconds[1]:>7.0f} {seconds[2]:>7.2f}"
        )


if __name__ == "__main__":
    main(sys.argv[1:] or REFERENCE + BEST)
