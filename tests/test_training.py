"""Training runs in-process on a few hundred real digits: what a run records."""

import numpy as np
import pytest

from core.config import RunConfig
from core.predict import ModelUnavailable, Predictor, load_predictor
from core.presets import family_layers, get_preset
from tests.training_helpers import run_now


@pytest.mark.parametrize("family", ["dense", "cnn", "simplernn", "lstm", "gru"])
def test_every_family_trains_an_epoch_and_records_everything(store, family):
    layers = family_layers(family, units=(16,), filters=(8,))
    config = RunConfig(family=family, layers=layers, epochs=1, limit=300, batch_size=32)
    run_id, status = run_now(store, config)
    assert status == "completed"
    run = store.get_run(run_id)
    assert run["status"] == "completed"
    assert 0.0 <= run["test_accuracy"] <= 1.0
    assert run["params"] > 0 and run["total_seconds"] > 0 and run["ms_per_prediction"] > 0
    evaluation = run["evaluation"]
    assert np.array(evaluation["confusion_matrix"]).sum() == 10_000
    assert len(evaluation["per_class_accuracy"]) == 10
    assert run["versions"]["tensorflow"].startswith("2.") and run["versions"]["seed"] == 0
    assert "offline subset" in run["data_source"]
    epochs = store.epochs([run_id])
    assert list(epochs.columns[2:]) == ["loss", "accuracy", "val_loss", "val_accuracy", "seconds"]
    assert len(epochs) == 1 and epochs.notna().all().all()
    assert store.model_path(run_id).is_file()


def test_a_trained_digit_model_reads_test_digits(store, mnist):
    config = get_preset("Quick CNN").config.with_changes(limit=3000, epochs=3)
    run_id, _ = run_now(store, config)
    run = store.get_run(run_id)
    assert run["test_accuracy"] > 0.85
    predictor = load_predictor(store, run_id)
    x_test, y_test = mnist[2][:200], mnist[3][:200]
    probabilities = predictor.predict_images(x_test / 255.0)
    assert (probabilities.argmax(axis=1) == y_test).mean() > 0.85
    keras_says = np.asarray(predictor.model(x_test / 255.0, training=False))
    assert np.allclose(probabilities, keras_says, atol=1e-4), "the compiled call gives Keras' answer"
    misclassified = run["evaluation"]["misclassified"]
    assert len(misclassified) == round((1 - run["test_accuracy"]) * 10_000)
    every_test_digit = predictor.predict_images(mnist[2] / 255.0)
    right = every_test_digit.argmax(axis=1) == mnist[3]
    assert run["test_accuracy"] == pytest.approx(right.mean(), abs=1e-4)
    truth_probability = np.clip(every_test_digit[np.arange(10_000), mnist[3]], 1e-7, 1.0)
    assert run["test_loss"] == pytest.approx(-np.log(truth_probability).mean(), rel=1e-3)


def test_sentiment_model_trains_on_reviews_and_reads_new_text(store):
    config = get_preset("Bag-of-words sentiment").config.with_changes(limit=2000, epochs=2)
    run_id, status = run_now(store, config)
    assert status == "completed"
    predictor = load_predictor(store, run_id)
    positive = predictor.predict_texts(["a wonderful , moving and beautiful film", "dull , boring and bad"])
    assert positive.shape == (2,)
    alone = predictor.predict_texts(["a wonderful film"])[0]
    padded = predictor.predict_texts(["a wonderful film", "a long and winding review " * 10])[0]
    assert abs(alone - padded) < 1e-5, "padding a short review to a long one's length is masked"
    assert "Rotten Tomatoes" in store.get_run(run_id)["data_source"]


def test_fashion_mnist_from_the_debian_package_trains_and_scores(store):
    """Needs Debian's dataset-fashion-mnist package, which scripts/test.sh installs."""
    config = get_preset("MLP 32").config.with_changes(dataset="fashion_mnist", epochs=1, limit=3000)
    run_id, status = run_now(store, config)
    run = store.get_run(run_id)
    assert status == "completed"
    assert run["data_source"] == "Fashion-MNIST, full, Debian package: 60,000 train / 10,000 test"
    assert run["test_accuracy"] > 0.6, "clothes are told apart well above chance"


def test_time_limit_ends_the_run_completed_with_a_note(store):
    config = get_preset("DNN 128-128").config.with_changes(limit=500, epochs=200, time_limit_minutes=0.02)
    run_id, status = run_now(store, config)
    run = store.get_run(run_id)
    assert status == "completed"
    assert "time limit" in run["note"]
    assert run["epoch"] < 200


