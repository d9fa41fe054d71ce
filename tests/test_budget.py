"""Time budgets in seconds: the learning-rate schedule follows the fraction of the
budget spent, so a run cut by its budget has finished its schedule; and a race."""

import os

import pytest

from core.architecture import ConfigError, validate
from core.config import RunConfig
from core.presets import PRESET_LIST, get_preset
from core.race import race_configs, submit_race
from core.training import execute_run


class FakeClock:
    """A clock the test advances: one batch takes `step` seconds."""

    def __init__(self, step: float):
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        return self.now


def schedule_run(config: RunConfig, batches: int, seconds_per_batch: float, validation_seconds: float):
    """Drives a BudgetSchedule through as many batches as Keras would, on a fake clock
    (each epoch starts in a tenth of a batch and ends with its validation pass); returns
    the callback, the learning rate of every batch, and the seconds training took."""
    import keras

    from core.budget import BudgetSchedule
    from core.models import build_model

    model = build_model(config)
    clock = FakeClock(seconds_per_batch)
    schedule = BudgetSchedule(config, batches, clock=clock)
    schedule.set_model(model)
    rates = []
    schedule.on_train_begin()
    for epoch in range(config.initial_epoch, config.epochs):
        schedule.on_epoch_begin(epoch)
        clock.now += 0.1 * seconds_per_batch
        for batch in range(batches):
            schedule.on_train_batch_begin(batch)
            rates.append(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))
            clock.now += clock.step
            schedule.on_train_batch_end(batch)
            if model.stop_training:
                break
        clock.now += validation_seconds  # Keras validates after the last batch, even a stopped one.
        schedule.on_epoch_end(epoch)
        if model.stop_training:
            break
    return schedule, rates, clock.now


@pytest.mark.parametrize(
    "batches, seconds_per_batch, validation_seconds", [(422, 0.75, 6.0), (70, 0.1, 0.5), (422, 0.1, 3.0)]
)
def test_best_cnn_ends_its_schedule_within_its_budget_whatever_the_data_size(
    batches, seconds_per_batch, validation_seconds
):
    """60,000 digits (422 batches of 128) at 0.75 s a batch would take 26 epochs x 316 s:
    the budget of 300 s ends the run with its schedule finished, in the first epoch. The
    offline 10,000 (70 batches) at 0.1 s a batch: all 26 epochs, also finished. At 0.1 s
    a batch, 60,000 digits take 45 s an epoch: the run stops after a whole epoch or
    within one, and its validation passes fit in the budget too (once measured)."""
    config = get_preset("Best CNN").config
    schedule, rates, seconds = schedule_run(config, batches, seconds_per_batch, validation_seconds)
    assert rates[0] == pytest.approx(config.learning_rate)
    assert rates[-1] < 0.01 * config.learning_rate, "the last batch trains at the schedule's end"
    assert all(later <= earlier for earlier, later in zip(rates, rates[1:], strict=False)), "it only falls"
    everything = batches * config.epochs * seconds_per_batch
    assert schedule.spent_budget == (everything > config.time_budget_seconds)
    first_epoch = batches * seconds_per_batch * 1.1 + validation_seconds
    if first_epoch < config.time_budget_seconds:  # The validation pass was measured before the end.
        assert seconds <= config.time_budget_seconds
    else:
        assert seconds <= config.time_budget_seconds + validation_seconds
    if schedule.spent_budget:
        unused = config.time_budget_seconds - seconds
        assert unused <= 2 * seconds_per_batch + validation_seconds, "it used its budget"


def test_a_budget_stops_after_a_whole_epoch_when_the_next_would_not_fit():
    """As Best CNN did on Fashion-MNIST's 60,000 images (about 73 s an epoch): four whole
    epochs end at about 294 s, a fifth cannot fit, so none starts."""
    config = get_preset("Best CNN").config
    schedule, rates, seconds = schedule_run(config, 422, 0.16, 6.0)
    assert len(rates) == 4 * 422 and schedule.spent_budget and not schedule.cut_epoch
    assert seconds <= config.time_budget_seconds
    assert rates[-1] < 0.01 * config.learning_rate


def test_every_best_preset_has_a_budget_within_its_time_limit():
    best = [preset for preset in PRESET_LIST if preset.name.startswith("Best")]
    assert len(best) == 5
    for preset in best:
        assert preset.config.time_budget_seconds == 300
        assert preset.config.lr_schedule == "cosine"
        validate(preset.config)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"time_budget_seconds": -5.0}, "0 \\(none\\) or at least 1 second"),
        ({"time_budget_seconds": 0.5}, "0 \\(none\\) or at least 1 second"),
        ({"time_budget_seconds": 7200.0}, "longer than the run's time limit of 30 minutes"),
        ({"start_from": "somewhere"}, "Unknown start"),
        ({"initial_epoch": 3}, "Only a continued or fine-tuned run"),
    ],
)
def test_a_bad_budget_or_start_is_refused_naming_the_field(changes, message):
    with pytest.raises(ConfigError, match=message) as refused:
        validate(get_preset("Quick CNN").config.with_changes(**changes))
    assert refused.value.field in changes


def test_configs_stored_before_budgets_read_back_without_one():
    old = '{"dataset": "mnist", "family": "dense", "epochs": 4, "time_limit_minutes": 5.0, "gone": 1}'
    config = RunConfig.from_json(old)
    assert (config.time_budget_seconds, config.start_from, config.initial_epoch) == (0.0, "", 0)


def test_a_race_refuses_bad_budgets_and_choices_and_queues_nothing(store):
    for presets, budget, field in [
        (["Best CNN"], 0, "time_budget_seconds"),
        (["Best CNN"], 10_000, "time_budget_seconds"),
        ([], 60, "presets"),
        (
            ["Best CNN", "Quick CNN", "Best dense", "Best GRU", "Best LSTM", "Best SimpleRNN", "MLP 32"],
            60,
            "presets",
        ),
    ]:
        with pytest.raises(ConfigError) as refused:
            submit_race(store, presets, budget, start_worker=False)
        assert refused.value.field == field
    assert store.runs_table().empty


def test_a_race_of_two_models_ends_both_schedules_at_the_budget(store):
    budget = 15.0  # Long enough that tracing the model (seconds on a loaded machine) is a small part.
    run_ids = submit_race(store, ["Best dense", "Quick CNN"], budget, limit=600, start_worker=False)
    assert [config.time_budget_seconds for config in race_configs(["Best dense"], budget)] == [budget]
    for run_id in run_ids:  # The worker's loop, in this process: one racer after the other.
        assert store.claim_next(os.getpid()) == run_id
        assert execute_run(store, run_id) == "completed"
    for run_id in run_ids:
        run = store.get_run(run_id)
        training = run["evaluation"]["training"]
        assert run["name"].startswith(f"Race {budget:g} s: ")
        assert training["spent_budget"], "the budget, not the epochs, ended the race"
        # Near its end: short of it by the last batch and validation that had to fit.
        assert training["schedule_progress"] > 0.8
        assert training["final_learning_rate"] < 0.05 * run["config"].learning_rate
        assert f"Trained for its {budget:g}-second budget" in run["note"]
        assert "schedule finished" in run["note"]
        epochs = store.epochs([run_id])
        assert epochs["seconds"].sum() >= 0.8 * budget, "it trained for (nearly) its whole budget"
        assert run["epoch"] < run["config"].epochs
