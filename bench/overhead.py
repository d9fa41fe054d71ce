"""Engine overhead: training throughput with the run's callbacks vs a bare
`model.fit`, same model and data, alternating in one process.

    python -m bench.overhead [--preset "CNN 3-conv"] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time


def main() -> None:
    """Prints samples/s of both ways and their ratio (target: >= 0.97)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="CNN 3-conv")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()

    from core.architecture import validate
    from core.datasets import load_dataset
    from core.models import build_model
    from core.presets import get_preset
    from core.progress import KeepBestEpoch, StoreProgress
    from core.store import RunStore
    from core.training import batches_of, prepare_data

    config = get_preset(args.preset).config.with_changes(epochs=1)
    data = prepare_data(load_dataset(config.dataset), config)
    store = RunStore(tempfile.mkdtemp(prefix="digitlab-overhead-"))
    run_id = store.create_run(config, validate(config))
    batches = -(-len(data.y_fit) // config.batch_size)
    model = build_model(config)
    batches_of_data = batches_of(data.x_fit, data.y_fit, config.batch_size, seed=config.seed)

    def epoch(callbacks: list) -> float:
        start = time.perf_counter()
        model.fit(batches_of_data, epochs=1, callbacks=callbacks, shuffle=False, verbose=0)
        return len(data.y_fit) / (time.perf_counter() - start)

    epoch([])  # Warm-up: tracing and first-touch memory.
    bare, engine = [], []
    for round_number in range(args.rounds):
        callbacks = [StoreProgress(store, run_id, batches, 3600, threading.Event()), KeepBestEpoch()]
        if round_number % 2:  # Alternate which goes first, so neither gains from the order.
            engine.append(epoch(callbacks))
            bare.append(epoch([]))
        else:
            bare.append(epoch([]))
            engine.append(epoch(callbacks))
    ratio = statistics.median(engine) / statistics.median(bare)
    print(f"preset {args.preset}, {len(data.y_fit):,} samples/epoch, {args.rounds} rounds, order alternating")
    print(f"bare model.fit: {statistics.median(bare):,.0f} samples/s (median)")
    print(f"through a run (progress callback writing to SQLite): {statistics.median(engine):,.0f} samples/s")
    print(f"ratio engine/bare: {ratio:.3f} (target >= 0.97)")


if __name__ == "__main__":
    main()
