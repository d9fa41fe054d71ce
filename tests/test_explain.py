"""Inside the model: explanations of small models trained here on real digits and
reviews (1 epoch, a few hundred to 2,000 items), in this process and through the
model reader."""

import os

import numpy as np
import pytest

from core import explain
from core.config import LayerSpec, RunConfig
from core.explain.attributions import cell_centres, cells_to_pixels
from core.explain.model_parts import convolution_indices
from core.predict import load_predictor
from core.presets import family_layers, get_preset
from core.store import RunStore
from tests.training_helpers import run_now

INK = 0.5  # A pixel at least this bright is ink.


def _digit_config(family, **changes):
    layers = family_layers(family, units=changes.pop("units", (16,)), filters=(8, 16))
    settings = {"epochs": 1, "limit": 2000, "batch_size": 32, **changes}
    return RunConfig(family=family, layers=layers, **settings)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Small trained models, one per kind of explanation, in one store for the module."""
    from devtools.app_server import stop_reader

    store = RunStore(tmp_path_factory.mktemp("explain"))
    configs = {
        "cnn": _digit_config("cnn"),
        "dense": _digit_config("dense"),
        "simplernn": _digit_config("simplernn", limit=600),
        "lstm": _digit_config("lstm", limit=600, units=(8, 8)),
        "gru": _digit_config("gru", limit=600, augment=True),
        "text": get_preset("Bag-of-words sentiment").config.with_changes(epochs=1, limit=2000),
        "gru_text": get_preset("GRU sentiment").config.with_changes(epochs=1, limit=600),
    }
    runs = {}
    for name, config in configs.items():
        run_id, status = run_now(store, config, name)
        assert status == "completed"
        runs[name] = run_id
    yield store, runs
    stop_reader(store.home)


@pytest.fixture(scope="module")
def models(trained):
    store, runs = trained
    return {name: load_predictor(store, run_id) for name, run_id in runs.items()}


@pytest.fixture(scope="module")
def digits(mnist):
    """Twenty test digits in [0, 1] and their labels."""
    return (mnist[2][:20] / 255.0).astype(np.float32), mnist[3][:20]


@pytest.mark.parametrize("family", ["cnn", "dense", "gru"])
def test_integrated_gradients_add_up_to_the_change_of_the_logit(models, digits, family):
    model = models[family].model
    for image in digits[0][:5]:
        attribution = explain.integrated_gradients(model, image)
        change = attribution.score - attribution.baseline_score
        assert attribution.heatmap.shape == (28, 28)
        assert abs(attribution.heatmap.sum() - change) <= 0.03 * abs(change) + 0.02, "completeness"
        assert attribution.target == int(explain.class_logits(model, image).argmax())


def test_a_map_for_another_class_answers_why_not(models, digits):
    model = models["cnn"].model
    views = explain.explain_image(model, digits[0][0], target=9, views=("attribution", "grad_cam"))
    assert views["target"] == 9 and views["attribution"].target == 9 and views["grad_cam"].target == 9
    attribution = views["attribution"]
    change = attribution.score - attribution.baseline_score
    assert abs(attribution.heatmap.sum() - change) <= 0.03 * abs(change) + 0.02
    assert set(views) >= {"probabilities", "predicted", "available"} and "feature_maps" not in views
    with pytest.raises(ValueError, match="no class 10"):
        explain.explain_image(model, digits[0][0], target=10)


@pytest.mark.parametrize("method", ["integrated gradients", "HiResCAM", "Grad-CAM"])
def test_attributions_concentrate_on_ink(models, digits, method):
    model = models["cnn"].model
    images = digits[0]
    if method == "integrated gradients":
        maps = explain.integrated_gradients_batch(model, images)[0]
    else:
        maps = explain.grad_cam_batch(model, images, method=method)[0]
        assert (maps >= 0).all()
    positive = np.clip(maps, 0, None)
    drawn = positive.sum(axis=(1, 2)) > 0
    ink = images >= INK
    mass_on_ink = (positive * ink).sum(axis=(1, 2))[drawn] / positive.sum(axis=(1, 2))[drawn]
    ink_share = ink.mean(axis=(1, 2))[drawn]
    if method == "Grad-CAM":
        # Grad-CAM averages each map's gradient over its cells, so on a model that
        # flattens its maps into dense layers some maps come out blank, and the rest
        # spread over the digit's surroundings (see bench/explain.py).
        assert drawn.mean() >= 0.5
        assert mass_on_ink.mean() > ink_share.mean()
    else:
        assert drawn.all()
        assert (mass_on_ink > ink_share).mean() >= 0.9, (mass_on_ink, ink_share)
        assert mass_on_ink.mean() > 2 * ink_share.mean()


def test_grad_cam_cells_sit_over_the_pixels_they_see():
    from core.models import build_model

    best_cnn = build_model(get_preset("Best CNN").config)
    # Two valid 3x3 convolutions, a 2x2 pool, two more: cell i sees pixels around 6.5 + 2i.
    assert cell_centres(best_cnn, convolution_indices(best_cnn)[-1]) == (6.5, 2.0)
    cells = np.zeros((1, 8, 8), np.float32)
    cells[0, 0, 7] = 1.0  # The top right cell, centred on pixel (6.5, 20.5).
    pixels = cells_to_pixels(cells, 6.5, 2.0)[0]
    assert pixels[:7, 21:].min() == 1.0 and pixels[6, 20] == 0.75 and pixels[8, 21] == 0.25
    assert pixels[:, :19].max() == 0.0 and pixels[10:].max() == 0.0


def test_feature_maps_and_filters_have_each_layers_shape(models, digits):
    model = models["cnn"].model
    views = explain.explain_image(model, digits[0][0])
    assert set(views["available"]) == {
        "attribution",
        "grad_cam",
        "hires_cam",
        "feature_maps",
        "filters",
        "map",
    }
    maps = views["feature_maps"]
    assert [layer.maps.shape for layer in maps] == [(8, 26, 26), (16, 11, 11)]
    assert maps[0].layer.startswith("Conv2D 8 3x3") and maps[0].caption
    first = model.layers[convolution_indices(model)[0]]
    filters = views["filters"]
    assert filters.weights.shape == (8, 3, 3)
    np.testing.assert_allclose(filters.weights[2], np.asarray(first.kernel)[:, :, 0, 2])
    np.testing.assert_allclose(
        views["probabilities"], models["cnn"].predict_images(digits[0][:1])[0], atol=1e-5
    )


def test_dense_units_are_the_first_layers_weights_as_images(models, digits):
    model = models["dense"].model
    units = explain.dense_units(model, digits[0][0])
    dense = next(layer for layer in model.layers if type(layer).__name__ == "Dense")
    kernel = np.asarray(dense.kernel)
    assert units.weights.shape == (16, 28, 28) and units.activations.shape == (16,)
    np.testing.assert_allclose(units.weights[3].ravel(), kernel[:, 3])
    expected = np.maximum(digits[0][0].reshape(1, -1) @ kernel + np.asarray(dense.bias), 0)[0]
    np.testing.assert_allclose(units.activations, expected, atol=1e-5)
    assert list(units.strongest) == list(np.argsort(-expected, kind="stable")[:10])
    with pytest.raises(ValueError):
        explain.dense_units(models["cnn"].model, digits[0][0])


@pytest.mark.parametrize("family", ["simplernn", "lstm", "gru"])
def test_row_by_row_probabilities_end_at_the_models_own_prediction(models, digits, family):
    predictor = models[family]
    for image in digits[0][:3]:
        rows = explain.row_reading(predictor.model, image)
        units = 8 if family == "lstm" else 16
        assert rows.probabilities.shape == (28, 10) and rows.hidden.shape == (28, units)
        np.testing.assert_allclose(rows.probabilities.sum(axis=1), 1.0, atol=1e-5)
        own = predictor.predict_images(image[None])[0]
        np.testing.assert_allclose(rows.probabilities[-1], own, atol=1e-5)
        assert not np.allclose(rows.probabilities[0], own, atol=1e-3), "the first row alone reads differently"


def test_a_model_reading_rows_both_ways_has_no_row_by_row_view():
    from core.models import build_model

    layers = (LayerSpec("gru", units=4, bidirectional=True),)
    model = build_model(RunConfig(family="gru", layers=layers))
    assert "rows" not in explain.available_views(model)
    with pytest.raises(ValueError, match="one way"):
        explain.row_reading(model, np.zeros((28, 28), np.float32))


def test_digit_map_places_its_digits_where_it_computed_them_and_is_cached_on_disk(trained, models, mnist):
    store, runs = trained
    model = models["dense"].model
    images, labels = (mnist[2][:300] / 255.0).astype(np.float32), mnist[3][:300]
    model_path, cache_path = store.model_path(runs["dense"]), store.home / "dense.map.npz"
    digit_map = explain.cached_digit_map(model, model_path, cache_path, images, labels)
    assert digit_map.points.shape == (300, 2) and digit_map.components.shape == (2, 16)
    assert 0 < digit_map.explained.sum() <= 1 and digit_map.explained[0] >= digit_map.explained[1]
    np.testing.assert_allclose(explain.place_on_map(model, digit_map, images), digit_map.points, atol=1e-4)
    view = explain.map_view(model, digit_map, images[7])
    np.testing.assert_allclose(view.drawing, digit_map.points[7], atol=1e-4)
    assert cache_path.is_file()

    unused = np.full_like(images, np.nan)  # Read from the cache: these are never mapped.
    again = explain.cached_digit_map(model, model_path, cache_path, unused, labels)
    np.testing.assert_array_equal(again.points, digit_map.points)
    stat = model_path.stat()
    os.utime(model_path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    rebuilt = explain.cached_digit_map(model, model_path, cache_path, images[:100], labels[:100])
    assert rebuilt.points.shape == (100, 2), "a changed model file builds the map again"


def test_word_contributions_add_up_and_unknown_words_are_flagged(models):
    for name in ("text", "gru_text"):
        predictor = models[name]
        review = "a wonderful and moving film , zzqx blorft"
        reading = explain.read_review(predictor.model, predictor.vocabulary, review, predictor.max_words)
        assert reading.words == ("a", "wonderful", "and", "moving", "film", "zzqx", "blorft")
        assert list(reading.known) == [True] * 5 + [False] * 2 and not reading.knows_none
        change = reading.probability - reading.baseline_probability
        assert abs(reading.contributions.sum() - change) <= 0.03 * abs(change) + 1e-3, "completeness"
        own = predictor.predict_texts([review])[0]
        assert abs(reading.probability - own) < 1e-5
        assert abs(reading.read_so_far[-1] - own) < 1e-5
        first_word = predictor.predict_texts(["a"])[0]
        assert abs(reading.read_so_far[0] - first_word) < 1e-5, (
            "the reading after word 1 is the model's on 'a'"
        )
        nonsense = explain.read_review(
            predictor.model, predictor.vocabulary, "zzqx blorft", predictor.max_words
        )
        assert nonsense.knows_none and "none of these words" in nonsense.caption


def test_a_review_past_max_words_counts_the_unread_words(models):
    predictor = models["text"]
    reading = explain.read_review(predictor.model, predictor.vocabulary, "good " * 205, predictor.max_words)
    assert len(reading.words) == predictor.max_words and reading.unread == 205 - predictor.max_words
    with pytest.raises(ValueError, match="no words"):
        explain.read_review(predictor.model, predictor.vocabulary, "  ...  ", predictor.max_words)


def test_the_reader_explains_in_its_own_process_and_caches_the_map(trained, models, digits):
    from core.reader import ReaderClient

    store, runs = trained
    client = ReaderClient(store)
    image = digits[0][0]
    views = client.explain_image(runs["cnn"], image)
    assert isinstance(views, dict), views
    here = explain.integrated_gradients(models["cnn"].model, image)
    np.testing.assert_allclose(views["attribution"].heatmap, here.heatmap, atol=1e-5)
    assert isinstance(views["feature_maps"][1], explain.LayerMaps)
    assert views["map"].points.shape == (2000, 2) and views["map"].drawing.shape == (2,)
    assert views["map"].labels.dtype == np.int32 and store.digit_map_path(runs["cnn"]).is_file()
    assert int((store.home / "reader.pid").read_text()) != os.getpid()

    why_not = client.explain_image(runs["cnn"], image, target=3, views=("attribution",))
    assert why_not["attribution"].target == 3 and set(why_not) & {"grad_cam", "map"} == set()
    rows = client.explain_image(runs["gru"], image, views=("rows",))
    np.testing.assert_allclose(
        rows["rows"].probabilities[-1], models["gru"].predict_images(image[None])[0], atol=1e-5
    )

    reading = client.explain_text(runs["text"], "a wonderful film")
    assert isinstance(reading, explain.WordReading) and reading.words == ("a", "wonderful", "film")
    assert "reads text" in client.explain_image(runs["text"], image)
    assert "reads images" in client.explain_text(runs["cnn"], "a wonderful film")
    assert "Unknown view" in client.explain_image(runs["cnn"], image, views=("bogus",))


def test_results_travel_as_json_and_arrays_only():
    reading = explain.RowReading(np.ones((28, 10), np.float32), np.zeros((28, 4), np.float32), "caption")
    structure, arrays = explain.pack({"rows": reading, "available": ("rows",), "predicted": np.int64(3)})
    assert [array.dtype.name for array in arrays] == ["float32", "float32"]
    back = explain.unpack(structure, arrays)
    assert back["predicted"] == 3 and back["available"] == ("rows",)
    np.testing.assert_array_equal(back["rows"].probabilities, reading.probabilities)
    with pytest.raises(ValueError, match="Unknown explanation type"):
        explain.unpack({"type": "os.system", "fields": {}}, [])
    with pytest.raises(TypeError):
        explain.pack({"model": object()})
