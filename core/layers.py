"""The layer table: every layer kind in one entry, with its label, its shape and
parameter rule, and how Keras builds it (imported only when a model is built).

A new layer kind is one `LayerKind` in `LAYER_TABLE`. `core.architecture` uses the
shape rules (no Keras), `core.models` the builders, and explanations ask the table
which layers are convolutions or recurrent.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from core.config import IMAGE_SHAPE, VOCAB_SIZE, LayerSpec


class ConfigError(ValueError):
    """A config a user must change; `field` names the setting at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class LayerKind:
    """One kind of layer.

    Attributes:
        name: the `LayerSpec.kind` it describes.
        role: what it is: "dense", "convolution", "recurrent", "pooling",
            "regularisation", "reshape", "embedding", "augmentation" or "output".
        label: a short description of a spec, e.g. 'Conv2D 32 3x3'.
        output: the output shape and parameter count for an input shape; raises
            ConfigError when the layer cannot take that shape.
        build: returns the Keras layer for a spec and a seed.
        chosen_by_user: False for the layers the engine adds itself.
        gates: weight blocks of a recurrent cell (SimpleRNN 1, LSTM 4, GRU 3).
    """

    name: str
    role: str
    label: Callable[[LayerSpec], str]
    output: Callable[[LayerSpec, tuple], tuple[tuple, int]]
    build: Callable[[LayerSpec, int], object]
    chosen_by_user: bool = True
    gates: int = 0

    @property
    def is_recurrent(self) -> bool:
        """Returns True for SimpleRNN, LSTM and GRU."""
        return self.role == "recurrent"

    @property
    def is_convolution(self) -> bool:
        """Returns True for Conv2D."""
        return self.role == "convolution"

    def rank_after(self, spec: LayerSpec, rank: int) -> int:
        """Returns the rank of the output (1 flat, 2 sequence, 3 image) for an input rank."""
        if self.name in ("flatten", "global_avg_pool"):
            return 1
        if self.role == "embedding":
            return 2
        if self.is_recurrent:
            return 2 if spec.return_sequences else 1
        return rank


def _keras_layers():
    from keras import layers

    return layers


def _same_shape(spec: LayerSpec, shape: tuple) -> tuple[tuple, int]:
    return shape, 0


def _dense_output(spec: LayerSpec, shape: tuple) -> tuple[tuple, int]:
    return (spec.units,), shape[-1] * spec.units + spec.units


def _build_dense(spec: LayerSpec, seed: int):
    return _keras_layers().Dense(spec.units, activation=spec.activation or None)


def _conv_output(spec: LayerSpec, shape: tuple) -> tuple[tuple, int]:
    if len(shape) != 3:
        raise ConfigError("layers", "Conv2D needs an image input: it cannot follow Flatten or Dense.")
    height, width, channels = shape
    size = spec.kernel_size
    if spec.padding == "valid":
        if size > height or size > width:
            raise ConfigError(
                "layers",
                f"A {size}x{size} kernel is larger than its {height}x{width} input: "
                "use a smaller kernel_size, fewer conv blocks or padding 'same'.",
            )
        height, width = height - size + 1, width - size + 1
    return (height, width, spec.filters), size * size * channels * spec.filters + spec.filters


