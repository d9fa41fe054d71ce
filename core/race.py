"""A race: several models, each trained for the same time budget in seconds.

The runs queue one after another, so each has the machine to itself for its budget
(two at once would share the cores). Each one's learning-rate schedule follows the
fraction of its budget spent, so every racer ends its schedule at the finish line.
"""

from __future__ import annotations

from core.config import MAX_EPOCHS, RunConfig
from core.layers import ConfigError
from core.presets import get_preset
from core.runs import QueueFull, check, max_queued, submit
from core.store import RunStore

RACE_PRESETS = ("Best dense", "Best CNN", "Best LSTM", "Best GRU")
DEFAULT_BUDGET_SECONDS = 60
MIN_BUDGET_SECONDS = 5
MAX_BUDGET_SECONDS = 3600
MAX_RACERS = 6


def race_config(preset_name: str, budget_seconds: float, dataset: str = "mnist", limit: int = 0) -> RunConfig:
    """Returns a preset's config for a race: its budget decides how long it trains
    (its epochs are the most a run may have, so they never end it first)."""
    config = get_preset(preset_name).config
    return config.with_changes(
        dataset=dataset,
        limit=limit,
        epochs=MAX_EPOCHS,
        time_budget_seconds=float(budget_seconds),
        time_limit_minutes=max(config.time_limit_minutes, budget_seconds / 60),
    )


def race_configs(
    preset_names: list[str], budget_seconds: float, dataset: str = "mnist", limit: int = 0
) -> list[RunConfig]:
    """Returns the checked configs of a race's runs, one per preset (duplicates once).

    Raises:
        ConfigError: no preset or too many (field "presets"), a budget out of range
            (field "time_budget_seconds"), or a preset that cannot train on the data.
    """
    names = list(dict.fromkeys(preset_names))
    if not names:
        raise ConfigError("presets", "Choose at least one model to race.")
    if len(names) > MAX_RACERS:
        raise ConfigError("presets", f"A race has at most {MAX_RACERS} models; {len(names)} are chosen.")
    if not MIN_BUDGET_SECONDS <= budget_seconds <= MAX_BUDGET_SECONDS:
        raise ConfigError(
            "time_budget_seconds",
            f"The budget is {MIN_BUDGET_SECONDS} to {MAX_BUDGET_SECONDS:,} seconds per model; "
            f"got {budget_seconds:g}.",
        )
    configs = [race_config(name, budget_seconds, dataset, limit) for name in names]
    for config in configs:
        check(config)
    return configs


def submit_race(
    store: RunStore,
    preset_names: list[str],
    budget_seconds: float,
    dataset: str = "mnist",
    limit: int = 0,
    start_worker: bool = True,
) -> list[int]:
    """Queues a race: one run per preset, each with the same budget in seconds.

    Args:
        store: the run store.
        preset_names: the models to race (presets).
        budget_seconds: each model's training time.
        dataset: the data they all train on.
        limit: train on the first N items (0: all).
        start_worker: as for `core.runs.submit`.

    Returns:
        The runs' ids, in the order they train.

    Raises:
        ConfigError: see `race_configs`; QueueFull when the queue has no room for all
            of them. Nothing is queued then.
    """
    configs = race_configs(preset_names, budget_seconds, dataset, limit)
    room = max_queued() - store.count_queued()
    if len(configs) > room:
        raise QueueFull(
            f"The queue has room for {max(room, 0)} more runs and this race needs {len(configs)}: "
            "wait for queued runs to train, or race fewer models."
        )
    names = [f"Race {budget_seconds:g} s: {config.preset}" for config in configs]
    return [submit(store, config, name, start_worker) for config, name in zip(configs, names, strict=True)]
