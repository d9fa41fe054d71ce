"""Epoch times of a preset fed to Keras as arrays (tf.data's autotuning on) against the
engine's own pipeline (`core.training.batches_of`, autotuning off), in one process.

    python -m bench.epochs [--preset "Best CNN"] [--limit 5000] [--epochs 6]

For each epoch it prints the wall time, the process's CPU time and how much of the
machine's CPU sat idle meanwhile: an epoch with the same CPU time and much idle is one
that waited instead of using every core.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def idle_seconds() -> float:
    """Seconds of CPU idle on the whole machine since boot (all cores), from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()
    return int(fields[4]) / os.sysconf("SC_CLK_TCK")


def timed_epochs(model, fit_arguments: dict, epochs: int) -> list[tuple[float, float, float]]:
    """Fits `epochs` epochs; returns (wall, CPU, idle) seconds of each."""
    import keras

    rows = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.began = (time.monotonic(), time.process_time(), idle_seconds())

        def on_epoch_end(self, epoch, logs=None):
            now = (time.monotonic(), time.process_time(), idle_seconds())
            rows.append(tuple(after - before for after, before in zip(now, self.began, strict=True)))

    model.fit(**fit_arguments, epochs=epochs, callbacks=[Clock()], verbose=0)
    return rows


def main() -> None:
    """Prints each epoch's figures for both pipelines and the ratio of their mean times."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="Best CNN")
    parser.add_argument("--limit", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()

    from core.datasets import load_dataset
    from core.models import build_model
    from core.presets import get_preset
    from core.training import batches_of, prepare_data

    config = get_preset(args.preset).config.with_changes(limit=args.limit)
    data = prepare_data(load_dataset(config.dataset), config)
    pipelines = {
        "arrays (autotuning on)": {
            "x": data.x_fit,
            "y": data.y_fit,
            "batch_size": config.batch_size,
            "shuffle": True,
            "validation_data": (data.x_val, data.y_val),
        },
        "batches_of (autotuning off)": {
            "x": batches_of(data.x_fit, data.y_fit, config.batch_size, seed=config.seed),
            "validation_data": batches_of(data.x_val, data.y_val, config.batch_size),
            "shuffle": False,  # batches_of shuffles.
        },
    }
    print(f"{args.preset}: {len(data.y_fit):,} training examples, {args.epochs} epochs each")
    print("(the first epoch of each includes tracing and is left out of the means)")
    means = {}
    for name, fit_arguments in pipelines.items():
        rows = timed_epochs(build_model(config), fit_arguments, args.epochs)
        epochs = "  ".join(f"{wall:.1f}s/{cpu:.1f}/{idle:.1f}" for wall, cpu, idle in rows)
        means[name] = statistics.mean(wall for wall, _, _ in rows[1:])
        print(f"{name}: mean {means[name]:.2f} s per epoch (wall s/CPU s/idle s): {epochs}")
    before, after = means.values()
    print(f"ratio batches_of/arrays: {after / before:.2f}")


if __name__ == "__main__":
    main()
