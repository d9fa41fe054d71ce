"""Does the mean of several models' readings beat the best model alone?

For the completed MNIST runs in the store (or those named), prints each run's accuracy
on MNIST's 10,000 test digits and on the drawings of `bench.drawing_styles` (all, and
the fonts no training sees), then the same for the mean of the probabilities of every
group of two or more of them (up to --largest), with what one drawing's reading costs:
the sum of the models' own milliseconds, each the median of single readings.

    python -m bench.ensemble [--run RUN_ID ...] [--per-digit 40] [--largest 3]
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np

from bench.drawing_styles import make_cases, prepare_cases, read_right
from bench.drawings import digit_runs
from bench.prediction import median_ms


def group_row(names: list[str], readings: dict, scorers: list) -> str:
    """One printed line: a group's accuracy on each set and its cost per drawing."""
    scores = []
    for part, right in scorers:
        mean = sum(readings[name][part] for name in names) / len(names)
        scores.append(right(mean.argmax(axis=1)).mean())
    milliseconds = sum(readings[name]["ms"] for name in names)
    mnist, drawings, fonts = scores
    return f"{' + '.join(names):60} {mnist:>7.4f} {drawings:>9.3f} {fonts:>7.3f} {milliseconds:>7.1f}"


def main() -> None:
    """Prints every run's and every group's accuracy and cost."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", type=int, action="append", help="a run id (repeatable); default: all")
    parser.add_argument("--per-digit", type=int, default=40, help="drawings per digit and source")
    parser.add_argument("--largest", type=int, default=3, help="the most models in a group")
    args = parser.parse_args()

    from core.datasets import load_dataset
    from core.predict import load_predictor
    from core.store import RunStore
    from core.training import scale_images

    store = RunStore()
    runs = digit_runs(store, args.run)
    test = load_dataset("mnist")
    test_images = scale_images(test.x_test)
    cases = make_cases(args.per_digit)
    drawings, refused = prepare_cases(cases)
    fonts = np.array([case["source"] == "font" for case in cases])
    scorers = [  # Which readings, and which of them are right.
        ("test", lambda predicted: predicted == test.y_test),
        ("drawings", lambda predicted: read_right(predicted, cases, refused)),
        ("drawings", lambda predicted: read_right(predicted, cases, refused)[fonts]),
    ]
    readings = {}
    for run in runs.itertuples():
        predictor = load_predictor(store, run.id)
        readings[f"{run.id} {run.name}"] = {
            "test": predictor.predict_images(test_images),
            "drawings": predictor.predict_images(drawings),
            "ms": median_ms(lambda p=predictor: p.predict_images(drawings[:1]), repeats=50),
        }
    print(f"{test.describe()}; {len(cases)} drawings ({fonts.sum()} of fonts), seed 0")
    print(f"{'models':60} {'MNIST':>7} {'drawings':>9} {'fonts':>7} {'ms':>7}")
    names = list(readings)
    for size in range(1, min(args.largest, len(names)) + 1):
        for group in itertools.combinations(names, size):
            print(group_row(list(group), readings, scorers))


if __name__ == "__main__":
    main()
