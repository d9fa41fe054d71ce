"""Checks a run's layer list and works out shapes and parameter counts without Keras.

The Train page shows the parameter count and a summary before a run starts; doing
it here in plain Python keeps TensorFlow out of the web server. `core.models`
builds the Keras model from the same resolved layer list, and a test checks that
both agree on every preset.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields, replace

from core.config import (
    ACTIVATIONS,
    DATASETS,
    FAMILIES,
    FAMILY_LABELS,
    IMAGE_SHAPE,
    LR_SCHEDULES,
    MAX_EPOCHS,
    MAX_LAYERS,
    MAX_PARAMS,
    MAX_TIME_LIMIT_MINUTES,
    OPTIMIZERS,
    RECURRENT_FAMILIES,
    STARTS,
    LayerSpec,
    RunConfig,
    dataset_facts,
)
from core.layers import LAYER_KINDS, RECURRENT_KINDS, ConfigError, describe_layer, layer_kind

__all__ = [
    "ConfigError",
    "LayerSummary",
    "count_params",
    "estimate_training_bytes",
    "resolve_layers",
    "summarise",
    "validate",
]


@dataclass(frozen=True)
class LayerSummary:
    """One resolved layer: what it is, the shape it outputs and its parameters."""

    spec: LayerSpec
    output_shape: tuple
    params: int

    @property
    def label(self) -> str:
        """Returns a short human description such as 'Conv2D 32 3x3 relu'."""
        return describe_layer(self.spec)


def input_shape(dataset: str) -> tuple:
    """Returns the model input shape for a dataset (text has any length)."""
    return (None,) if dataset_facts(dataset).is_text else IMAGE_SHAPE


def resolve_layers(config: RunConfig) -> tuple[LayerSpec, ...]:
    """Returns the full layer list: input adapters, augmentation, body and output.

    Adds what a user should not have to write: the reshape an image model needs,
    Flatten (or pooling over time for text) before the first Dense layer, and the
    output layer.
    """
    resolved: list[LayerSpec] = []
    image = not config.is_text
    augment = config.augment and dataset_facts(config.dataset).can_augment
    if image and (config.family == "cnn" or augment):
        resolved.append(LayerSpec("to_image"))
    if augment:
        resolved.append(LayerSpec("augment"))
    if augment and config.family != "cnn":
        resolved.append(LayerSpec("to_sequence"))
    rank = 3 if image and config.family == "cnn" else 2
    for spec in config.layers:
        if spec.kind == "dense" and rank > 1:
            resolved.append(_collapse(config, rank))
            rank = 1
        resolved.append(spec)
        rank = layer_kind(spec.kind).rank_after(spec, rank)
    if rank > 1:
        resolved.append(_collapse(config, rank))
    if config.is_text:
        resolved.append(LayerSpec("output", units=1, activation="sigmoid"))
    else:
        resolved.append(LayerSpec("output", units=10, activation="softmax"))
    return tuple(resolved)


def _collapse(config: RunConfig, rank: int) -> LayerSpec:
    if config.is_text and rank == 2:
        return LayerSpec("global_avg_pool")
    return LayerSpec("flatten")


def summarise(config: RunConfig) -> list[LayerSummary]:
    """Works out each resolved layer's output shape and parameter count.

    Raises:
        ValueError: a layer cannot take the shape it receives.
    """
    shape = input_shape(config.dataset)
    rows = []
    for spec in resolve_layers(config):
        shape, params = layer_kind(spec.kind).output(spec, shape)
        rows.append(LayerSummary(spec, shape, params))
    return rows


def count_params(config: RunConfig) -> int:
    """Returns the model's parameter count (trainable and not), as Keras counts it."""
    return sum(row.params for row in summarise(config))


