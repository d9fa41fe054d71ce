"""Run configuration: one frozen dataclass per run, and the choices it may take."""

from __future__ import annotations

import json
import typing
from dataclasses import asdict, dataclass, field, fields, replace
from functools import cache

FAMILIES = ("dense", "cnn", "simplernn", "lstm", "gru")
FAMILY_LABELS = {"dense": "Dense (MLP)", "cnn": "CNN", "simplernn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}
RECURRENT_FAMILIES = ("simplernn", "lstm", "gru")
IMAGE_SIZE = 28
IMAGE_SHAPE = (IMAGE_SIZE, IMAGE_SIZE)
VOCAB_SIZE = 10_000
ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "gelu")
OPTIMIZERS = {"adam": 1e-3, "rmsprop": 1e-3, "sgd": 1e-2, "adamw": 1e-3}
LR_SCHEDULES = ("constant", "cosine")
# Where a run starts: fresh weights, or its parent run's model ("continue": with its
# optimizer state; "fine_tune": on the user's own drawings mixed with replayed MNIST).
STARTS = ("", "continue", "fine_tune")
MAX_EPOCHS = 200
MAX_PARAMS = 20_000_000
MAX_LAYERS = 100  # Far past any model here; 2,000 layers overflowed Python's recursion in Keras.
DEFAULT_TIME_LIMIT_MINUTES = 30.0
MAX_TIME_LIMIT_MINUTES = 1440.0  # 24 hours.
DEFAULT_MAX_WORDS = 200


@dataclass(frozen=True)
class DatasetFacts:
    """What the engine and the pages need to know about a dataset before loading it.

    `title` names it in data descriptions ("MNIST, offline subset: ..."), `label` in
    menus; `item` is what one example is called ("digit", "image", "review").
    """

    name: str
    title: str
    label: str
    item: str
    is_text: bool
    families: tuple[str, ...]
    full_train_size: int

    @property
    def can_augment(self) -> bool:
        """Returns True when training items may be augmented: digits only (the
        augmentation imitates other pens and hands; clothes are no strokes, text no image)."""
        return self.name == "mnist"


DATASET_FACTS = {
    facts.name: facts
    for facts in (
        DatasetFacts("mnist", "MNIST", "MNIST digits", "digit", False, FAMILIES, 60_000),
        DatasetFacts("fashion_mnist", "Fashion-MNIST", "Fashion-MNIST", "image", False, FAMILIES, 60_000),
        DatasetFacts(
            "sentiment",
            "Movie-review sentiment",
            "Movie-review sentiment",
            "review",
            True,
            ("dense", *RECURRENT_FAMILIES),
            25_000,
        ),
    )
}
DATASETS = tuple(DATASET_FACTS)


def dataset_facts(name: str) -> DatasetFacts:
    """Returns the facts of a dataset by name.

    Raises:
        ValueError: unknown dataset (the message lists them).
    """
    if name not in DATASET_FACTS:
        raise ValueError(f"Unknown dataset '{name}'; choose one of {', '.join(DATASETS)}.")
    return DATASET_FACTS[name]


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

    `lr_schedule` "cosine" lowers the learning rate smoothly to zero by the end of the
    run: its last epoch or, with `time_budget_seconds`, whichever comes first of the
    last epoch and the end of the budget (the schedule follows the larger of the
    fraction of epochs done and the fraction of the budget spent, batch by batch).
    A run with a budget ends when the budget is spent. `limit` trains on the first N
    training items (0 = all). `augment` makes random changes of stroke width,
    rotation, stretch, shear and shift to training images, and adds digits drawn as on
    the canvas (`core.training.with_drawn_digits`). `keep_best_epoch` keeps the weights
    of the epoch with the best validation accuracy.
    `time_limit_minutes` stops a run that trains longer than that. Text models read
    the first `max_words` words of each review.
    `start_from` "continue" or "fine_tune" starts from the parent run's model (the
    run's `parent_run_id`); such a run numbers its epochs on from `initial_epoch`, the
    parent's last, and trains `epochs - initial_epoch` of them.
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
    time_budget_seconds: float = 0.0  # 0: no budget.
    start_from: str = ""
    initial_epoch: int = 0

    @property
    def is_text(self) -> bool:
        """Returns True when the run reads text (reviews), not images."""
        return dataset_facts(self.dataset).is_text

    def with_changes(self, **changes) -> RunConfig:
        """Returns a copy with the given fields replaced."""
        return replace(self, **changes)

    def to_json(self) -> str:
        """Returns the config as a JSON string (layers as a list of objects).

        Raises:
            ValueError: a float is NaN or infinite (standard JSON has no such value;
                `core.architecture.validate` refuses them first, naming the field).
        """
        return json.dumps(asdict(self), sort_keys=True, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        """Builds a config from `to_json` output, as any version of Digit Lab wrote it.

        Keys this version does not know are ignored and missing ones take their
        defaults, in the config and in each layer.

        Raises:
            ConfigUnreadable: the text is not a JSON object, holds NaN or infinity, or
                a value has the wrong type (the message names the field).
        """
        try:
            data = json.loads(text, parse_constant=_refuse_constant)
        except ConfigUnreadable:
            raise
        except (TypeError, ValueError, RecursionError) as error:
            raise ConfigUnreadable(f"The stored config is not valid JSON ({error}).") from error
        return _from_dict(cls, data, "config")


class ConfigUnreadable(ValueError):
    """A stored config cannot be read back (damaged, or of a wrong shape)."""


def _refuse_constant(name: str):
    raise ConfigUnreadable(f"The stored config holds {name}, which is not a number.")


@cache
def _field_types(cls) -> tuple[tuple[str, object], ...]:
    hints = typing.get_type_hints(cls)
    return tuple((spec.name, hints[spec.name]) for spec in fields(cls))


def _from_dict(cls, data, where: str):
    """Builds the dataclass `cls` from a JSON object, checking each value's type."""
    if not isinstance(data, dict):
        raise ConfigUnreadable(f"The stored {where} is a JSON {type(data).__name__}, not an object.")
    values = {
        name: _typed(hint, data[name], f"{where}.{name}") for name, hint in _field_types(cls) if name in data
    }
    try:
        return cls(**values)
    except TypeError as error:  # A field without a default is missing.
        raise ConfigUnreadable(f"The stored {where} lacks a required field ({error}).") from error


def _typed(hint, value, where: str):
    """Returns `value` as the type `hint` wants, or raises ConfigUnreadable."""
    if hint is bool and isinstance(value, bool):
        return value
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if hint is float and number and abs(value) <= _LARGEST_FLOAT:  # False for NaN and infinity.
        return float(value)
    if hint is str and isinstance(value, str):
        return value
    if typing.get_origin(hint) is tuple and isinstance(value, list):
        return tuple(_from_dict(LayerSpec, item, f"{where}[{i}]") for i, item in enumerate(value))
    wanted = _TYPE_NAMES.get(hint, "a list of layers")
    raise ConfigUnreadable(f"The stored {where} should be {wanted}; it is {value!r:.40}.")


_LARGEST_FLOAT = 1.7976931348623157e308
_TYPE_NAMES = {bool: "true or false", int: "a whole number", float: "a finite number", str: "text"}
