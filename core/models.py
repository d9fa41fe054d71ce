"""Builds the Keras model of a run from its resolved layer list."""

from __future__ import annotations

from core.architecture import input_shape, resolve_layers
from core.config import RunConfig
from core.layers import layer_kind


def build_model(config: RunConfig):
    """Returns a compiled `keras.Sequential` for the config.

    Its optimizer starts at the config's learning rate; a schedule is followed by
    `core.budget.BudgetSchedule`, which sets the rate before every batch.

    Args:
        config: the run's config.

    Raises:
        ValueError: the config is invalid (see `core.architecture.validate`).
    """
    import keras

    keras.utils.set_random_seed(config.seed)
    model = keras.Sequential(
        [keras.Input(shape=input_shape(config.dataset), dtype="int32" if config.is_text else "float32")]
        + [layer_kind(spec.kind).build(spec, config.seed) for spec in resolve_layers(config)],
        name=(config.preset or config.family).lower().replace(" ", "_").replace("-", "_"),
    )
    model.compile(optimizer=make_optimizer(config), loss=loss_name(config), metrics=["accuracy"])
    return model


def make_optimizer(config: RunConfig):
    """Returns a new optimizer of the config's kind at its learning rate."""
    import keras

    return keras.optimizers.get(
        {"class_name": config.optimizer, "config": {"learning_rate": float(config.learning_rate)}}
    )


def loss_name(config: RunConfig) -> str:
    """Returns the loss a run trains with: binary for sentiment, sparse categorical for images."""
    return "binary_crossentropy" if config.is_text else "sparse_categorical_crossentropy"
