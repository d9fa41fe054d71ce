"""A sweep's specification: a base run, one to three hyperparameters to vary, a budget,
a search and pruning; checked field by field, and turned into each trial's config.

No Optuna here: `core/sweeps.py` drives the search. A spec is checked before anything
is queued, so a bad one is refused with a message for each field it concerns.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field, replace

from core.config import MAX_EPOCHS, RECURRENT_FAMILIES, RunConfig, dataset_facts
from core.layers import ConfigError

MAX_PARAMETERS = 3
MAX_TRIALS = 200
MAX_MINUTES = 1440.0
GRID_POINTS = 4  # A range on a grid is tried at this many evenly spaced points.
SEARCHES = {"grid": "Grid", "random": "Random", "tpe": "Model-based (TPE)"}
WIDTH_KINDS = ("dense", *RECURRENT_FAMILIES)


@dataclass(frozen=True)
class ParameterKind:
    """How one hyperparameter is swept: over a range (`log`: on a log scale; `whole`:
    whole numbers) or over a list of choices, and the limits a value must keep."""

    label: str
    is_range: bool
    lowest: float
    highest: float
    log: bool = False
    whole: bool = False


PARAMETER_KINDS = {
    "learning_rate": ParameterKind("Learning rate", True, 1e-6, 1.0, log=True),
    "batch_size": ParameterKind("Batch size", False, 1, 4096, whole=True),
    "dropout_rate": ParameterKind("Dropout", True, 0.0, 0.9),
    "units": ParameterKind("Layer width (every dense or recurrent layer)", False, 1, 4096, whole=True),
    "epochs": ParameterKind("Epochs", True, 1, MAX_EPOCHS, whole=True),
    "augment": ParameterKind("Augment images", False, 0, 1),
}


@dataclass(frozen=True)
class SweepParameter:
    """One hyperparameter of a sweep: a range [low, high] or a list of choices."""

    name: str
    low: float = 0.0
    high: float = 0.0
    choices: tuple = ()


@dataclass(frozen=True)
class SweepSpec:
    """Everything that decides a sweep.

    `trials` is the most trials it runs; `minutes` (0 for none) stops asking for new
    trials once that much time has passed since the sweep started. `search` is grid,
    random or tpe (model-based); `pruning` stops a trial after an epoch whose
    validation accuracy is below the median of earlier trials at that epoch.
    """

    base: RunConfig
    parameters: tuple[SweepParameter, ...] = field(default_factory=tuple)
    trials: int = 16
    minutes: float = 0.0
    search: str = "tpe"
    pruning: bool = True
    name: str = ""
    seed: int = 0

    def label(self) -> str:
        """Returns the sweep's name, or one made of its model and parameters."""
        names = ", ".join(PARAMETER_KINDS[p.name].label.split(" (")[0].lower() for p in self.parameters)
        return self.name.strip() or f"Sweep of {self.base.preset or self.base.family}: {names}"

    def to_json(self) -> str:
        """Returns the spec as JSON (the base config as `RunConfig.to_json` writes it)."""
        data = {
            "base": json.loads(self.base.to_json()),
            "parameters": [
                {"name": p.name, "low": p.low, "high": p.high, "choices": list(p.choices)}
                for p in self.parameters
            ],
            **{
                name: getattr(self, name)
                for name in ("trials", "minutes", "search", "pruning", "name", "seed")
            },
        }
        return json.dumps(data, sort_keys=True, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> SweepSpec:
        """Builds a spec from `to_json` output.

        Raises:
            ValueError: the text is not a spec (ConfigUnreadable for its base config).
        """
        data = json.loads(text)
        parameters = tuple(
            SweepParameter(p["name"], float(p["low"]), float(p["high"]), tuple(p["choices"]))
            for p in data["parameters"]
        )
        base = RunConfig.from_json(json.dumps(data["base"]))
        settings = {name: data[name] for name in ("trials", "minutes", "search", "pruning", "name", "seed")}
        return cls(base=base, parameters=parameters, **settings)


class SweepInvalid(ValueError):
    """A sweep spec that must change; `errors` maps each field (a parameter's name,
    "parameters", "trials", "minutes", "search", "base") to what to do."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(" ".join(errors.values()))
        self.errors = errors


def _finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_parameter(parameter: SweepParameter, base: RunConfig) -> str:
    """Returns what is wrong with one swept hyperparameter, or ""."""
    kind = PARAMETER_KINDS[parameter.name]
    if parameter.name == "dropout_rate" and not any(spec.kind == "dropout" for spec in base.layers):
        return "This model has no dropout layer: choose one with dropout (e.g. MLP 512-512) or sweep another."
    if parameter.name == "units" and not any(spec.kind in WIDTH_KINDS for spec in base.layers):
        return "This model has no dense or recurrent layer whose width could change."
    if parameter.name == "augment" and not dataset_facts(base.dataset).can_augment:
        return "Augmentation draws digits as other pens and hands would: it is for MNIST digits only."
    limits = f"between {kind.lowest:g} and {kind.highest:g}"
    if kind.is_range:
        low, high = parameter.low, parameter.high
        if not (_finite(low) and _finite(high)):
            return "Both bounds must be numbers."
        if low > high:
            return f"The lower bound ({low:g}) is above the upper bound ({high:g}): swap them."
        if low == high:
            return f"The range {low:g} to {high:g} is empty: make the upper bound larger than the lower."
        if low < kind.lowest or high > kind.highest or (kind.log and low <= 0):
            return f"{kind.label} must stay {limits}."
        if kind.whole and (low != int(low) or high != int(high)):
            return f"{kind.label} bounds must be whole numbers."
        return ""
    if not parameter.choices:
        return "Choose at least one value."
    if parameter.name == "augment":
        return "" if set(parameter.choices) <= {True, False} else "Augment is on or off."
    if not all(_finite(value) and value == int(value) for value in parameter.choices):
        return f"{kind.label} values must be whole numbers."
    if not all(kind.lowest <= value <= kind.highest for value in parameter.choices):
        return f"{kind.label} values must be {limits}."
    return ""


def grid_values(parameter: SweepParameter) -> list:
    """Returns the values a grid search tries: the choices, or GRID_POINTS points
    spread over the range (geometrically on a log scale)."""
    kind = PARAMETER_KINDS[parameter.name]
    if not kind.is_range:
        return list(dict.fromkeys(parameter.choices))
    low, high = parameter.low, parameter.high
    steps = [i / (GRID_POINTS - 1) for i in range(GRID_POINTS)]
    if kind.log:
        points = [low * (high / low) ** step for step in steps]
    else:
        points = [low + (high - low) * step for step in steps]
    if kind.whole:
        return list(dict.fromkeys(int(round(point)) for point in points))
    return [float(f"{point:.4g}") for point in points]


def planned_trials(spec: SweepSpec) -> int:
    """Returns how many trials the sweep runs at most: its budget, and for a grid
    never more than the grid has points."""
    if spec.search != "grid":
        return spec.trials
    size = math.prod(len(grid_values(p)) for p in spec.parameters)
    return min(spec.trials, size)


def trial_config(base: RunConfig, values: dict) -> RunConfig:
    """Returns the base config with a trial's values: `dropout_rate` sets every dropout
    layer's rate, `units` every dense and recurrent layer's width; the rest are fields."""
    changes = {name: values[name] for name in ("learning_rate", "batch_size", "epochs") if name in values}
    if "augment" in values:
        changes["augment"] = bool(values["augment"])
    layers = base.layers
    if "dropout_rate" in values:
        rate = float(values["dropout_rate"])
        layers = tuple(replace(s, rate=rate) if s.kind == "dropout" else s for s in layers)
    if "units" in values:
        units = int(values["units"])
        layers = tuple(replace(s, units=units) if s.kind in WIDTH_KINDS else s for s in layers)
    return base.with_changes(layers=layers, **changes)


def _corners(spec: SweepSpec) -> list[dict]:
    """Returns each combination of the parameters' extreme values (at most 8)."""
    ends = []
    for parameter in spec.parameters:
        values = grid_values(parameter)
        ends.append([(parameter.name, values[0]), (parameter.name, values[-1])])
    return [dict(combination) for combination in itertools.product(*ends)]


def check_spec(spec: SweepSpec, check_config) -> dict[str, str]:
    """Returns a message for each field of the spec that must change ({} when none).

    Args:
        spec: the sweep.
        check_config: checks one run config against its data (`core.runs.check`),
            raising ConfigError; it is asked about the base and about the extreme
            values of the parameters.
    """
    errors: dict[str, str] = {}
    names = [p.name for p in spec.parameters]
    if not names:
        errors["parameters"] = "Choose one to three hyperparameters to sweep."
    elif len(names) > MAX_PARAMETERS:
        errors["parameters"] = (
            f"Choose at most {MAX_PARAMETERS} hyperparameters: each one more multiplies the trials."
        )
    elif len(set(names)) != len(names) or not set(names) <= set(PARAMETER_KINDS):
        errors["parameters"] = f"Choose each of {', '.join(PARAMETER_KINDS)} at most once."
    if not isinstance(spec.trials, int) or not 1 <= spec.trials <= MAX_TRIALS:
        errors["trials"] = f"A sweep runs 1 to {MAX_TRIALS} trials; {spec.trials!r:.20} is out of range."
    if not _finite(spec.minutes) or not 0 <= spec.minutes <= MAX_MINUTES:
        errors["minutes"] = f"The time budget is 0 (none) to {MAX_MINUTES:g} minutes."
    if spec.search not in SEARCHES:
        errors["search"] = f"Choose a search: {', '.join(SEARCHES)}."
    if "parameters" in errors:
        return errors
    for parameter in spec.parameters:
        message = _check_parameter(parameter, spec.base)
        if message:
            errors[parameter.name] = message
    if errors:
        return errors
    for values in [{}, *_corners(spec)]:
        try:
            check_config(trial_config(spec.base, values))
        except ConfigError as error:
            place = error.field if error.field in names else "base"
            shown = ", ".join(f"{name} {value:g}" for name, value in values.items())
            errors[place] = f"{error} (with {shown})" if shown else str(error)
            break
    return errors
