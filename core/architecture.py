"""Checks a run's layer list and works out shapes and parameter counts without Keras.

The Train page shows the parameter count and a summary before a run starts; doing
it here in plain Python keeps TensorFlow out of the web server. `core.models`
builds the Keras model from the same resolved layer list, and a test checks that
both agree on every preset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from core.config import (
    ACTIVATIONS,
    DATASETS,
    FAMILIES,
    IMAGE_DATASETS,
    LAYER_KINDS,
    LR_SCHEDULES,
    MAX_EPOCHS,
    MAX_PARAMS,
    OPTIMIZERS,
    RECURRENT_FAMILIES,
    TEXT_FAMILIES,
    LayerSpec,
    RunConfig,
)

IMAGE_SHAPE = (28, 28)
VOCAB_SIZE = 10_000
RECURRENT_GATES = {"simplernn": 1, "lstm": 4, "gru": 3}
TRAIN_SIZES = {"mnist": 60_000, "fashion_mnist": 60_000, "sentiment": 25_000}


class ConfigError(ValueError):
    """A config a user must change; `field` names the setting at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class LayerSummary:
    """One resolved layer: what it is, the shape it outputs and its parameters."""

    spec: LayerSpec
    output_shape: tuple
    params: int

    @property
    def label(self) -> str:
        """Returns a short human description such as 'Conv2D 32 3x3 relu'."""
        s = self.spec
        names = {
            "dense": f"Dense {s.units}",
            "conv": f"Conv2D {s.filters} {s.kernel_size}x{s.kernel_size}",
            "maxpool": "MaxPool 2x2",
            "dropout": f"Dropout {s.rate:g}",
            "batchnorm": "BatchNorm",
            "flatten": "Flatten",
            "embedding": f"Embedding {s.units} (padding masked)",
            "global_avg_pool": "GlobalAveragePooling",
            "simplernn": f"SimpleRNN {s.units}",
            "lstm": f"LSTM {s.units}",
            "gru": f"GRU {s.units}",
            "to_image": "Reshape to 28x28x1",
            "to_sequence": "Reshape back to 28x28",
            "augment": "Augment (training only)",
            "output": f"Dense {s.units} (output)",
        }
        text = names[s.kind]
        if s.bidirectional:
            text = f"Bidirectional {text}"
        if s.activation:
            text += f" {s.activation}"
        if s.return_sequences:
            text += " (sequences)"
        return text


def input_shape(dataset: str) -> tuple:
    """Returns the model input shape for a dataset (text has any length)."""
    return (None,) if dataset == "sentiment" else IMAGE_SHAPE


def resolve_layers(config: RunConfig) -> tuple[LayerSpec, ...]:
    """Returns the full layer list: input adapters, augmentation, body and output.

    Adds what a user should not have to write: the reshape an image model needs,
    Flatten (or pooling over time for text) before the first Dense layer, and the
    output layer.
    """
    resolved: list[LayerSpec] = []
    image = config.dataset in IMAGE_DATASETS
    if image and (config.family == "cnn" or config.augment):
        resolved.append(LayerSpec("to_image"))
    if image and config.augment:
        resolved.append(LayerSpec("augment"))
    if image and config.augment and config.family != "cnn":
        resolved.append(LayerSpec("to_sequence"))
    rank = 3 if image and config.family == "cnn" else 2
    for spec in config.layers:
        if spec.kind == "dense" and rank > 1:
            resolved.append(_collapse(config, rank))
            rank = 1
        resolved.append(spec)
        rank = _rank_after(spec, rank)
    if rank > 1:
        resolved.append(_collapse(config, rank))
    if config.dataset == "sentiment":
        resolved.append(LayerSpec("output", units=1, activation="sigmoid"))
    else:
        resolved.append(LayerSpec("output", units=10, activation="softmax"))
    return tuple(resolved)


def _collapse(config: RunConfig, rank: int) -> LayerSpec:
    if config.dataset == "sentiment" and rank == 2:
        return LayerSpec("global_avg_pool")
    return LayerSpec("flatten")


def _rank_after(spec: LayerSpec, rank: int) -> int:
    if spec.kind in ("flatten", "global_avg_pool"):
        return 1
    if spec.kind == "embedding":
        return 2
    if spec.kind in RECURRENT_GATES:
        return 2 if spec.return_sequences else 1
    return rank


