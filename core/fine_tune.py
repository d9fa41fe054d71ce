"""Teaching a model your handwriting: fine-tuning a digits run on the user's drawings.

The run starts from its parent's weights with a fresh optimizer at a tenth of the
parent's learning rate. It trains on the user's saved drawings (each with augmented
copies: stroke width and one random warp, `core/augment.py`) mixed with replayed
MNIST training digits, so it keeps reading MNIST as well as before. A part of the
drawings, at least one of every digit, is kept aside: the run's personal accuracy is
measured on those alone, before (the parent) and after. MNIST test accuracy is
measured before and after in the same process, on the same test digits.
"""

from __future__ import annotations

import numpy as np

from core.children import check_drawings
from core.continuation import Start, parent_model
from core.datasets import Dataset
from core.store import RunStore
from core.training import PreparedData, prepare_data, scale_images

HELD_OUT_SHARE = 0.2  # Of each digit's drawings, at least one.
AUGMENTED_COPIES = 20  # Per training drawing, besides the drawing itself.
REPLAYED_DIGITS = 3000


def held_out_mask(labels: np.ndarray, seed: int) -> np.ndarray:
    """Returns which drawings are kept aside: a random fifth of each digit's, at least one."""
    rng = np.random.default_rng(seed)
    held = np.zeros(len(labels), dtype=bool)
    for digit in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == digit))
        held[members[: max(1, round(HELD_OUT_SHARE * len(members)))]] = True
    return held


def augmented_copies(images: np.ndarray, copies: int, seed: int) -> np.ndarray:
    """Returns `copies` randomly augmented versions of every image (N * copies, 28, 28),
    in order: all images' first copies, then their second, and so on."""
    from core.augment import augmentation

    augment = augmentation(seed)
    batch = np.tile(images[..., None], (copies, 1, 1, 1)).astype(np.float32)
    return np.asarray(augment(batch, training=True))[..., 0]


def accuracy(model, images: np.ndarray, labels: np.ndarray) -> float:
    """Returns the share of images the model reads as their label."""
    predicted = model.predict(images, batch_size=256, verbose=0).argmax(axis=1)
    return float(np.mean(predicted == labels))


def fine_tune_start(store: RunStore, run: dict, dataset: Dataset) -> Start:
    """The parent's model and the mixed training data of a fine-tuning run.

    Raises:
        ConfigError: fewer than 3 drawings of some digit (some were deleted since the
            run was queued).
        ModelUnavailable: the parent's model cannot be loaded.
    """
    config, parent_id = run["config"], run["parent_run_id"]
    drawings = store.drawings()
    labels = np.array([drawing["label"] for drawing in drawings], dtype=np.int64)
    check_drawings(labels.tolist())
    ids = np.array([drawing["id"] for drawing in drawings])
    images = scale_images(np.stack([drawing["image"] for drawing in drawings]))
    held = held_out_mask(labels, config.seed)
    mnist = prepare_data(dataset, config.with_changes(augment=False))  # MNIST's own digits replayed.
    replayed = np.random.default_rng(config.seed).permutation(len(mnist.y_fit))[:REPLAYED_DIGITS]
    trained_images, trained_labels = images[~held], labels[~held]
    x_fit = np.concatenate(
        [
            trained_images,
            augmented_copies(trained_images, AUGMENTED_COPIES, config.seed),
            mnist.x_fit[replayed],
        ]
    )
    y_fit = np.concatenate([trained_labels, np.tile(trained_labels, AUGMENTED_COPIES), mnist.y_fit[replayed]])
    data = PreparedData(x_fit, y_fit, mnist.x_val, mnist.y_val, mnist.x_test, mnist.y_test)
    model = parent_model(store, run)
    before = {
        "personal_accuracy_before": accuracy(model, images[held], labels[held]),
        "mnist_accuracy_before": accuracy(model, mnist.x_test, mnist.y_test),
    }

    def finish(trained, results: dict) -> None:
        personal = accuracy(trained, images[held], labels[held])
        report = {
            **before,
            "personal_accuracy": personal,
            "mnist_accuracy_after": results["test_accuracy"],
            "held_out_ids": ids[held].tolist(),
            "trained_ids": ids[~held].tolist(),
            "augmented_copies": AUGMENTED_COPIES,
            "replayed_digits": int(len(replayed)),
        }
        results["evaluation"]["fine_tune"] = report
        change = (results["test_accuracy"] - before["mnist_accuracy_before"]) * 100
        results["note"] = " ".join(
            filter(
                None,
                [
                    results["note"],
                    f"Your {int(held.sum())} drawings kept aside: {before['personal_accuracy_before']:.0%} "
                    f"before, {personal:.0%} after. MNIST test accuracy "
                    f"{before['mnist_accuracy_before']:.2%} before, {results['test_accuracy']:.2%} after "
                    f"({change:+.2f} points).",
                ],
            )
        )

    note = (
        f"Fine-tuned from run {parent_id} on {int((~held).sum())} of your drawings "
        f"({AUGMENTED_COPIES} augmented copies of each) and {len(replayed):,} replayed MNIST digits."
    )
    return Start(model, data, note, finish)
