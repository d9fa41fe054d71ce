"""How faithful and how fast the "Inside the model" views are, on completed digit runs.

    python -m core train --preset "Best CNN"      # then "Best dense", "Best GRU"
    python -m bench.explain --run 1 --run 2 --run 3 [--digits 500]

For each run and each attribution method it offers (integrated gradients; Grad-CAM
and HiResCAM for CNNs), on `--digits` test digits and their predicted classes:

- Deletion test: the pixels with the highest attribution are set to 0 (paper), and as
  many ink pixels (any pixel above 0) at random; the mean drop of the predicted class's
  probability is printed for both and their ratio (faithful: at least 2). Two sizes:
  the top 10 % of the digit's own ink pixels (the map chooses which ink goes, chance
  chooses the other), and the top 78 pixels anywhere (10 % of 784; the random ones
  still drawn from the ink, all of it when a digit has less).
- Model randomisation (Adebayo et al., 2018): the same architecture with freshly
  initialised weights explains the same digits for the same classes; the mean
  Spearman rank correlation between the two maps (faithful: below 0.5) over all 784
  pixels of the absolute maps, and over the ink pixels alone. With a blank baseline,
  integrated gradients is exactly 0 on every blank pixel whatever the weights (about
  four pixels in five on a digit), so over all pixels its two maps tie there.
- Integrated gradients' completeness: the gap between a map's sum and the logit's
  change, as a share of the change, and the largest gap in logits.

Then the time of every view for one drawing (warm, medians of 10 calls, this process),
of all of them in one call, and of that call through the model reader process (it
starts one for the data directory if none runs; it exits after 15 idle minutes).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.prediction import median_ms

FRACTION = 0.10
SEED = 1


def spearman_rows(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Returns the Spearman rank correlation of each row pair (ties get average ranks)."""
    return np.array([np.corrcoef(_ranks(a), _ranks(b))[0, 1] for a, b in zip(first, second, strict=True)])


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values))
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + end - 1) / 2
    return ranks


