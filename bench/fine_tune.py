"""Teaching a model a handwriting: what a fine-tune does to the drawings it kept aside
and to MNIST test accuracy (the target: a drop of at most 0.2 points).

The "handwriting" is MNIST training digits redrawn as canvas drawings (`bench.drawings`:
thinned and drawn again with a pen or a marker, anywhere on a 280x280 canvas) and read
through the app's preprocessing, `--per-digit` of every digit. A parent run of
`--preset` is trained here, in a temporary store; the fine-tune is queued with
`core.runs.submit_fine_tune` and trained in this process, as the worker trains it.

    python -m bench.fine_tune [--preset "Quick CNN"] [--per-digit 5]
"""

import argparse
import os
import tempfile

import numpy as np

from bench.drawings import make_drawings
from core.datasets import load_dataset
from core.preprocess import prepare_digit
from core.presets import get_preset
from core.runs import submit, submit_fine_tune
from core.store import RunStore
from core.training import execute_run

FIRST_DRAWN = 5000  # Training digits from here on are redrawn as the user's drawings.


def trained_parent(store: RunStore, preset: str) -> int:
    """Trains a preset in this process; returns its run id."""
    run_id = submit(store, get_preset(preset).config, preset, start_worker=False)
    assert store.claim_next(os.getpid()) == run_id
    assert execute_run(store, run_id) == "completed", store.get_run(run_id)["error"]
    return run_id


def save_handwriting(store: RunStore, per_digit: int, seed: int = 0) -> None:
    """Saves `per_digit` redrawn training digits of every digit as drawings."""
    data = load_dataset("mnist")
    x_train, y_train = data.x_train[FIRST_DRAWN:], data.y_train[FIRST_DRAWN:]
    chosen = np.concatenate([np.flatnonzero(y_train == digit)[:per_digit] for digit in range(10)])
    for index, canvas in zip(chosen, make_drawings(x_train[chosen], seed), strict=True):
        image = prepare_digit(canvas)
        store.add_drawing(int(y_train[index]), np.clip(np.round(image * 255), 0, 255).astype(np.uint8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="Quick CNN")
    parser.add_argument("--per-digit", type=int, default=5)
    args = parser.parse_args()

    home = tempfile.mkdtemp(prefix="digitlab-fine-tune-")
    store = RunStore(home)
    parent_id = trained_parent(store, args.preset)
    save_handwriting(store, args.per_digit)
    run_id = submit_fine_tune(store, parent_id, start_worker=False)
    assert store.claim_next(os.getpid()) == run_id
    status = execute_run(store, run_id)
    run = store.get_run(run_id)
    if status != "completed":
        raise SystemExit(f"the fine-tune {status}: {run['error']}")
    report = run["evaluation"]["fine_tune"]
    change = (report["mnist_accuracy_after"] - report["mnist_accuracy_before"]) * 100
    print(f"parent: {args.preset} (run {parent_id}), {args.per_digit} drawings per digit")
    print(f"drawings kept aside: {len(report['held_out_ids'])}, trained on: {len(report['trained_ids'])}")
    before, after = report["personal_accuracy_before"], report["personal_accuracy"]
    print(f"kept-aside drawings read: {before:.1%} before, {after:.1%} after")
    print(
        f"MNIST test accuracy: {report['mnist_accuracy_before']:.4f} before, "
        f"{report['mnist_accuracy_after']:.4f} after ({change:+.2f} points; target: no drop over 0.2)"
    )
    print(f"fine-tune time: {run['total_seconds']:.0f} s; store: {home}")


if __name__ == "__main__":
    main()
