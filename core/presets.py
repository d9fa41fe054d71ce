"""Named presets (the published reference models and our best per family) and the
layer lists a user builds by choosing a family and its sizes.

The best presets have a 5-minute budget: their cosine schedule follows the larger of
the fraction of epochs done and of the budget spent, so it ends within the budget
whatever the data size (all their epochs on the offline 10,000 digits, fewer on the
full 60,000) instead of being stopped halfway through.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.architecture import with_return_sequences
from core.config import RECURRENT_FAMILIES, LayerSpec, RunConfig, dataset_facts


@dataclass(frozen=True)
class Preset:
    """A one-click model: its name, what it is and the run config it starts from."""

    name: str
    description: str
    config: RunConfig
    reference: str = ""  # The published accuracy this preset reproduces, if any.


def _dense(units: int, activation: str = "relu") -> LayerSpec:
    return LayerSpec("dense", units=units, activation=activation)


def _conv(filters: int, activation: str = "relu", kernel_size: int = 3) -> LayerSpec:
    return LayerSpec("conv", filters=filters, kernel_size=kernel_size, activation=activation)


def _dropout(rate: float) -> LayerSpec:
    return LayerSpec("dropout", rate=rate)


def _recurrent(kind: str, units: int, activation: str = "", sequences: bool = False) -> LayerSpec:
    return LayerSpec(kind, units=units, activation=activation, return_sequences=sequences)


POOL = LayerSpec("maxpool")
FLATTEN = LayerSpec("flatten")
NORM = LayerSpec("batchnorm")


def _preset(name, description, family, layers, reference="", **fields) -> Preset:
    config = RunConfig(family=family, layers=tuple(layers), preset=name, **fields)
    return Preset(name, description, config, reference)


def _best_recurrent(kind: str, label: str) -> Preset:
    return _preset(
        f"Best {label}",
        f"Two stacked {label}s of 128 (tanh) on augmented digits.",
        kind,
        [_recurrent(kind, 128, sequences=True), _recurrent(kind, 128), _dropout(0.2)],
        augment=True,
        lr_schedule="cosine",
        time_budget_seconds=300.0,
        batch_size=128,
        learning_rate=2e-3,
        epochs=25,
    )


PRESET_LIST = (
    _preset(
        "Quick CNN",
        "A small augmented CNN that trains in well under a minute: for live demos.",
        "cnn",
        [_conv(16), POOL, _conv(32), POOL, FLATTEN, _dense(64)],
        augment=True,
        batch_size=64,
        epochs=6,
        learning_rate=2e-3,
        lr_schedule="cosine",
    ),
    _preset(
        "DNN 128-128",
        "Two dense layers of 128: the classic first neural network.",
        "dense",
        [_dense(128), _dense(128)],
        reference="97.21 % (60k train)",
        batch_size=32,
    ),
    _preset(
        "MLP 512-512",
        "Two wide dense layers with dropout.",
        "dense",
        [_dense(512), _dropout(0.2), _dense(512), _dropout(0.2)],
        reference="98.4 % (60k train)",
        batch_size=128,
    ),
    _preset(
        "MLP 32",
        "The smallest useful network: one hidden layer of 32.",
        "dense",
        [_dense(32)],
        reference="95.0 % (60k train)",
        batch_size=32,
        epochs=20,
    ),
    _preset(
        "Small CNN",
        "One convolution without activation, pooling, one dense layer.",
        "cnn",
        [_conv(32, activation=""), POOL, FLATTEN, _dense(100)],
        reference="98.08 % (60k train)",
        batch_size=32,
    ),
    _preset(
        "CNN 2-conv",
        "Two convolution blocks and a dense layer of 128.",
        "cnn",
        [_conv(32), POOL, _conv(64), POOL, FLATTEN, _dense(128)],
        reference="curves only",
        batch_size=64,
    ),
    _preset(
        "CNN 3-conv",
        "Three convolutions, 93,322 parameters: the classic TensorFlow tutorial CNN.",
        "cnn",
        [_conv(32), POOL, _conv(64), POOL, _conv(64), FLATTEN, _dense(64)],
        reference="99.19 % (60k train)",
        batch_size=32,
        epochs=10,
    ),
    _preset(
        "LSTM 50",
        "One LSTM of 50 (relu) reading the 28 rows as 28 time steps.",
        "lstm",
        [_recurrent("lstm", 50, "relu")],
        reference="96.50 % (60k train)",
        batch_size=64,
    ),
    _preset(
        "Stacked LSTM",
        "Two LSTMs of 128 with relu and dropout (unstable by design: tanh is safer).",
        "lstm",
        [
            _recurrent("lstm", 128, "relu", sequences=True),
            _dropout(0.2),
            _recurrent("lstm", 128, "relu"),
            _dropout(0.2),
            _dense(32),
            _dropout(0.2),
        ],
        reference="98.54 % (60k train)",
        batch_size=32,
    ),
    _preset(
        "Best CNN",
        "Two double-convolution blocks with batch norm, dropout and augmentation.",
        "cnn",
        [
            _conv(32),
            NORM,
            _conv(32),
            NORM,
            POOL,
            _dropout(0.25),
            _conv(64),
            NORM,
            _conv(64),
            NORM,
            POOL,
            _dropout(0.25),
            FLATTEN,
            _dense(128),
            _dropout(0.3),
        ],
        augment=True,
        lr_schedule="cosine",
        time_budget_seconds=300.0,
        batch_size=128,
        learning_rate=2e-3,
        epochs=26,
        keep_best_epoch=False,  # Its schedule's end beats a pick on 1,000 validation digits.
    ),
    _preset(
        "Best dense",
        "Two dense layers of 1024 with dropout, trained long on augmented digits.",
        "dense",
        [_dense(1024), _dropout(0.3), _dense(1024), _dropout(0.3)],
        augment=True,
        lr_schedule="cosine",
        time_budget_seconds=300.0,
        batch_size=128,
        epochs=60,
    ),
    *(
        _best_recurrent(kind, label)
        for kind, label in (("lstm", "LSTM"), ("gru", "GRU"), ("simplernn", "SimpleRNN"))
    ),
    _preset(
        "SimpleRNN sentiment",
        "Embedding 128 and a SimpleRNN of 128 over the review's words.",
        "simplernn",
        [LayerSpec("embedding", units=128), _recurrent("simplernn", 128, "tanh")],
        reference="82.5 % (IMDB test)",
        dataset="sentiment",
        batch_size=64,
        max_words=500,
    ),
    _preset(
        "GRU sentiment",
        "Embedding, dropout and a bidirectional GRU over the review's words.",
        "gru",
        [
            LayerSpec("embedding", units=64),
            _dropout(0.4),
            LayerSpec("gru", units=32, bidirectional=True),
            _dropout(0.4),
        ],
        dataset="sentiment",
        batch_size=64,
        epochs=4,
    ),
    _preset(
        "Bag-of-words sentiment",
        "Averaged word embeddings and a small dense layer: fast and strong on short reviews.",
        "dense",
        [LayerSpec("embedding", units=32), _dropout(0.5), _dense(16), _dropout(0.5)],
        dataset="sentiment",
        learning_rate=2e-3,
        lr_schedule="cosine",
        batch_size=32,
        epochs=4,
    ),
)
PRESETS = {preset.name: preset for preset in PRESET_LIST}


def get_preset(name: str) -> Preset:
    """Returns the preset of that name.

    Raises:
        ValueError: no preset has that name (the message lists them).
    """
    if name not in PRESETS:
        raise ValueError(f"No preset named '{name}'. Presets: {', '.join(PRESETS)}.")
    return PRESETS[name]


def presets_for(dataset: str) -> list[Preset]:
    """Returns the presets that train on images or on text, as the dataset needs."""
    text = dataset_facts(dataset).is_text
    return [p for p in PRESET_LIST if p.config.is_text == text]


def family_layers(
    family: str,
    dataset: str = "mnist",
    units: tuple[int, ...] = (128,),
    filters: tuple[int, ...] = (32, 64),
    kernel_size: int = 3,
    activation: str = "relu",
    dropout_rate: float = 0.0,
    batch_norm: bool = False,
    embedding_dim: int = 64,
) -> tuple[LayerSpec, ...]:
    """Returns the layers of a model built from a family and its sizes.

    Args:
        family: dense, cnn, simplernn, lstm or gru.
        dataset: text datasets start with an Embedding layer.
        units: widths of the dense layers (dense, cnn head) or recurrent layers.
        filters: one conv block (Conv2D, optional BatchNorm, MaxPool) per entry (cnn).
        kernel_size: the conv kernel size (cnn).
        activation: activation of every hidden layer.
        dropout_rate: dropout after each dense or recurrent layer; 0 for none.
        batch_norm: add BatchNormalization after each hidden layer.
        embedding_dim: word vector size for text models.

    Returns:
        The layer list for `RunConfig.layers`.
    """
    layers: list[LayerSpec] = []
    if dataset_facts(dataset).is_text:
        layers.append(LayerSpec("embedding", units=embedding_dim))

    def block(spec: LayerSpec) -> None:
        layers.append(spec)
        if batch_norm:
            layers.append(NORM)
        if dropout_rate:
            layers.append(_dropout(dropout_rate))

    if family == "cnn":
        for count in filters:
            layers.append(LayerSpec("conv", filters=count, kernel_size=kernel_size, activation=activation))
            if batch_norm:
                layers.append(NORM)
            layers.append(POOL)
        layers.append(FLATTEN)
    if family in RECURRENT_FAMILIES:
        for width in units:
            block(_recurrent(family, width, activation))
        return tuple(with_return_sequences(layers))
    for width in units:
        block(_dense(width, activation))
    return tuple(layers)
