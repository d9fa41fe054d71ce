"""The parts of a trained model that explanations look into, found through the layer
table, and how to run them as the model does at inference.

Digit Lab's models are `keras.Sequential` lists built from `core.layers.LAYER_TABLE`:
input adapters (a reshape, the augmentation that is active only in training), the
body, and a Dense output layer with softmax (digits) or sigmoid (reviews).
"""

from __future__ import annotations

import inspect
import threading
import weakref
from collections.abc import Callable

from core.layers import LayerKind, layer_kind

# The Keras class each layer-table entry builds (a bidirectional layer is matched by
# the layer it wraps, the augmentation by the Sequential that holds its two layers).
KERAS_CLASS_KINDS = {
    "Dense": "dense",
    "Conv2D": "conv",
    "MaxPooling2D": "maxpool",
    "Dropout": "dropout",
    "BatchNormalization": "batchnorm",
    "Flatten": "flatten",
    "Embedding": "embedding",
    "GlobalAveragePooling1D": "global_avg_pool",
    "SimpleRNN": "simplernn",
    "LSTM": "lstm",
    "GRU": "gru",
    "Reshape": "to_image",
    "Sequential": "augment",
}

_functions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_functions_lock = threading.Lock()


def kind_of(layer) -> LayerKind | None:
    """Returns the layer-table entry a Keras layer was built from, or None if unknown."""
    inner = getattr(layer, "forward_layer", layer)
    name = KERAS_CLASS_KINDS.get(type(inner).__name__)
    return layer_kind(name) if name else None


def convolution_indices(model) -> list[int]:
    """Returns the positions in `model.layers` of its convolutions, first to last."""
    return [i for i, layer in enumerate(model.layers) if (kind := kind_of(layer)) and kind.is_convolution]


def recurrent_indices(model) -> list[int]:
    """Returns the positions in `model.layers` of its recurrent layers, first to last."""
    return [i for i, layer in enumerate(model.layers) if (kind := kind_of(layer)) and kind.is_recurrent]


def dense_indices(model) -> list[int]:
    """Returns the positions in `model.layers` of its hidden Dense layers (not the output)."""
    return [
        i for i, layer in enumerate(model.layers[:-1]) if (kind := kind_of(layer)) and kind.role == "dense"
    ]


def family_of(model) -> str:
    """Returns "cnn", "recurrent" or "dense": which inside views the model has."""
    if convolution_indices(model):
        return "cnn"
    if recurrent_indices(model):
        return "recurrent"
    return "dense"


def run_layers(layers, inputs, mask=None):
    """Calls `layers` in turn as the model does at inference (training=False).

    Args:
        layers: Keras layers, in order.
        inputs: what the first of them takes.
        mask: a text model's padding mask (batch, words), passed to the layers that
            take one and carried forward; None for images.

    Returns:
        The last layer's output and the mask after it.
    """
    values = inputs
    for layer in layers:
        if mask is not None and "mask" in inspect.signature(layer.call).parameters:
            output = layer(values, training=False, mask=mask)
        else:
            output = layer(values, training=False)
        if mask is not None:
            mask = layer.compute_mask(values, mask)
        values = output
    return values, mask


def logits_from_hidden(model, hidden):
    """Returns the output layer's values before its softmax or sigmoid (the logits)."""
    from keras import ops

    output = model.layers[-1]
    return ops.matmul(hidden, output.kernel) + output.bias


def image_logits(model, images):
    """Returns the class logits (N, classes) of images (N, 28, 28)."""
    hidden, _ = run_layers(model.layers[:-1], images)
    return logits_from_hidden(model, hidden)


def cached_function(model, name: str, build: Callable[[], Callable]) -> Callable:
    """Returns a function built once per model (a compiled call, a layer copy), kept
    as long as the model is."""
    with _functions_lock:
        functions = _functions.setdefault(model, {})
        if name not in functions:
            functions[name] = build()
        return functions[name]
