"""Scoring every digit model on the personal set: what the first scoring costs, what a
rerun costs (every reading cached), and what one new drawing costs, through the model
reader, in a temporary data directory.

    python -m bench.personal_scores [--drawings 500]

Trains two small runs (Quick CNN and DNN 128-128, one epoch on 2,000 digits), saves
MNIST test digits as drawings, then times `ReadingsCache.scores` for both runs.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def trained_runs(store) -> list[int]:
    """Two small digit runs, trained in this process."""
    from core.presets import get_preset
    from core.runs import submit
    from core.training import execute_run

    run_ids = []
    for preset in ("Quick CNN", "DNN 128-128"):
        config = get_preset(preset).config.with_changes(limit=2000, epochs=1)
        run_id = submit(store, config, preset, start_worker=False)
        store.claim_next(os.getpid())
        execute_run(store, run_id)
        run_ids.append(run_id)
    return run_ids


def seconds(call) -> tuple[float, object]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def main() -> None:
    """Prints the time of each scoring step and the scores."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--drawings", type=int, default=500)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="digitlab-bench-scores-"))
    os.environ["DIGITLAB_HOME"] = str(home)
    from core.datasets import load_dataset
    from core.personal_scores import ReadingsCache
    from core.reader import ReaderClient
    from core.store import RunStore
    from devtools.app_server import stop_reader

    store = RunStore(home)
    run_ids = trained_runs(store)
    test = load_dataset("mnist")
    for index in range(args.drawings):
        store.add_drawing(int(test.y_test[index]), test.x_test[index])
    cache = ReadingsCache(ReaderClient(store))
    try:
        first, scores = seconds(lambda: cache.scores(run_ids, store.drawings()))
        again, _ = seconds(lambda: cache.scores(run_ids, store.drawings()))
        store.add_drawing(int(test.y_test[args.drawings]), test.x_test[args.drawings])
        one_more, _ = seconds(lambda: cache.scores(run_ids, store.drawings()))
    finally:
        stop_reader(home)
    print(f"{len(run_ids)} runs, {args.drawings} drawings, through the model reader:")
    print(f"first scoring (reader start, model loads, every drawing read): {first:6.2f} s")
    print(f"again (every reading cached):                                  {again * 1000:6.1f} ms")
    print(f"after one new drawing (only it is read):                       {one_more * 1000:6.1f} ms")
    for run_id, score in scores.items():
        print(f"run {run_id}: {score.correct}/{score.total} = {score.accuracy:.3f}")


if __name__ == "__main__":
    main()
