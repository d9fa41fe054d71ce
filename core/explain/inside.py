"""Inside the model: what each family computes for one image.

CNN: each convolution's feature maps and the first layer's filters. Dense: the first
layer's units as 28x28 weight images and the ones this image excites most. Recurrent
models (they read the digit row by row, top to bottom): the class probabilities after
every row and the hidden state over the rows.
"""

from __future__ import annotations

import numpy as np

from core.config import IMAGE_SHAPE, LayerSpec
from core.explain.model_parts import (
    cached_function,
    convolution_indices,
    dense_indices,
    kind_of,
    recurrent_indices,
    run_layers,
)
from core.explain.results import DenseUnits, Filters, LayerMaps, RowReading

STRONGEST_UNITS = 10
PIXELS = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]


def feature_maps(model, image: np.ndarray) -> tuple[LayerMaps, ...]:
    """Returns what every convolution of a CNN produced for one image, first to last.

    Args:
        model: a trained CNN (`Predictor.model`).
        image: (28, 28) in [0, 1].

    Returns:
        One `LayerMaps` per convolution, its maps as (filters, height, width).

    Raises:
        ValueError: the model has no convolution.
    """
    indices = convolution_indices(model)
    if not indices:
        raise ValueError("Feature maps belong to convolution layers: this model has none.")
    outputs = cached_function(model, "feature_maps", lambda: _compile_feature_maps(model, indices))
    maps = [output.numpy()[0].transpose(2, 0, 1) for output in outputs(_one_image(image))]
    views = []
    for number, (index, layer_maps) in enumerate(zip(indices, maps, strict=True), start=1):
        layer = model.layers[index]
        spec = LayerSpec("conv", filters=layer.filters, kernel_size=layer.kernel_size[0])
        label = f"{kind_of(layer).label(spec)} (convolution {number} of {len(indices)})"
        size = f"{layer_maps.shape[1]}x{layer_maps.shape[2]}"
        caption = (
            f"What each of the {layer.filters} filters of convolution {number} found in your drawing "
            f"({size} each): bright where its pattern is."
        )
        views.append(LayerMaps(label, layer_maps, caption))
    return tuple(views)


def first_layer_filters(model) -> Filters:
    """Returns the first convolution's filters as (filters, kernel, kernel) images.

    Raises:
        ValueError: the model has no convolution.
    """
    indices = convolution_indices(model)
    if not indices:
        raise ValueError("Filters belong to convolution layers: this model has none.")
    kernel = np.asarray(model.layers[indices[0]].kernel)  # (kernel, kernel, 1, filters)
    weights = kernel[:, :, 0, :].transpose(2, 0, 1)
    caption = (
        f"The {len(weights)} small patterns the first convolution slides over the image: "
        "light weights answer to ink, dark ones to paper."
    )
    return Filters(weights.astype(np.float32), caption)


def dense_units(model, image: np.ndarray, top: int = STRONGEST_UNITS) -> DenseUnits:
    """Returns what the first dense layer's units look for and how much this image
    excites each.

    Args:
        model: a trained dense model whose first Dense layer reads the flat image.
        image: (28, 28) in [0, 1].
        top: how many of the most active units to name.

    Raises:
        ValueError: the model's first dense layer does not read the image's pixels.
    """
    first = _first_dense_on_pixels(model)
    layer = model.layers[first]
    weights = np.asarray(layer.kernel).T.reshape(-1, *IMAGE_SHAPE)
    activations = cached_function(model, "dense_units", lambda: _compile_prefix(model, first + 1))
    values = activations(_one_image(image)).numpy()[0]
    strongest = np.argsort(-values, kind="stable")[:top].astype(np.int32)
    caption = (
        f"Each square is one of the {len(values)} units of the first layer drawn as its weights: "
        "it fires for ink on the light pixels and against ink on the dark ones. "
        f"Your drawing excites units {', '.join(str(unit) for unit in strongest[:3])} the most."
    )
    return DenseUnits(weights.astype(np.float32), values.astype(np.float32), strongest, caption)