def _maxpool_output(spec: LayerSpec, shape: tuple) -> tuple[tuple, int]:
    if len(shape) != 3:
        raise ConfigError("layers", "MaxPool needs an image input: put it after a Conv2D layer.")
    if shape[0] < 2 or shape[1] < 2:
        raise ConfigError(
            "layers",
            f"MaxPool gets a {shape[0]}x{shape[1]} input, too small to pool: "
            "use fewer conv blocks or padding 'same'.",
        )
    return (shape[0] // 2, shape[1] // 2, shape[2]), 0


def _embedding_output(spec: LayerSpec, shape: tuple) -> tuple[tuple, int]:
    if len(shape) != 1:
        raise ConfigError("layers", "An Embedding layer must come first in a text model.")
    return (shape[0], spec.units), VOCAB_SIZE * spec.units


def _recurrent_kind(name: str, class_name: str, gates: int) -> LayerKind:
    def output(spec: LayerSpec, shape: tuple) -> tuple[tuple, int]:
        if len(shape) != 2:
            raise ConfigError(
                "layers",
                f"A {class_name} layer needs a sequence input: the layer before it must return "
                "sequences (return_sequences) and it cannot follow Flatten or Dense.",
            )
        steps, features = shape
        units = spec.units
        params = gates * (units * (features + units) + units)
        if name == "gru":
            params += gates * units  # Keras' GRU keeps a second bias (reset_after=True).
        directions = 2 if spec.bidirectional else 1
        out_units = units * directions
        out = (steps, out_units) if spec.return_sequences else (out_units,)
        return out, params * directions

    def build(spec: LayerSpec, seed: int):
        layers = _keras_layers()
        recurrent = getattr(layers, class_name)(
            spec.units,
            activation=spec.activation or "tanh",
            return_sequences=spec.return_sequences,
            seed=seed,
        )
        return layers.Bidirectional(recurrent) if spec.bidirectional else recurrent

    return LayerKind(name, "recurrent", lambda s: f"{class_name} {s.units}", output, build, gates=gates)


def _build_augmentation(spec: LayerSpec, seed: int):
    from core.augment import augmentation

    return augmentation(seed)


LAYER_TABLE: dict[str, LayerKind] = {
    kind.name: kind
    for kind in (
        LayerKind("dense", "dense", lambda s: f"Dense {s.units}", _dense_output, _build_dense),
        LayerKind(
            "conv",
            "convolution",
            lambda s: f"Conv2D {s.filters} {s.kernel_size}x{s.kernel_size}",
            _conv_output,
            lambda s, seed: _keras_layers().Conv2D(
                s.filters, s.kernel_size, activation=s.activation or None, padding=s.padding
            ),
        ),
        LayerKind(
            "maxpool",
            "pooling",
            lambda s: "MaxPool 2x2",
            _maxpool_output,
            lambda s, seed: _keras_layers().MaxPooling2D(2),
        ),
        LayerKind(
            "dropout",
            "regularisation",
            lambda s: f"Dropout {s.rate:g}",
            _same_shape,
            lambda s, seed: _keras_layers().Dropout(s.rate, seed=seed),
        ),
        LayerKind(
            "batchnorm",
            "regularisation",
            lambda s: "BatchNorm",
            lambda s, shape: (shape, 4 * shape[-1]),
            # Momentum 0.9, not Keras' 0.99: the moving statistics that validation uses
            # then settle within an epoch of ~70 batches. With 0.99, Best CNN's first
            # epochs validated at chance (11 %) though it trained well (66 %, 88 %).
            lambda s, seed: _keras_layers().BatchNormalization(momentum=0.9),
        ),
        LayerKind(
            "flatten",
            "reshape",
            lambda s: "Flatten",
            lambda s, shape: ((math.prod(shape),), 0),
            lambda s, seed: _keras_layers().Flatten(),
        ),
        LayerKind(
            "embedding",
            "embedding",
            lambda s: f"Embedding {s.units} (padding masked)",
            _embedding_output,
            lambda s, seed: _keras_layers().Embedding(VOCAB_SIZE, s.units, mask_zero=True),
        ),
        LayerKind(
            "global_avg_pool",
            "pooling",
            lambda s: "GlobalAveragePooling",
            lambda s, shape: ((shape[-1],), 0),
            lambda s, seed: _keras_layers().GlobalAveragePooling1D(),
        ),
        _recurrent_kind("simplernn", "SimpleRNN", 1),
        _recurrent_kind("lstm", "LSTM", 4),
        _recurrent_kind("gru", "GRU", 3),
        LayerKind(
            "to_image",
            "reshape",
            lambda s: f"Reshape to {IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]}x1",
            lambda s, shape: ((*shape, 1), 0),
            lambda s, seed: _keras_layers().Reshape((*IMAGE_SHAPE, 1)),
            chosen_by_user=False,
        ),
        LayerKind(
            "to_sequence",
            "reshape",
            lambda s: f"Reshape back to {IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]}",
            lambda s, shape: (shape[:2], 0),
            lambda s, seed: _keras_layers().Reshape(IMAGE_SHAPE),
            chosen_by_user=False,
        ),
        LayerKind(
            "augment",
            "augmentation",
            lambda s: "Augment (training only)",
            _same_shape,
            _build_augmentation,
            chosen_by_user=False,
        ),
        LayerKind(
            "output",
            "output",
            lambda s: f"Dense {s.units} (output)",
            _dense_output,
            _build_dense,
            chosen_by_user=False,
        ),
    )
}
LAYER_KINDS = tuple(name for name, kind in LAYER_TABLE.items() if kind.chosen_by_user)
RECURRENT_KINDS = tuple(name for name, kind in LAYER_TABLE.items() if kind.is_recurrent)


def layer_kind(name: str) -> LayerKind:
    """Returns the table entry of a layer kind.

    Raises:
        ConfigError: no such kind (the message lists the kinds a user may choose).
    """
    if name not in LAYER_TABLE:
        raise ConfigError("layers", f"Unknown layer kind '{name}'; choose one of {', '.join(LAYER_KINDS)}.")
    return LAYER_TABLE[name]


def describe_layer(spec: LayerSpec) -> str:
    """Returns a short human description such as 'Conv2D 32 3x3 relu'."""
    text = layer_kind(spec.kind).label(spec)
    if spec.bidirectional:
        text = f"Bidirectional {text}"
    if spec.activation:
        text += f" {spec.activation}"
    if spec.return_sequences:
        text += " (sequences)"
    return text
