"""Where a drawing stands among the digits: a 2-D map of the model's last hidden layer.

About 2,000 test digits are run through the model once per run; their last hidden
vectors are projected onto their two principal components (PCA by numpy's SVD). The
projection is linear, so a new drawing is placed exactly as the test digits were, in
about a millisecond, and the map is honest about what it keeps: the two axes hold the
share of the spread that `DigitMap.explained` gives, the rest is flattened away. The
map is cached beside the model (`models/run-N.map.npz`, `RunStore.digit_map_path`)
and built again when the model file changes.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from core.config import IMAGE_SHAPE
from core.explain.model_parts import cached_function, run_layers
from core.explain.results import DigitMap, MapView

MAP_DIGITS = 2000
MAP_SEED = 0
FEATURE_BATCH = 256


def hidden_features(model, images: np.ndarray) -> np.ndarray:
    """Returns the model's last hidden layer (N, features) for images (N, 28, 28),
    the vectors its output layer reads."""
    features = cached_function(model, "hidden", lambda: _compile_hidden(model))
    images = np.asarray(images, dtype=np.float32).reshape(-1, *IMAGE_SHAPE)
    parts = [
        features(images[start : start + FEATURE_BATCH]).numpy()
        for start in range(0, len(images), FEATURE_BATCH)
    ]
    return np.concatenate(parts).astype(np.float32)


def build_digit_map(model, images: np.ndarray, labels: np.ndarray, item: str = "digit") -> DigitMap:
    """Returns the PCA map of the model's last hidden layer for labelled images.

    Args:
        model: a trained digit model (`Predictor.model`).
        images: (N, 28, 28) in [0, 1], N >= 3.
        labels: (N,) true classes, for colouring.
        item: what one image is called in the caption ("digit", "image").
    """
    features = hidden_features(model, images)
    mean = features.mean(axis=0)
    _, singular, directions = np.linalg.svd(features - mean, full_matrices=False)
    components = directions[:2]
    # An SVD's signs are arbitrary: make each axis point the same way every time.
    components *= np.sign(components[np.arange(2), np.abs(components).argmax(axis=1)])[:, None]
    variance = singular**2
    explained = (variance[:2] / max(variance.sum(), 1e-12)).astype(np.float32)
    points = ((features - mean) @ components.T).astype(np.float32)
    caption = (
        f"Each dot is one of {len(points):,} test {item}s, placed by the {features.shape[1]} numbers of "
        f"the model's last hidden layer, flattened onto their two directions of largest spread (PCA, "
        f"which keeps {explained.sum():.0%} of the spread); the star is your drawing."
    )
    return DigitMap(
        points,
        np.asarray(labels, dtype=np.int32),
        mean.astype(np.float32),
        components.astype(np.float32),
        explained,
        caption,
    )


def place_on_map(model, digit_map: DigitMap, images: np.ndarray) -> np.ndarray:
    """Returns where images (N, 28, 28) lie on the map, (N, 2), as its digits were placed."""
    return ((hidden_features(model, images) - digit_map.mean) @ digit_map.components.T).astype(np.float32)


def map_view(model, digit_map: DigitMap, image: np.ndarray) -> MapView:
    """Returns the map with one image placed on it, as a page shows it."""
    drawing = place_on_map(model, digit_map, image)[0]
    return MapView(digit_map.points, digit_map.labels, drawing, digit_map.explained, digit_map.caption)


def cached_digit_map(
    model, model_path: Path, cache_path: Path, images: np.ndarray, labels: np.ndarray, item: str = "digit"
) -> DigitMap:
    """Returns the model's map from its cache file, building and saving it when the
    file is missing, unreadable or was made for another model file.

    Args:
        model: the model loaded from `model_path`.
        model_path: its `.keras` file; the map is valid for this file's size and time.
        cache_path: the cache file (`RunStore.digit_map_path`).
        images, labels, item: what `build_digit_map` maps if it must be built.
    """
    stamp = _file_stamp(model_path)
    cached = _read_map(cache_path, stamp)
    if cached is not None:
        return cached
    digit_map = build_digit_map(model, images, labels, item)
    _write_map(Path(cache_path), digit_map, stamp)
    return digit_map


def digit_map_for_run(store, run_id: int, model) -> DigitMap:
    """Returns the map of a completed digit run, from its cache file or built now from
    its dataset's test digits (a second or two, once per model file).

    Args:
        store: the run store (`core.store.RunStore`).
        run_id: a completed image run.
        model: the run's loaded model (`Predictor.model`).

    Raises:
        ValueError: the run does not exist or reads text.
    """
    from core.datasets import load_dataset

    run = store.get_run(run_id)
    if run is None or run["config"] is None or run["config"].is_text:
        raise ValueError(f"Run {run_id} is not a digit model with a readable config: it has no digit map.")
    model_path, cache_path = store.model_path(run_id), store.digit_map_path(run_id)
    cached = _read_map(cache_path, _file_stamp(model_path))
    if cached is not None:
        return cached
    dataset = load_dataset(run["config"].dataset)
    images, labels = map_digits(dataset.x_test, dataset.y_test)
    return cached_digit_map(model, model_path, cache_path, images, labels, dataset.facts.item)


def map_digits(
    x_test: np.ndarray, y_test: np.ndarray, count: int = MAP_DIGITS
) -> tuple[np.ndarray, np.ndarray]:
    """Returns the test digits a map shows: `count` drawn at random (seed 0), in [0, 1]."""
    chosen = np.sort(np.random.default_rng(MAP_SEED).permutation(len(x_test))[:count])
    return (x_test[chosen] / np.float32(255.0)).astype(np.float32), y_test[chosen]


def _file_stamp(path: Path) -> np.ndarray:
    status = Path(path).stat()
    return np.array([status.st_mtime_ns, status.st_size], dtype=np.int64)


def _read_map(path: Path, stamp: np.ndarray) -> DigitMap | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            if not np.array_equal(data["model_stamp"], stamp):
                return None
            return DigitMap(
                data["points"],
                data["labels"],
                data["mean"],
                data["components"],
                data["explained"],
                str(data["caption"]),
            )
    except (OSError, KeyError, ValueError):
        return None


def _write_map(path: Path, digit_map: DigitMap, stamp: np.ndarray) -> None:
    """Writes the map to a temporary file and renames it, so a reader never sees half
    a file; a map that cannot be written is simply built again next time."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as handle:
            np.savez(
                handle,
                model_stamp=stamp,
                points=digit_map.points,
                labels=digit_map.labels,
                mean=digit_map.mean,
                components=digit_map.components,
                explained=digit_map.explained,
                caption=np.array(digit_map.caption),
            )
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)


def _compile_hidden(model):
    import tensorflow as tf

    return tf.function(
        lambda images: run_layers(model.layers[:-1], images)[0],
        input_signature=[tf.TensorSpec((None, *IMAGE_SHAPE), tf.float32)],
    )