def test_missing_or_corrupt_model_file_gives_a_clear_error(store, tmp_path):
    with pytest.raises(ModelUnavailable, match="missing"):
        Predictor(tmp_path / "nothing.keras")
    corrupt = tmp_path / "corrupt.keras"
    corrupt.write_bytes(b"not a zip file at all")
    with pytest.raises(ModelUnavailable, match="cannot be read"):
        Predictor(corrupt)
    with pytest.raises(ModelUnavailable, match="does not exist"):
        load_predictor(store, 12345)


def test_keep_best_epoch_restores_the_weights_of_the_best_validation_epoch():
    import keras

    from core.progress import KeepBestEpoch

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    keeper = KeepBestEpoch()
    keeper.set_model(model)
    best = [weights.copy() for weights in model.get_weights()]
    keeper.on_epoch_end(0, {"val_accuracy": 0.9})
    model.set_weights([weights + 1.0 for weights in best])
    keeper.on_epoch_end(1, {"val_accuracy": 0.5})
    keeper.on_train_end()
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), best, strict=True))


def test_keep_best_epoch_prefers_the_later_of_two_tied_epochs():
    import keras

    from core.progress import KeepBestEpoch

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    keeper = KeepBestEpoch()
    keeper.set_model(model)
    keeper.on_epoch_end(0, {"val_accuracy": 0.9})
    later = [weights + 1.0 for weights in model.get_weights()]
    model.set_weights(later)
    keeper.on_epoch_end(1, {"val_accuracy": 0.9})
    keeper.on_train_end()
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), later, strict=True))


