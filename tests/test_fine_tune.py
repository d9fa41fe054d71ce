"""Teaching a model your handwriting: fine-tuning a digits run on saved drawings,
through the worker, scored on drawings it did not train on."""

import numpy as np
import pytest

from core.architecture import ConfigError
from core.children import fine_tune_config
from core.fine_tune import held_out_mask
from core.presets import get_preset
from core.runs import submit_fine_tune
from tests.helpers import wait_for_status
from tests.page_helpers import stored_run
from tests.training_helpers import run_now

PARENT = get_preset("DNN 128-128").config.with_changes(limit=600, epochs=2)
FIRST_UNSEEN = 5000  # Training digits from here on: not in the parent's first 600.


def save_real_digits(store, mnist, per_digit: int) -> None:
    """Saves `per_digit` real MNIST training digits of every digit as the user's drawings."""
    x_train, y_train = mnist[0][FIRST_UNSEEN:], mnist[1][FIRST_UNSEEN:]
    for digit in range(10):
        for index in np.flatnonzero(y_train == digit)[:per_digit]:
            store.add_drawing(digit, x_train[index])


def test_fine_tuning_through_the_worker_scores_drawings_it_did_not_train_on(store, mnist):
    parent_id, status = run_now(store, PARENT)
    assert status == "completed"
    save_real_digits(store, mnist, per_digit=4)
    run_id = submit_fine_tune(store, parent_id)  # A worker process trains it.
    run = wait_for_status(store, run_id, ("completed", "failed"), timeout=300)
    assert run["status"] == "completed", run["error"]
    report = run["evaluation"]["fine_tune"]
    held, trained = set(report["held_out_ids"]), set(report["trained_ids"])
    drawings = {drawing["id"]: drawing for drawing in store.drawings()}
    assert not held & trained and held | trained == set(drawings)
    assert sorted(drawings[i]["label"] for i in held) == list(range(10)), "one of every digit kept aside"
    assert run["parent_run_id"] == parent_id
    assert run["name"] == "DNN 128-128 + my handwriting"
    assert store.epochs([run_id])["epoch"].tolist() == [3, 4, 5]

    from core.predict import load_predictor

    held_images = np.stack([drawings[i]["image"] for i in sorted(held)]) / 255.0
    held_labels = np.array([drawings[i]["label"] for i in sorted(held)])
    read = load_predictor(store, run_id).predict_images(held_images).argmax(axis=1)
    assert report["personal_accuracy"] == pytest.approx(np.mean(read == held_labels))
    assert report["mnist_accuracy_before"] == pytest.approx(
        store.get_run(parent_id)["test_accuracy"], abs=1e-4
    )
    assert report["mnist_accuracy_after"] == run["test_accuracy"]
    assert "kept aside" in run["note"] and "MNIST test accuracy" in run["note"]


def test_too_few_drawings_of_a_digit_are_refused_saying_which(store, mnist):
    parent_id = stored_run(store, "DNN 128-128", "a digits run")
    store.model_path(parent_id).write_bytes(b"a model")  # Only its presence is checked here.
    save_real_digits(store, mnist, per_digit=3)
    for drawing in store.drawings():
        if drawing["label"] == 7 or (drawing["label"] == 2 and drawing["id"] % 3 == 0):
            store.delete_drawing(drawing["id"])
    with pytest.raises(
        ConfigError,
        match=r"at least 3 drawings of every digit.*You have saved 2 of the digit 2, none of the digit 7\.",
    ) as refused:
        submit_fine_tune(store, parent_id, start_worker=False)
    assert refused.value.field == "drawings"
    assert store.count_queued() == 0


def test_only_a_digits_run_can_learn_handwriting():
    fashion = {"id": 4, "epoch": 5, "config": PARENT.with_changes(dataset="fashion_mnist")}
    with pytest.raises(ConfigError, match="not handwritten digits"):
        fine_tune_config(fashion)
    config = fine_tune_config({"id": 4, "epoch": 5, "config": PARENT})
    assert (config.start_from, config.initial_epoch, config.epochs) == ("fine_tune", 5, 8)
    assert config.learning_rate == pytest.approx(PARENT.learning_rate / 10)


@pytest.mark.parametrize("per_digit, kept_aside", [(3, 1), (4, 1), (10, 2), (23, 5)])
def test_a_fifth_of_each_digits_drawings_is_kept_aside_at_least_one(per_digit, kept_aside):
    labels = np.repeat(np.arange(10), per_digit)
    held = held_out_mask(labels, seed=0)
    assert np.bincount(labels[held], minlength=10).tolist() == [kept_aside] * 10
