"""Run configuration: one frozen dataclass per run, and the choices it may take."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace

DATASETS = ("mnist", "fashion_mnist", "sentiment")
IMAGE_DATASETS = ("mnist", "fashion_mnist")
FAMILIES = ("dense", "cnn", "simplernn", "lstm", "gru")
RECURRENT_FAMILIES = ("simplernn", "lstm", "gru")
TEXT_FAMILIES = ("dense", "simplernn", "lstm", "gru")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "gelu")
OPTIMIZERS = {"adam": 1e-3, "rmsprop": 1e-3, "sgd": 1e-2, "adamw": 1e-3}
LR_SCHEDULES = ("constant", "cosine")
LAYER_KINDS = (
    "dense",
    "conv",
    "maxpool",
    "dropout",
    "batchnorm",
    "flatten",
    "embedding",
    "global_avg_pool",
    "simplernn",
    "lstm",
    "gru",
)

MAX_EPOCHS = 200
MAX_PARAMS = 20_000_000
DEFAULT_TIME_LIMIT_MINUTES = 30.0
DEFAULT_MAX_WORDS = 200


@dataclass(frozen=True)
class LayerSpec:
    """One layer of a model, named as Keras names its arguments.

    `units` is the width of dense, recurrent and embedding layers; `filters` and
    `kernel_size` belong to convolutions; `rate` to dropout. An empty `activation`
    means the layer's own default (none for Conv2D and Dense, tanh for recurrent).
    """

    kind: str
    units: int = 0
    filters: int = 0
    kernel_size: int = 3
    activation: str = ""
    rate: float = 0.0
    return_sequences: bool = False
    bidirectional: bool = False
    padding: str = "valid"


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides a training run: data, architecture and fitting.

    `lr_schedule` "cosine" lowers the learning rate smoothly to zero by the last
    epoch. `limit` trains on the first N training items (0 = all). `augment` makes
    random changes of stroke width, rotation, stretch, shear and shift to training
    images. `keep_best_epoch` keeps the weights of the epoch with the best validation
    accuracy.
    `time_limit_minutes` stops a run that trains longer than that. Text models read
    the first `max_words` words of each review.
    """

    dataset: str = "mnist"
    family: str = "cnn"
    layers: tuple[LayerSpec, ...] = field(default_factory=tuple)
    preset: str = ""
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"
    batch_size: int = 128
    epochs: int = 5
    validation_split: float = 0.1
    seed: int = 0
    augment: bool = False
    keep_best_epoch: bool = True
    limit: int = 0
    time_limit_minutes: float = DEFAULT_TIME_LIMIT_MINUTES
    max_words: int = DEFAULT_MAX_WORDS

    def with_changes(self, **changes) -> RunConfig:
        """Returns a copy with the given fields replaced."""
        return replace(self, **changes)

    def to_json(self) -> str:
        """Returns the config as a JSON string (layers as a list of objects)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        """Builds a config from `to_json` output."""
        data = json.loads(text)
        data["layers"] = tuple(LayerSpec(**layer) for layer in data.get("layers", ()))
        return cls(**data)