def row_reading(model, image: np.ndarray) -> RowReading:
    """Returns how a recurrent model's reading grew as it read the image row by row.

    The last recurrent layer is copied with the same weights, returning its state
    after every row, and the layers after it are applied to each of those states:
    the model's own cell stepped over the real rows, never a changed input. The
    last row's probabilities are the model's answer.

    Args:
        model: a trained SimpleRNN, LSTM or GRU digit model.
        image: (28, 28) in [0, 1].

    Raises:
        ValueError: the model is not recurrent, reads the rows in both directions,
            or its last recurrent layer already returns every row's state.
    """
    rows = cached_function(model, "rows", lambda: _compile_rows(model))
    probabilities, hidden = (value.numpy()[0] for value in rows(_one_image(image)))
    answer = int(probabilities[-1].argmax())
    settled = _settled_row(probabilities.argmax(axis=1), answer)
    caption = (
        f"What the model would answer after each row it read, top to bottom: it says {answer} "
        f"from row {settled} on. Below, its {hidden.shape[1]}-number memory after each row."
    )
    return RowReading(probabilities.astype(np.float32), hidden.astype(np.float32), caption)


def reads_row_by_row(model) -> bool:
    """Returns True when `row_reading` can show this model's reading after each row:
    its recurrent layers read one way and the last one hands on a single state."""
    indices = recurrent_indices(model)
    return (
        bool(indices)
        and not any(hasattr(model.layers[index], "forward_layer") for index in indices)
        and not model.layers[indices[-1]].return_sequences
    )


def _settled_row(choices: np.ndarray, answer: int) -> int:
    """Returns the first row (counted from 1) after which every choice is the answer."""
    differing = np.flatnonzero(choices != answer)
    return int(differing[-1]) + 2 if len(differing) else 1


def _first_dense_on_pixels(model) -> int:
    indices = dense_indices(model)
    if not indices or convolution_indices(model) or recurrent_indices(model):
        raise ValueError("Unit pictures are for dense models: this model's first layer is not Dense.")
    if model.layers[indices[0]].kernel.shape[0] != PIXELS:
        raise ValueError("The first dense layer does not read the image's pixels directly.")
    return indices[0]


def _one_image(image) -> np.ndarray:
    return np.asarray(image, dtype=np.float32).reshape(1, *IMAGE_SHAPE)


def _image_signature():
    import tensorflow as tf

    return [tf.TensorSpec((None, *IMAGE_SHAPE), tf.float32)]


def _compile_feature_maps(model, indices: list[int]):
    import tensorflow as tf

    def outputs(images):
        collected, values = [], images
        for index in range(indices[-1] + 1):
            values, _ = run_layers([model.layers[index]], values)
            if index in indices:
                collected.append(values)
        return collected

    return tf.function(outputs, input_signature=_image_signature())


def _compile_prefix(model, count: int):
    import tensorflow as tf

    return tf.function(
        lambda images: run_layers(model.layers[:count], images)[0], input_signature=_image_signature()
    )


def _compile_rows(model):
    import tensorflow as tf

    if not reads_row_by_row(model):
        raise ValueError(
            "Row-by-row reading is for recurrent models that read the rows one way, top to bottom, "
            "and answer from their last state: this model does not."
        )
    last = recurrent_indices(model)[-1]
    layer = model.layers[last]
    stepping = type(layer).from_config({**layer.get_config(), "return_sequences": True})
    inputs, _ = run_layers(model.layers[:last], np.zeros((1, *IMAGE_SHAPE), np.float32))
    stepping(inputs)  # Builds its weights, then takes the trained ones.
    stepping.set_weights(layer.get_weights())

    def rows(images):
        inputs, _ = run_layers(model.layers[:last], images)
        states = stepping(inputs, training=False)
        probabilities, _ = run_layers(model.layers[last + 1 :], states)
        return probabilities, states

    return tf.function(rows, input_signature=_image_signature())
