"""Builds the Keras model of a run from its resolved layer list."""

from __future__ import annotations

from core.architecture import input_shape, resolve_layers
from core.config import RunConfig
from core.layers import layer_kind


def build_model(config: RunConfig, steps_per_epoch: int = 1):
    """Returns a compiled `keras.Sequential` for the config.

    Args:
        config: the run's config.
        steps_per_epoch: batches per epoch, which a cosine schedule needs.

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
    learning_rate = config.learning_rate
    if config.lr_schedule == "cosine":
        learning_rate = keras.optimizers.schedules.CosineDecay(
            config.learning_rate, decay_steps=max(1, config.epochs * steps_per_epoch)
        )
    optimizer = keras.optimizers.get(
        {"class_name": config.optimizer, "config": {"learning_rate": learning_rate}}
    )
    loss = "binary_crossentropy" if config.is_text else "sparse_categorical_crossentropy"
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    return model
