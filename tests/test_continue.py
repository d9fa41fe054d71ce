"""Continuing a completed run: a new run linked to it, from its saved model and
optimizer state, with epochs numbered on from the parent's last."""

import numpy as np
import pytest

from core.architecture import ConfigError
from core.children import continuation_config
from core.presets import get_preset
from core.runs import submit_continuation
from tests.helpers import insert_raw_run
from tests.page_helpers import stored_run
from tests.training_helpers import run_now

PARENT = get_preset("DNN 128-128").config.with_changes(limit=600, epochs=3, keep_best_epoch=False)


def continue_now(store, parent_id, epochs):
    """Queues the continuation, claims it as this process and trains it here."""
    import os

    from core.training import execute_run

    run_id = submit_continuation(store, parent_id, epochs, start_worker=False)
    assert store.claim_next(os.getpid()) == run_id
    return run_id, execute_run(store, run_id)


def optimizer_steps(store, run_id) -> int:
    """The optimizer's step count saved with a run (its first variable)."""
    with np.load(store.optimizer_path(run_id)) as state:
        return int(state["0"])


def test_a_continued_run_goes_on_from_its_parents_model_and_optimizer(store):
    parent_id, status = run_now(store, PARENT)
    assert status == "completed"
    parent_epochs = store.epochs([parent_id])
    child_id, status = continue_now(store, parent_id, 2)
    assert status == "completed"
    child = store.get_run(child_id)
    child_epochs = store.epochs([child_id])
    assert child["parent_run_id"] == parent_id
    assert child["name"] == "DNN 128-128 +2"
    assert child_epochs["epoch"].tolist() == [4, 5], "epochs are numbered on from the parent's last"
    assert f"Continued from run {parent_id} after epoch 3." in child["note"]
    first, parent_first, parent_last = (
        child_epochs["loss"].iloc[0],
        parent_epochs["loss"].iloc[0],
        parent_epochs["loss"].iloc[-1],
    )
    assert first < 1.1 * parent_last, "the first continued epoch goes on from the parent's last"
    assert first < 0.5 * parent_first, "not a fresh start"
    steps_per_epoch = child["batches"]
    assert optimizer_steps(store, parent_id) == 3 * steps_per_epoch
    assert optimizer_steps(store, child_id) == 5 * steps_per_epoch, "the optimizer's state was carried over"
    assert child["test_accuracy"] >= store.get_run(parent_id)["test_accuracy"] - 0.02

    store.optimizer_path(parent_id).unlink()  # As a run from before the state was kept.
    fresh_id, status = continue_now(store, parent_id, 1)
    assert status == "completed"
    assert "with a fresh optimizer" in store.get_run(fresh_id)["note"]
    assert optimizer_steps(store, fresh_id) == steps_per_epoch, "its optimizer started afresh"


def test_only_a_completed_run_with_a_model_can_be_continued(store):
    failed = stored_run(store, "DNN 128-128", "failed", status="failed")
    without_model = stored_run(store, "DNN 128-128", "no model")
    unreadable = insert_raw_run(store, "{not json")
    for run_id, message in [
        (12345, "does not exist"),
        (failed, "is failed: only a completed run can be continued"),
        (without_model, "model file is missing"),
        (unreadable, "settings cannot be read"),
    ]:
        with pytest.raises(ConfigError, match=message):
            submit_continuation(store, run_id, 2, start_worker=False)
    assert store.count_queued() == 0


def test_more_epochs_must_be_between_one_and_what_a_run_may_reach():
    parent = {"id": 7, "epoch": 190, "config": PARENT}
    with pytest.raises(ConfigError, match="at least 1 more epoch"):
        continuation_config(parent, 0)
    with pytest.raises(ConfigError, match="at most 10 more"):
        continuation_config(parent, 11)


def test_a_cosine_run_goes_on_at_a_tenth_of_its_rate_and_a_constant_one_at_its_own():
    cosine = get_preset("Best CNN").config
    config = continuation_config({"id": 1, "epoch": 26, "config": cosine}, 4)
    assert (config.initial_epoch, config.epochs, config.time_budget_seconds) == (26, 30, 0.0)
    assert config.learning_rate == pytest.approx(cosine.learning_rate / 10)
    constant = {"id": 2, "epoch": 3, "config": PARENT}
    assert continuation_config(constant, 2).learning_rate == PARENT.learning_rate
    assert continuation_config(constant, 2, 5e-4).learning_rate == 5e-4


def test_the_optimizer_file_is_deleted_with_its_run_and_found_when_orphaned(store):
    run_id = stored_run(store, "DNN 128-128", "a run")
    store.optimizer_path(run_id).write_bytes(b"state")
    store.delete_run(run_id)
    assert not store.optimizer_path(run_id).exists()
    orphan = store.optimizer_path(999)
    orphan.write_bytes(b"state")
    assert store.orphaned_model_files() == [orphan]
