"""What explanations return: small frozen dataclasses of numpy arrays, each with a
one-line caption a page can show, and how they travel between processes.

This module imports neither Keras nor TensorFlow, so the web server can receive and
show explanations that the model reader computed. `pack` turns a result into a JSON
structure and a list of arrays (sent as raw bytes, never pickled); `unpack` builds it
back, accepting only the result types below.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass

import numpy as np

# The array types that may cross the wire; anything else is refused.
WIRE_DTYPES = ("float32", "int32", "bool")


@dataclass(frozen=True)
class Attribution:
    """Where the model looked: one score per pixel of the 28x28 it sees.

    Attributes:
        method: "integrated gradients", "Grad-CAM" or "HiResCAM".
        target: the class explained (the predicted one unless another was asked for).
        heatmap: (28, 28) float32. Integrated gradients: positive pixels raise the
            class's score (its logit, the value before softmax), negative ones lower
            it, and the map sums to `score - baseline_score` (within 5 %).
            Grad-CAM and HiResCAM: zero or positive, large where the last
            convolution saw evidence for the class; `baseline_score` is 0.
        score: the class's logit for this image.
        baseline_score: the class's logit for a blank image (integrated gradients).
        caption: one plain sentence for the page.
    """

    method: str
    target: int
    heatmap: np.ndarray
    score: float
    baseline_score: float
    caption: str


@dataclass(frozen=True)
class LayerMaps:
    """What one convolution layer produced for this image.

    Attributes:
        layer: the layer's description, e.g. "Conv2D 32 3x3 (convolution 1 of 4)".
        maps: (filters, height, width) float32, one map per filter.
        caption: one plain sentence for the page.
    """

    layer: str
    maps: np.ndarray
    caption: str


@dataclass(frozen=True)
class Filters:
    """The first convolution's filters: the small patterns it slides over the image.

    Attributes:
        weights: (filters, kernel, kernel) float32 (the image has one channel).
        caption: one plain sentence for the page.
    """

    weights: np.ndarray
    caption: str


@dataclass(frozen=True)
class DenseUnits:
    """What the first dense layer's units look for, and which this image excites.

    Attributes:
        weights: (units, 28, 28) float32: each unit's weights drawn as an image;
            positive where ink raises the unit, negative where ink lowers it.
        activations: (units,) float32: each unit's output for this image.
        strongest: (top,) int32: the most active units, most active first.
        caption: one plain sentence for the page.
    """

    weights: np.ndarray
    activations: np.ndarray
    strongest: np.ndarray
    caption: str


@dataclass(frozen=True)
class RowReading:
    """How a recurrent model made up its mind, reading the digit row by row.

    Attributes:
        probabilities: (28, classes) float32: row r holds the class probabilities
            after the model read rows 1 to r+1; the last row is its answer.
        hidden: (28, units) float32: the last recurrent layer's state after each row.
        caption: one plain sentence for the page.
    """

    probabilities: np.ndarray
    hidden: np.ndarray
    caption: str


@dataclass(frozen=True)
class DigitMap:
    """A 2-D map of the model's last hidden layer for test digits (PCA).

    The map is a linear projection (principal components by SVD), so a new image is
    placed exactly as the test digits were, in about a millisecond.

    Attributes:
        points: (digits, 2) float32: where each test digit lies.
        labels: (digits,) int32: each test digit's true class.
        mean: (features,) float32: the mean hidden vector, subtracted first.
        components: (2, features) float32: the two directions of largest spread.
        explained: (2,) float32: the share of the spread each direction holds.
        caption: one plain sentence for the page.
    """

    points: np.ndarray
    labels: np.ndarray
    mean: np.ndarray
    components: np.ndarray
    explained: np.ndarray
    caption: str


@dataclass(frozen=True)
class MapView:
    """The digit map as a page shows it: the test digits and this image among them.

    Attributes:
        points: (digits, 2) float32; labels: (digits,) int32 (as in `DigitMap`).
        drawing: (2,) float32: where this image lies on the same map.
        explained: (2,) float32: the share of the spread each axis holds.
        caption: one plain sentence for the page.
    """

    points: np.ndarray
    labels: np.ndarray
    drawing: np.ndarray
    explained: np.ndarray
    caption: str


@dataclass(frozen=True)
class WordReading:
    """A sentiment model's verdict on a review, word by word.

    Attributes:
        words: the words the model read, in order (at most its `max_words`).
        known: (words,) bool: False for words outside the model's vocabulary (the
            model reads them all as one "unknown word").
        contributions: (words,) float32: how much each word moved P(positive), by
            integrated gradients over the word vectors; they sum to
            `probability - baseline_probability`.
        probability: P(positive) of the whole review.
        baseline_probability: P(positive) with every word's vector set to zero.
        read_so_far: (words,) float32: P(positive) had the review ended at each word.
        knows_none: True when the model knows none of the words.
        unread: how many words came after the first `max_words` and were not read.
        caption: one plain sentence for the page.
    """

    words: tuple
    known: np.ndarray
    contributions: np.ndarray
    probability: float
    baseline_probability: float
    read_so_far: np.ndarray
    knows_none: bool
    unread: int
    caption: str


RESULT_TYPES = {
    kind.__name__: kind
    for kind in (Attribution, LayerMaps, Filters, DenseUnits, RowReading, DigitMap, MapView, WordReading)
}


def pack(value) -> tuple[object, list[np.ndarray]]:
    """Splits a result into a JSON-ready structure and the arrays it holds.

    Args:
        value: a result dataclass, or dicts, lists and tuples of them, arrays,
            strings, numbers, booleans and None.

    Returns:
        The structure (arrays replaced by `{"array": index}`) and the arrays.

    Raises:
        TypeError: a value of a type that cannot travel.
    """
    arrays: list[np.ndarray] = []

    def encode(item):
        if isinstance(item, np.ndarray):
            array = _wire_array(item)
            arrays.append(array)
            return {"array": len(arrays) - 1}
        if is_dataclass(item) and type(item).__name__ in RESULT_TYPES:
            values = {spec.name: encode(getattr(item, spec.name)) for spec in fields(item)}
            return {"type": type(item).__name__, "fields": values}
        if isinstance(item, dict):
            return {"dict": {str(key): encode(entry) for key, entry in item.items()}}
        if isinstance(item, list | tuple):
            return [encode(entry) for entry in item]
        if isinstance(item, np.generic):
            return item.item()
        if item is None or isinstance(item, str | int | float | bool):
            return item
        raise TypeError(f"An explanation cannot carry a {type(item).__name__}.")

    return encode(value), arrays


def unpack(structure, arrays: list[np.ndarray]):
    """Builds back what `pack` split (lists come back as tuples).

    Raises:
        ValueError: the structure names an unknown type, wrong fields or a missing
            array.
    """

    def decode(item):
        if isinstance(item, list):
            return tuple(decode(entry) for entry in item)
        if not isinstance(item, dict):
            return item
        if "array" in item:
            index = int(item["array"])
            if not 0 <= index < len(arrays):
                raise ValueError("The explanation refers to an array it did not send.")
            return arrays[index]
        if "type" in item:
            kind = RESULT_TYPES.get(item["type"])
            if kind is None:
                raise ValueError(f"Unknown explanation type '{item['type']}'.")
            values = {name: decode(entry) for name, entry in item["fields"].items()}
            if set(values) != {spec.name for spec in fields(kind)}:
                raise ValueError(f"The explanation's {item['type']} has the wrong fields.")
            return kind(**values)
        return {key: decode(entry) for key, entry in item["dict"].items()}

    return decode(structure)


def _wire_array(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.bool_:
        return np.ascontiguousarray(array)
    if np.issubdtype(array.dtype, np.integer):
        return np.ascontiguousarray(array, dtype=np.int32)
    return np.ascontiguousarray(array, dtype=np.float32)