def _memory_budget_bytes() -> int:
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 8 * 2**30
    return min(8 * 2**30, physical // 2)


# The most memory one training run may plan to use: 8 GiB, or half of a smaller machine.
MEMORY_BUDGET_BYTES = _memory_budget_bytes()
BYTES_PER_FLOAT = 4
# Weights, their gradients and Adam's two moments.
COPIES_OF_PARAMS_IN_TRAINING = 4


def _floats_kept_per_item(row: LayerSummary, input_shape: tuple, steps_if_unknown: int) -> int:
    """Returns the floats one training item keeps in memory for the backward pass at
    this layer: its output, the pre-activation values or mask beside it, and a
    recurrent layer's per-step states."""
    kind = layer_kind(row.spec.kind)
    size = math.prod(steps_if_unknown if dim is None else dim for dim in row.output_shape)
    if kind.role == "reshape":
        return 0  # A view of the layer before.
    if kind.is_recurrent:
        steps = input_shape[0] if input_shape[0] is not None else steps_if_unknown
        directions = 2 if row.spec.bidirectional else 1
        # Each gate before and after its activation, and the cell and hidden states.
        return size + steps * row.spec.units * (2 * kind.gates + 3) * directions
    if kind.role in ("dense", "convolution", "output") and (row.spec.activation or kind.role == "output"):
        return 2 * size
    if kind.role == "regularisation":
        return 2 * size
    return size


def estimate_training_bytes(config: RunConfig) -> int:
    """Estimates the memory that training the config takes, from the layer table.

    Every layer's activations (times the batch size, 4 bytes each) are kept for the
    backward pass, recurrent layers keep their states at every step, and the
    parameters are held four times (weights, gradients, two Adam moments). The
    estimate errs high: a convolution of 64 filters at batch 1024 measured 0.41 GB
    of peak memory growth against 0.54 GB estimated.

    Raises:
        ValueError: a layer cannot take the shape it receives.
    """
    rows = summarise(config)
    shape = input_shape(config.dataset)
    steps = config.max_words
    largest = per_item = math.prod(steps if dim is None else dim for dim in shape)
    for row in rows:
        per_item += _floats_kept_per_item(row, shape, steps)
        largest = max(largest, math.prod(steps if dim is None else dim for dim in row.output_shape))
        shape = row.output_shape
    params = sum(row.params for row in rows)
    # The backward pass holds one more gradient as large as the largest activation.
    activations = (per_item + largest) * config.batch_size * BYTES_PER_FLOAT
    return activations + params * BYTES_PER_FLOAT * COPIES_OF_PARAMS_IN_TRAINING


def _check_memory(config: RunConfig) -> None:
    needed = estimate_training_bytes(config)
    if needed <= MEMORY_BUDGET_BYTES:
        return
    per_batch_item = (needed - estimate_training_bytes(config.with_changes(batch_size=0))) / config.batch_size
    fixed = needed - per_batch_item * config.batch_size
    fitting_batch = int((MEMORY_BUDGET_BYTES - fixed) // per_batch_item) if per_batch_item else 0
    figures = (
        f"Training this model needs about {needed / 2**30:,.1f} GB of memory at batch size "
        f"{config.batch_size:,}, over the {MEMORY_BUDGET_BYTES / 2**30:,.1f} GB a run may use here"
    )
    if fitting_batch >= 1:
        raise ConfigError(
            "batch_size",
            f"{figures}: use a batch size of at most {fitting_batch:,}, or fewer filters or units, "
            "or a MaxPool earlier.",
        )
    raise ConfigError(
        "layers", f"{figures} even at batch size 1: use fewer filters or units, or a MaxPool earlier."
    )


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
    _validate_finite(config)
    if config.dataset not in DATASETS:
        raise ConfigError(
            "dataset", f"Unknown dataset '{config.dataset}'; choose one of {', '.join(DATASETS)}."
        )
    if config.family not in FAMILIES:
        raise ConfigError("family", f"Unknown family '{config.family}'; choose one of {', '.join(FAMILIES)}.")
    facts = dataset_facts(config.dataset)
    if config.family not in facts.families:
        allowed = " or ".join(FAMILY_LABELS[family] for family in facts.families)
        raise ConfigError("family", f"{facts.label} models are {allowed}: choose one of those.")
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
    if config.time_limit_minutes > MAX_TIME_LIMIT_MINUTES:
        raise ConfigError(
            "time_limit_minutes",
            f"The time limit is at most 24 hours ({MAX_TIME_LIMIT_MINUTES:g} minutes); "
            f"got {config.time_limit_minutes:g} minutes.",
        )
    _validate_budget_and_start(config)
    if config.max_words < 1:
        raise ConfigError(
            "max_words", f"A text model must read at least 1 word of a review; got {config.max_words}."
        )
    size = train_size if train_size is not None else facts.full_train_size
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
    if len(config.layers) > MAX_LAYERS:
        raise ConfigError(
            "layers",
            f"The model has {len(config.layers):,} layers, over the {MAX_LAYERS} allowed: use fewer.",
        )
    _validate_layers(config)
    params = count_params(config)
    if params > MAX_PARAMS:
        raise ConfigError(
            "layers",
            f"This model has {params:,} parameters, over the {MAX_PARAMS:,} that fit this "
            "machine's memory: use fewer or smaller layers (or a MaxPool before Flatten).",
        )
    _check_memory(config)
    return params


def _validate_budget_and_start(config: RunConfig) -> None:
    """Checks the time budget (none, or a positive number of seconds within the time
    limit) and where the run starts (fresh, or on from its parent's epochs)."""
    budget = config.time_budget_seconds
    if budget < 0 or 0 < budget < 1:
        raise ConfigError(
            "time_budget_seconds", f"The time budget is 0 (none) or at least 1 second; got {budget:g}."
        )
    if budget > config.time_limit_minutes * 60:
        raise ConfigError(
            "time_budget_seconds",
            f"A budget of {budget:g} seconds is longer than the run's time limit of "
            f"{config.time_limit_minutes:g} minutes: raise the time limit or shorten the budget.",
        )
    if config.start_from not in STARTS:
        raise ConfigError("start_from", f"Unknown start '{config.start_from}'; choose one of {STARTS}.")
    if config.start_from and not 0 <= config.initial_epoch < config.epochs:
        raise ConfigError(
            "epochs",
            f"A continued run trains on from epoch {config.initial_epoch}: its epochs must be more than "
            f"that and at most {MAX_EPOCHS}; got {config.epochs}.",
        )
    if not config.start_from and config.initial_epoch:
        raise ConfigError("initial_epoch", "Only a continued or fine-tuned run starts after epoch 0.")


def _validate_finite(config: RunConfig) -> None:
    """Refuses NaN and infinity in any float of the config or its layers (JSON cannot
    store them, and no setting means anything with them)."""
    owners = [(config, "")]
    owners += [(spec, f"Layer {i} ({spec.kind}): ") for i, spec in enumerate(config.layers, start=1)]
    for owner, where in owners:
        for owner_field in fields(owner):
            value = getattr(owner, owner_field.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(
                    "layers" if where else owner_field.name,
                    f"{where}{owner_field.name} must be a finite number; got {value}.",
                )


def _validate_layers(config: RunConfig) -> None:
    for index, spec in enumerate(config.layers, start=1):
        where = f"Layer {index} ({spec.kind})"
        if spec.kind not in LAYER_KINDS:
            raise ConfigError("layers", f"{where}: unknown kind; choose one of {', '.join(LAYER_KINDS)}.")
        if spec.activation and spec.activation not in ACTIVATIONS:
            raise ConfigError(
                "layers", f"{where}: unknown activation; choose one of {', '.join(ACTIVATIONS)}."
            )
        if spec.kind in ("dense", "embedding", *RECURRENT_KINDS) and spec.units < 1:
            raise ConfigError("layers", f"{where}: units must be at least 1.")
        if spec.kind == "conv" and (spec.filters < 1 or spec.kernel_size < 1):
            raise ConfigError("layers", f"{where}: filters and kernel_size must be at least 1.")
        if spec.kind == "dropout" and not 0 <= spec.rate < 1:
            raise ConfigError("layers", f"{where}: dropout rate must be in [0, 1); got {spec.rate}.")
        if spec.kind == "conv" and config.is_text:
            raise ConfigError("layers", f"{where}: Conv2D layers need image data, not text.")
        if spec.kind == "embedding" and not config.is_text:
            raise ConfigError(
                "layers",
                f"{where}: Embedding layers are for text; choose an image model for {config.dataset}.",
            )
    if config.family in RECURRENT_FAMILIES and not any(
        spec.kind in RECURRENT_KINDS for spec in config.layers
    ):
        raise ConfigError("layers", f"A {config.family} model needs at least one {config.family} layer.")
    if config.is_text and config.layers[0].kind != "embedding":
        raise ConfigError("layers", "A text model starts with an Embedding layer.")


def with_return_sequences(layers: list[LayerSpec]) -> list[LayerSpec]:
    """Sets return_sequences on every recurrent layer that feeds another one."""
    last_recurrent = max((i for i, spec in enumerate(layers) if spec.kind in RECURRENT_KINDS), default=-1)
    return [
        replace(spec, return_sequences=True) if spec.kind in RECURRENT_KINDS and i < last_recurrent else spec
        for i, spec in enumerate(layers)
    ]
