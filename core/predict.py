"""Loads a saved model once and predicts single inputs fast."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.config import DEFAULT_MAX_WORDS, IMAGE_SHAPE
from core.model_files import UnreadableModelFile, UnsafeModelFile, check_model_archive
from core.store import RunStore
from core.text import encode, load_vocabulary


class ModelUnavailable(RuntimeError):
    """A run's model cannot be used; the message says why."""


class Predictor:
    """A loaded model behind a compiled call (1-2 ms per image on a CPU).

    Args:
        model_path: the `.keras` file; loaded with `safe_mode=True`, so a file
            that carries code (a Lambda layer) is refused, never executed.
        vocabulary_path: the vocabulary of a text model; None for images.
        max_words: how many words of a text the model reads (its run's config).
        params: the model's parameter count when known (its run's); the archive
            may then unpack to at most four times the size such a model takes.

    Raises:
        ModelUnavailable: the file is missing, corrupt, carries code, or unpacks to
            far more than a model (a zip bomb: checked before anything is unpacked).
    """

    def __init__(
        self,
        model_path: Path,
        vocabulary_path: Path | None = None,
        max_words: int = DEFAULT_MAX_WORDS,
        params: int | None = None,
    ):
        if not Path(model_path).is_file():
            raise ModelUnavailable("The model file is missing: retrain the run to use it.")
        try:
            check_model_archive(model_path, params)
        except UnreadableModelFile as error:
            raise ModelUnavailable(f"The model file cannot be read ({error}).") from error
        except UnsafeModelFile as error:
            message = f"The model file is not a valid model ({error}); it was refused."
            raise ModelUnavailable(message) from error

        import keras
        import tensorflow as tf

        import core.augment  # noqa: F401 - registers the custom augmentation layer for loading.

        try:
            self.model = keras.models.load_model(model_path, safe_mode=True, compile=False)
        except Exception as error:  # Keras raises many types for a bad file.
            reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
            if "lambda" in reason.lower() or "unsafe" in reason.lower():
                raise ModelUnavailable(
                    "The model file carries code (a Lambda layer) and was refused for safety."
                ) from error
            raise ModelUnavailable(f"The model file cannot be read ({reason}).") from error
        if vocabulary_path and not Path(vocabulary_path).is_file():
            raise ModelUnavailable("The text model's vocabulary file is missing: retrain the run.")
        self.vocabulary = load_vocabulary(vocabulary_path) if vocabulary_path else None
        self.max_words = max_words
        text = self.vocabulary is not None
        signature = tf.TensorSpec(
            (None, None) if text else (None, *IMAGE_SHAPE), tf.int32 if text else tf.float32
        )
        model = self.model

        def call(inputs):
            return model(inputs, training=False)

        # XLA fuses an image model's layers: about 30 % faster per image than a plain
        # tf.function here (bench/prediction.py). Text has variable lengths, which XLA
        # would compile again for each, so text models stay plain.
        self._call = tf.function(call, input_signature=[signature], jit_compile=not text)

    def predict_prepared(self, batch: np.ndarray) -> np.ndarray:
        """Returns the model's outputs for model-ready inputs (scaled images or
        encoded text)."""
        return self._call(batch).numpy()

    def predict_images(self, images: np.ndarray) -> np.ndarray:
        """Returns class probabilities (N, classes) for images (N, 28, 28) in [0, 1]."""
        if self.vocabulary is not None:
            raise ModelUnavailable("This model reads text, not images.")
        return self.predict_prepared(np.asarray(images, dtype=np.float32).reshape(-1, *IMAGE_SHAPE))

    def predict_texts(self, texts: list[str]) -> np.ndarray:
        """Returns the probability that each text is positive, shape (N,)."""
        if self.vocabulary is None:
            raise ModelUnavailable("This model reads images, not text.")
        return self.predict_prepared(encode(texts, self.vocabulary, self.max_words)).reshape(-1)


def load_predictor(store: RunStore, run_id: int) -> Predictor:
    """Returns the predictor of a completed run.

    Raises:
        ModelUnavailable: no such run, the run has no model, or the file is bad.
    """
    run = store.get_run(run_id)
    if run is None:
        raise ModelUnavailable(f"Run {run_id} does not exist (it may have been deleted).")
    if run["status"] != "completed":
        raise ModelUnavailable(f"Run {run_id} is {run['status']}: only completed runs have a model.")
    if run["config"] is None:
        raise ModelUnavailable(f"Run {run_id} cannot be used: {run['config_error']}")
    vocabulary = store.vocabulary_path(run_id) if run["config"].is_text else None
    return Predictor(store.model_path(run_id), vocabulary, run["config"].max_words, params=run["params"])