def summarise(config: RunConfig) -> list[LayerSummary]:
    """Works out each resolved layer's output shape and parameter count.

    Raises:
        ValueError: a layer cannot take the shape it receives.
    """
    shape = input_shape(config.dataset)
    rows = []
    for spec in resolve_layers(config):
        shape, params = _apply(spec, shape)
        rows.append(LayerSummary(spec, shape, params))
    return rows


def count_params(config: RunConfig) -> int:
    """Returns the model's parameter count (trainable and not), as Keras counts it."""
    return sum(row.params for row in summarise(config))


def _apply(spec: LayerSpec, shape: tuple) -> tuple[tuple, int]:
    kind = spec.kind
    if kind == "to_image":
        return (*shape, 1), 0
    if kind == "to_sequence":
        return shape[:2], 0
    if kind in ("augment", "dropout"):
        return shape, 0
    if kind == "flatten":
        return (math.prod(shape),), 0
    if kind == "batchnorm":
        return shape, 4 * shape[-1]
    if kind == "global_avg_pool":
        return (shape[-1],), 0
    if kind in ("dense", "output"):
        return (spec.units,), shape[-1] * spec.units + spec.units
    if kind == "embedding":
        if len(shape) != 1:
            raise ConfigError("layers", "An Embedding layer must come first in a text model.")
        return (shape[0], spec.units), VOCAB_SIZE * spec.units
    if kind == "conv":
        return _conv(spec, shape)
    if kind == "maxpool":
        if len(shape) != 3:
            raise ConfigError("layers", "MaxPool needs an image input: put it after a Conv2D layer.")
        if shape[0] < 2 or shape[1] < 2:
            raise ConfigError(
                "layers",
                f"MaxPool gets a {shape[0]}x{shape[1]} input, too small to pool: "
                "use fewer conv blocks or padding 'same'.",
            )
        return (shape[0] // 2, shape[1] // 2, shape[2]), 0
    if kind in RECURRENT_GATES:
        return _recurrent(spec, shape)
    raise ConfigError("layers", f"Unknown layer kind '{kind}'; choose one of {', '.join(LAYER_KINDS)}.")


def _conv(spec: LayerSpec, shape: tuple) -> tuple[tuple, int]:
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


def _recurrent(spec: LayerSpec, shape: tuple) -> tuple[tuple, int]:
    name = {"simplernn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}[spec.kind]
    if len(shape) != 2:
        raise ConfigError(
            "layers",
            f"A {name} layer needs a sequence input: the layer before it must return "
            "sequences (return_sequences) and it cannot follow Flatten or Dense.",
        )
    steps, features = shape
    units = spec.units
    gates = RECURRENT_GATES[spec.kind]
    params = gates * (units * (features + units) + units)
    if spec.kind == "gru":
        params += gates * units  # Keras' GRU keeps a second bias (reset_after=True).
    directions = 2 if spec.bidirectional else 1
    out_units = units * directions
    out = (steps, out_units) if spec.return_sequences else (out_units,)
    return out, params * directions


def validate(config: RunConfig, train_size: int | None = None) -> int:
    """Checks a config and returns its parameter count.

    Args:
        config: the run to check.
        train_size: training items available; defaults to the full (online) dataset's
            size, so pass the loaded dataset's size where it is known.

    Returns:
        The model's parameter count.

    Raises:
        ValueError: with a sentence that says what to change.
    """
    if config.dataset not in DATASETS:
        raise ConfigError(
            "dataset", f"Unknown dataset '{config.dataset}'; choose one of {', '.join(DATASETS)}."
        )
    if config.family not in FAMILIES:
        raise ConfigError("family", f"Unknown family '{config.family}'; choose one of {', '.join(FAMILIES)}.")
    if config.dataset == "sentiment" and config.family not in TEXT_FAMILIES:
        raise ConfigError(
            "family", "Sentiment models are dense, SimpleRNN, LSTM or GRU: choose one of those."
        )
    if config.lr_schedule not in LR_SCHEDULES:
        raise ConfigError(
            "lr_schedule", f"Unknown schedule '{config.lr_schedule}'; choose constant or cosine."
        )
    if config.optimizer not in OPTIMIZERS:
        raise ConfigError(
            "optimizer", f"Unknown optimizer '{config.optimizer}'; choose one of {', '.join(OPTIMIZERS)}."
        )
    if not 1 <= config.epochs <= MAX_EPOCHS:
        raise ConfigError("epochs", f"Epochs must be between 1 and {MAX_EPOCHS}; got {config.epochs}.")
    if not config.learning_rate > 0:
        raise ConfigError(
            "learning_rate", f"Learning rate must be greater than 0; got {config.learning_rate}."
        )
    if config.learning_rate >= 1:
        raise ConfigError(
            "learning_rate", f"A learning rate of {config.learning_rate} diverges: use a value below 1."
        )
    if not 0 < config.validation_split < 0.5:
        raise ConfigError("validation_split", "Validation split must be between 0 and 0.5 (for example 0.1).")
    if not 0 <= config.seed < 2**32:
        raise ConfigError("seed", f"Seed must be a whole number from 0 to {2**32 - 1:,}; got {config.seed}.")
    if config.limit < 0:
        raise ConfigError("limit", "Limit must be 0 (all training items) or a positive number of items.")
    if config.time_limit_minutes <= 0:
        raise ConfigError("time_limit_minutes", "The time limit must be a positive number of minutes.")
    if config.max_words < 1:
        raise ConfigError(
            "max_words", f"A text model must read at least 1 word of a review; got {config.max_words}."
        )
    size = train_size if train_size is not None else TRAIN_SIZES[config.dataset]
    if config.limit:
        size = min(size, config.limit)
    fit_size = int(size * (1 - config.validation_split))
    if config.batch_size < 1:
        raise ConfigError("batch_size", f"Batch size must be at least 1; got {config.batch_size}.")
    if config.batch_size > fit_size:
        raise ConfigError(
            "batch_size",
            f"Batch size {config.batch_size} is larger than the {fit_size:,} training items: "
            "use a smaller batch size or more data.",
        )
    if not config.layers:
        raise ConfigError("layers", "The model has no layers: add at least one layer.")
    _validate_layers(config)
    params = count_params(config)
    if params > MAX_PARAMS:
        raise ConfigError(
            "layers",
            f"This model has {params:,} parameters, over the {MAX_PARAMS:,} that fit this "
            "machine's memory: use fewer or smaller layers (or a MaxPool before Flatten).",
        )
    return params


def _validate_layers(config: RunConfig) -> None:
    for index, spec in enumerate(config.layers, start=1):
        where = f"Layer {index} ({spec.kind})"
        if spec.kind not in LAYER_KINDS:
            raise ConfigError("layers", f"{where}: unknown kind; choose one of {', '.join(LAYER_KINDS)}.")
        if spec.activation and spec.activation not in ACTIVATIONS:
            raise ConfigError(
                "layers", f"{where}: unknown activation; choose one of {', '.join(ACTIVATIONS)}."
            )
        if spec.kind in ("dense", "embedding", *RECURRENT_GATES) and spec.units < 1:
            raise ConfigError("layers", f"{where}: units must be at least 1.")
        if spec.kind == "conv" and (spec.filters < 1 or spec.kernel_size < 1):
            raise ConfigError("layers", f"{where}: filters and kernel_size must be at least 1.")
        if spec.kind == "dropout" and not 0 <= spec.rate < 1:
            raise ConfigError("layers", f"{where}: dropout rate must be in [0, 1); got {spec.rate}.")
        if spec.kind == "conv" and config.dataset not in IMAGE_DATASETS:
            raise ConfigError("layers", f"{where}: Conv2D layers need image data, not text.")
        if spec.kind == "embedding" and config.dataset in IMAGE_DATASETS:
            raise ConfigError(
                "layers",
                f"{where}: Embedding layers are for text; choose an image model for {config.dataset}.",
            )
    if config.family in RECURRENT_FAMILIES and not any(
        spec.kind in RECURRENT_GATES for spec in config.layers
    ):
        raise ConfigError("layers", f"A {config.family} model needs at least one {config.family} layer.")
    text = config.dataset == "sentiment"
    if text and config.layers[0].kind != "embedding":
        raise ConfigError("layers", "A text model starts with an Embedding layer.")


def with_return_sequences(layers: list[LayerSpec]) -> list[LayerSpec]:
    """Sets return_sequences on every recurrent layer that feeds another one."""
    last_recurrent = max((i for i, spec in enumerate(layers) if spec.kind in RECURRENT_GATES), default=-1)
    return [
        replace(spec, return_sequences=True) if spec.kind in RECURRENT_GATES and i < last_recurrent else spec
        for i, spec in enumerate(layers)
    ]