def test_stop_ends_training_after_the_current_batch_without_validating(store, mnist):
    import threading

    import keras

    from core.progress import RunStopped, StoreProgress
    from tests.helpers import QUICK, queue

    run_id = queue(store, QUICK)
    stop, trained, validated = threading.Event(), [], []

    class UserPressesStop(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            trained.append(batch)
            if batch == 2:
                stop.set()

        def on_test_begin(self, logs=None):
            validated.append(True)

    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.compile(loss="sparse_categorical_crossentropy")
    x, y = mnist[0][:320] / 255.0, mnist[1][:320]
    progress = StoreProgress(store, run_id, batches=10, time_limit_seconds=3600, stop=stop)
    with pytest.raises(RunStopped):
        model.fit(
            x, y, batch_size=32, epochs=3, validation_data=(x, y), callbacks=[UserPressesStop(), progress]
        )
    assert trained == [0, 1, 2], "not one batch more"
    assert not validated and store.epochs([run_id]).empty


def test_stroke_width_augmentation_changes_only_training_images(mnist):
    import keras

    from core.augment import RandomStrokeWidth

    digits = (mnist[0][:64, :, :, None] / 255.0).astype("float32")
    layer = RandomStrokeWidth(seed=0)
    assert np.array_equal(layer(digits, training=False), digits)
    ink = np.asarray(layer(digits, training=True)).reshape(64, -1).sum(axis=1)
    original = digits.reshape(64, -1).sum(axis=1)
    assert (ink > original * 1.1).any() and (ink < original * 0.9).any(), "some thicker, some thinner"
    restored = keras.layers.deserialize(keras.layers.serialize(layer))
    assert isinstance(restored, RandomStrokeWidth) and restored.seed == 0


def test_affine_augmentation_warps_only_training_images_and_keeps_the_digit(mnist):
    import keras

    from core.augment import RandomAffine

    digits = (mnist[0][:64, :, :, None] / 255.0).astype("float32")
    layer = RandomAffine(seed=0)
    assert np.array_equal(layer(digits, training=False), digits)
    assert np.array_equal(RandomAffine(0, 0, 0, 0, seed=0)(digits, training=True), digits), "no warp"
    warped = np.asarray(layer(digits, training=True))
    changed = np.abs(warped - digits).reshape(64, -1).max(axis=1) > 0.5
    assert changed.mean() > 0.9, "nearly every image moves"
    ink_kept = warped.reshape(64, -1).sum(axis=1) / digits.reshape(64, -1).sum(axis=1)
    assert ((ink_kept > 0.7) & (ink_kept < 1.4)).all(), "digits stay in the frame, neither lost nor doubled"
    restored = keras.layers.deserialize(keras.layers.serialize(layer))
    assert isinstance(restored, RandomAffine) and (restored.rotation, restored.shift) == (0.2, 2.8)


def ink_aspect(images: np.ndarray) -> np.ndarray:
    """Width over height of each image's inked box."""
    aspects = []
    for image in images[..., 0]:
        rows, columns = np.nonzero(image > 0.3)
        aspects.append((np.ptp(columns) + 1) / (np.ptp(rows) + 1))
    return np.array(aspects)


def test_augmentation_makes_some_digits_wide_and_flat_and_some_marker_thick(mnist):
    from core.augment import FLATTENED, RandomAffine, RandomStrokeWidth

    digits = (mnist[0][:400, :, :, None] / 255.0).astype("float32")
    flattened = np.asarray(RandomAffine(0, 0, 0, 0, flatten=2.2, seed=0)(digits, training=True))
    wider = ink_aspect(flattened) / ink_aspect(digits)
    share = (wider > 1.15).mean()
    assert FLATTENED - 0.1 < share < FLATTENED + 0.1, "about FLATTENED of them, the rest as they were"
    assert wider.max() > 1.8, "up to a wide 0 drawn on the canvas"
    assert (np.abs(wider - 1) < 0.15).mean() > 0.5

    thick = np.asarray(RandomStrokeWidth(seed=0)(digits, training=True))
    ink = thick.reshape(400, -1).sum(axis=1) / digits.reshape(400, -1).sum(axis=1)
    assert (ink > 1.8).any(), "some strokes as wide as a marker's"


def test_best_cnn_validates_well_from_its_first_epoch(store):
    """Batch norm's moving statistics settle within the first epoch, so the live curve
    rises at once (with Keras' default momentum it sat at chance for 4 epochs)."""
    run_id, status = run_now(store, get_preset("Best CNN").config.with_changes(epochs=1), "best cnn")
    assert status == "completed"
    assert store.epochs([run_id])["val_accuracy"].iloc[0] > 0.5


def test_augmented_digit_training_adds_one_drawn_digit_in_ten_and_validates_on_mnist_alone():
    from core.datasets import load_dataset
    from core.drawn_digits import drawn_training_digits
    from core.training import prepare_data

    mnist = load_dataset("mnist")
    config = RunConfig(family="cnn", layers=family_layers("cnn"), limit=2000, seed=3)
    plain = prepare_data(mnist, config)
    augmented = prepare_data(mnist, config.with_changes(augment=True))
    added = len(plain.y_fit) // 10
    assert len(augmented.y_fit) == len(plain.y_fit) + added
    assert np.array_equal(augmented.x_val, plain.x_val) and np.array_equal(augmented.x_test, plain.x_test)
    drawn, labels = augmented.x_fit[-added:], augmented.y_fit[-added:]
    assert np.bincount(labels, minlength=10).min() >= added // 10, "every digit"
    assert drawn.dtype == np.float32 and drawn.min() >= 0.0 and drawn.max() == 1.0
    assert not any(np.array_equal(image, mnist_image) for image in drawn[:20] for mnist_image in plain.x_fit)
    again, _ = drawn_training_digits(20, seed=3)
    other, _ = drawn_training_digits(20, seed=4)
    assert np.array_equal(again, (drawn[:20] * 255).round()), "the same run seed draws the same digits"
    assert not np.array_equal(again, other)

    fashion = load_dataset("fashion_mnist")
    clothes = prepare_data(fashion, config.with_changes(dataset="fashion_mnist", augment=True))
    assert len(clothes.y_fit) == len(plain.y_fit), "no drawn digits among clothes"


def test_training_batches_hold_every_example_once_per_epoch_reshuffled():
    from core.training import batches_of

    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    batches = batches_of(x, x[:, 0] * 2, 4, seed=3)
    epochs = [[(bx.numpy()[:, 0], by.numpy()) for bx, by in batches] for _ in range(2)]
    for epoch in epochs:
        assert [len(bx) for bx, _ in epoch] == [4, 4, 2]
        seen = np.concatenate([bx for bx, _ in epoch])
        assert sorted(seen) == list(range(10))
        assert all((by == bx * 2).all() for bx, by in epoch), "examples keep their labels"
    first, second = (np.concatenate([bx for bx, _ in epoch]) for epoch in epochs)
    assert (first != second).any() and (first != np.arange(10)).any(), "shuffled, anew each epoch"
    assert batches.options().autotune.enabled is False
    unshuffled = np.concatenate([bx.numpy()[:, 0] for bx, _ in batches_of(x, x[:, 0], 4)])
    assert list(unshuffled) == list(range(10)), "validation batches keep their order"