def probabilities_of(model, images: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Returns each image's probability of its target class."""
    from core.explain import class_logits

    logits = class_logits(model, images).astype(np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return probabilities[np.arange(len(images)), targets]


def deletion(model, images, maps, targets, counts, rng, ink_only: bool) -> tuple[float, float]:
    """Returns the mean probability drops after removing each image's `counts` most
    attributed pixels (of its ink pixels only, or of all), and as many random ink pixels."""
    flat = images.reshape(len(images), -1)
    top, randomly = flat.copy(), flat.copy()
    for i, count in enumerate(counts):
        ink = np.flatnonzero(flat[i] > 0)
        candidates = ink if ink_only else np.arange(flat.shape[1])
        ranked = candidates[np.argsort(-maps[i].ravel()[candidates], kind="stable")]
        top[i, ranked[:count]] = 0.0
        randomly[i, rng.choice(ink, size=min(count, len(ink)), replace=False)] = 0.0
    before = probabilities_of(model, images, targets)
    after_top = probabilities_of(model, top.reshape(images.shape), targets)
    after_random = probabilities_of(model, randomly.reshape(images.shape), targets)
    return float((before - after_top).mean()), float((before - after_random).mean())


def method_maps(model, name: str, images: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Returns the maps of one attribution method for images and their targets."""
    from core.explain import grad_cam_batch, integrated_gradients_batch

    if name == "integrated gradients":
        return integrated_gradients_batch(model, images, targets)[0]
    return grad_cam_batch(model, images, targets, method=name)[0]


def faithfulness(model, images: np.ndarray) -> None:
    """Prints the deletion and randomisation figures of every method the model has."""
    import keras

    from core.explain import available_views, class_logits

    targets = class_logits(model, images).argmax(axis=1)
    keras.utils.set_random_seed(SEED)
    randomised = keras.models.clone_model(model)  # Same layers, freshly initialised weights.
    methods = ["integrated gradients"]
    if "grad_cam" in available_views(model):
        methods += ["Grad-CAM", "HiResCAM"]
    ink = images.reshape(len(images), -1) > 0
    sizes = {
        "the top 10 % of its ink pixels": (
            np.maximum(1, np.round(FRACTION * ink.sum(axis=1)).astype(int)),
            True,
        ),
        "the top 78 pixels (10 % of 784)": (np.full(len(images), round(FRACTION * ink.shape[1])), False),
    }
    for name in methods:
        start = time.perf_counter()
        maps = method_maps(model, name, images, targets)
        seconds = time.perf_counter() - start
        print(f"  {name} ({seconds:.1f} s for {len(images)} digits)")
        for label, (counts, ink_only) in sizes.items():
            rng = np.random.default_rng(SEED)
            drop_top, drop_random = deletion(model, images, maps, targets, counts, rng, ink_only)
            ratio = drop_top / drop_random if drop_random > 0 else float("inf")
            verdict = "pass" if ratio >= 2 else "FAIL"
            print(
                f"    deletion of {label}: -{drop_top:.3f}; of as many random ink pixels: "
                f"-{drop_random:.3f}; ratio {ratio:.1f} (target >= 2: {verdict})"
            )
        random_maps = method_maps(randomised, name, images, targets)
        flat, random_flat = maps.reshape(len(images), -1), random_maps.reshape(len(images), -1)
        with np.errstate(invalid="ignore", divide="ignore"):  # A blank map has no ranks.
            everywhere = np.nanmean(spearman_rows(np.abs(flat), np.abs(random_flat)))
            pairs = zip(flat, random_flat, ink, strict=True)
            on_ink = np.nanmean([spearman_rows(a[m][None], b[m][None])[0] for a, b, m in pairs])
        verdict = "pass" if everywhere < 0.5 else "FAIL"
        print(
            f"    randomised weights: mean Spearman {everywhere:.2f} over all pixels (|map|; target < 0.5: "
            f"{verdict}), {on_ink:.2f} over the ink pixels"
        )
        if name == "integrated gradients":
            completeness(model, images, targets, flat)


def completeness(model, images: np.ndarray, targets: np.ndarray, flat_maps: np.ndarray) -> None:
    """Prints how far integrated-gradients maps' sums are from their logits' change."""
    from core.explain import class_logits

    rows = np.arange(len(images))
    change = (
        class_logits(model, images)[rows, targets]
        - class_logits(model, np.zeros_like(images[:1]))[0, targets]
    )
    gap = np.abs(flat_maps.sum(axis=1) - change)
    share = gap / np.maximum(np.abs(change), 1e-6)
    print(
        f"    completeness: a map's sum is off its logit's change by {np.median(share):.2%} (median), "
        f"{np.percentile(share, 90):.2%} (90th percentile); by {gap.max():.3f} logits at most"
    )


def view_times(store, run_id: int, model, image: np.ndarray) -> None:
    """Prints the warm time of every view of one drawing, in this process and through
    the model reader."""
    from core.explain import available_views, digit_map_for_run, explain_image
    from core.reader import ReaderClient

    start = time.perf_counter()
    digit_map = digit_map_for_run(store, run_id, model)
    print(f"  digit map: {time.perf_counter() - start:.2f} s to build or read (once per model file)")
    times = []
    for name in available_views(model):
        ms = median_ms(lambda name=name: explain_image(model, image, views=(name,), digit_map=digit_map), 10)
        times.append(f"{name} {ms:.1f}")
    print(f"  one drawing, each view alone (ms, warm): {', '.join(times)}")
    every = median_ms(lambda: explain_image(model, image, digit_map=digit_map), 10)
    client = ReaderClient(store)
    answer = client.explain_image(run_id, image)
    if isinstance(answer, str):
        print(f"  all views: {every:.1f} ms here; the reader could not answer: {answer}")
        return
    through_reader = median_ms(lambda: client.explain_image(run_id, image), 10)
    print(f"  all views in one call: {every:.1f} ms here, {through_reader:.1f} ms through the model reader")


def main() -> None:
    """Prints the figures for each run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=int, action="append", required=True, help="a completed digit run")
    parser.add_argument("--digits", type=int, default=500)
    args = parser.parse_args()

    from core.datasets import load_dataset
    from core.predict import load_predictor
    from core.store import RunStore

    store = RunStore()
    for run_id in args.run:
        run = store.get_run(run_id)
        predictor = load_predictor(store, run_id)
        config = run["config"]
        if config.is_text:
            print(f"run {run_id} reads text: skipped")
            continue
        dataset = load_dataset(config.dataset)
        chosen = np.random.default_rng(SEED).permutation(len(dataset.x_test))[: args.digits]
        images = (dataset.x_test[chosen] / 255.0).astype(np.float32)
        name = config.preset or config.family
        print(f"run {run_id} ({name}, test accuracy {run['test_accuracy']:.4f}), {len(images)} test digits")
        faithfulness(predictor.model, images)
        view_times(store, run_id, predictor.model, images[0])


if __name__ == "__main__":
    main()
