"""Single-image prediction cost: model.predict vs a direct call vs a plain tf.function
vs the engine's predictor (a tf.function compiled with XLA), one process, medians.

    python -m bench.prediction --run RUN_ID      # a completed digit run in DIGITLAB_HOME
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def median_ms(call, repeats: int = 200) -> float:
    """Returns the median milliseconds of `call()` after two warm-up calls."""
    call()
    call()
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)


def main() -> None:
    """Prints the three timings for one 28x28 image."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", type=int, required=True)
    args = parser.parse_args()

    from core.datasets import load_dataset
    from core.predict import load_predictor
    from core.store import RunStore

    predictor = load_predictor(RunStore(), args.run)
    image = (load_dataset("mnist").x_test[:1] / 255.0).astype(np.float32)
    model = predictor.model
    print(f"run {args.run} ({model.name}), one 28x28 image, medians (model.predict: 50 calls, others 200)")
    print(f"model.predict:            {median_ms(lambda: model.predict(image, verbose=0), 50):7.2f} ms")
    direct = median_ms(lambda: model(image, training=False).numpy())
    print(f"model(x, training=False): {direct:7.2f} ms")
    import tensorflow as tf

    plain_function = tf.function(lambda x: model(x, training=False))
    plain = median_ms(lambda: plain_function(image).numpy())
    print(f"tf.function without XLA:  {plain:7.2f} ms")
    engine = median_ms(lambda: predictor.predict_images(image))
    print(f"engine Predictor:         {engine:7.2f} ms (target <= 2 ms)")


if __name__ == "__main__":
    main()
