"""A sentiment model's verdict, word by word.

Each word's contribution is integrated gradients over the word vectors: the path
runs from every vector at zero (the padding mask unchanged) to the review's own, the
gradient of P(positive) is added up along it and summed over each word's vector, so
the contributions add up to P(positive) minus P(positive) of the blank review. The
reading as the review goes on is the model's answer for every beginning of the
review: for a recurrent model that is exactly its state after each word.
"""

from __future__ import annotations

import numpy as np

from core.explain.attributions import IG_STEPS, path_points
from core.explain.model_parts import cached_function, run_layers
from core.explain.results import WordReading
from core.text import UNKNOWN, encode, tokenize

MAX_PATH_WORDS = 20_000  # Path points times words per compiled call, to bound memory.


def read_review(
    model, vocabulary: list[str], text: str, max_words: int, steps: int = IG_STEPS
) -> WordReading:
    """Returns each word's contribution to a sentiment model's verdict.

    Args:
        model: a trained sentiment model (`Predictor.model`).
        vocabulary: its vocabulary (`Predictor.vocabulary`).
        text: the review.
        max_words: how many words the model reads (`Predictor.max_words`).
        steps: points on the integrated-gradients path.

    Returns:
        A `WordReading`; unknown words are marked in `known`.

    Raises:
        ValueError: the review has no words.
    """
    words = tokenize(text)
    if not words:
        raise ValueError("The review has no words to read: type a sentence.")
    read = tuple(words[:max_words])
    ids = encode([text], vocabulary, max_words)
    known = ids[0] != UNKNOWN
    vectors = np.asarray(model.layers[0](ids), dtype=np.float32)
    probabilities = cached_function(model, "text_probabilities", lambda: _compile_probabilities(model))
    gradients = cached_function(model, "text_gradients", lambda: _compile_gradients(model))

    mask = np.ones(ids.shape, dtype=bool)
    probability = float(probabilities(vectors, mask).numpy()[0, 0])
    baseline = float(probabilities(np.zeros_like(vectors), mask).numpy()[0, 0])
    contributions = _integrated_gradients(gradients, vectors, steps)
    read_so_far = _read_so_far(probabilities, vectors)
    knows_none = not known.any()
    return WordReading(
        words=read,
        known=known,
        contributions=contributions,
        probability=probability,
        baseline_probability=baseline,
        read_so_far=read_so_far,
        knows_none=knows_none,
        unread=len(words) - len(read),
        caption=_caption(knows_none, known),
    )


def _integrated_gradients(gradients, vectors: np.ndarray, steps: int) -> np.ndarray:
    """Returns each word's integrated gradients, summed over its vector (words,)."""
    alphas, weights = path_points(steps)
    words = vectors.shape[1]
    total = np.zeros(vectors.shape[1:], dtype=np.float64)
    per_call = max(1, MAX_PATH_WORDS // words)
    for start in range(0, steps, per_call):
        chunk = alphas[start : start + per_call]
        path = chunk[:, None, None] * vectors
        mask = np.ones(path.shape[:2], dtype=bool)
        grads = gradients(path, mask).numpy()
        total += np.tensordot(weights[start : start + per_call], grads, axes=([0], [0]))
    return (vectors[0] * total).sum(axis=1).astype(np.float32)


def _read_so_far(probabilities, vectors: np.ndarray) -> np.ndarray:
    """Returns P(positive) had the review ended after each word (the rest masked)."""
    words = vectors.shape[1]
    readings = []
    per_call = max(1, MAX_PATH_WORDS // words)
    for start in range(0, words, per_call):
        ends = np.arange(start, min(start + per_call, words)) + 1
        length = int(ends[-1])
        mask = np.arange(length)[None, :] < ends[:, None]
        beginnings = np.where(mask[:, :, None], vectors[:, :length], 0.0).astype(np.float32)
        readings.append(probabilities(beginnings, mask).numpy()[:, 0])
    return np.concatenate(readings).astype(np.float32)


def _caption(knows_none: bool, known: np.ndarray) -> str:
    if knows_none:
        return "The model knows none of these words, so its verdict says nothing about this review."
    unknown = int((~known).sum())
    unknown_note = f" {unknown} word{'s' if unknown != 1 else ''} it does not know (grey)." if unknown else ""
    return (
        "Green words pushed the verdict towards positive, red ones towards negative "
        f"(integrated gradients; they add up to the change from a blank review).{unknown_note}"
    )


def _signature(model):
    import tensorflow as tf

    dimensions = model.layers[0].output_dim
    return [tf.TensorSpec((None, None, dimensions), tf.float32), tf.TensorSpec((None, None), tf.bool)]


def _compile_probabilities(model):
    import tensorflow as tf

    return tf.function(
        lambda vectors, mask: run_layers(model.layers[1:], vectors, mask)[0],
        input_signature=_signature(model),
    )


def _compile_gradients(model):
    import tensorflow as tf

    def gradients(vectors, mask):
        with tf.GradientTape() as tape:
            tape.watch(vectors)
            positive = run_layers(model.layers[1:], vectors, mask)[0]
        return tape.gradient(positive, vectors)

    return tf.function(gradients, input_signature=_signature(model))
