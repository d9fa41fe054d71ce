"""Builds the Keras model of a run from its resolved layer list."""

from __future__ import annotations

from core.architecture import input_shape, resolve_layers
from core.config import LayerSpec, RunConfig

RECURRENT_CLASSES = {"simplernn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}


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
    text = config.dataset == "sentiment"
    model = keras.Sequential(
        [keras.Input(shape=input_shape(config.dataset), dtype="int32" if text else "float32")]
        + [_layer(spec, config.seed) for spec in resolve_layers(config)],
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
    loss = "binary_crossentropy" if text else "sparse_categorical_crossentropy"
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    return model


def _layer(spec: LayerSpec, seed: int):
    from keras import layers

    activation = spec.activation or None
    kind = spec.kind
    if kind == "to_image":
        return layers.Reshape((28, 28, 1))
    if kind == "to_sequence":
        return layers.Reshape((28, 28))
    if kind == "augment":
        from core.augment import augmentation

        return augmentation(seed)
    if kind in ("dense", "output"):
        return layers.Dense(spec.units, activation=activation)
    if kind == "conv":
        return layers.Conv2D(spec.filters, spec.kernel_size, activation=activation, padding=spec.padding)
    if kind == "maxpool":
        return layers.MaxPooling2D(2)
    if kind == "dropout":
        return layers.Dropout(spec.rate, seed=seed)
    if kind == "batchnorm":
        return layers.BatchNormalization()
    if kind == "flatten":
        return layers.Flatten()
    if kind == "global_avg_pool":
        return layers.GlobalAveragePooling1D()
    if kind == "embedding":
        from core.architecture import VOCAB_SIZE

        return layers.Embedding(VOCAB_SIZE, spec.units, mask_zero=True)
    recurrent_class = getattr(layers, RECURRENT_CLASSES[kind])
    recurrent = recurrent_class(
        spec.units,
        activation=activation or "tanh",
        return_sequences=spec.return_sequences,
        seed=seed,
    )
    return layers.Bidirectional(recurrent) if spec.bidirectional else recurrent
