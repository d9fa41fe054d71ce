"""Parameter counts before training, and the messages bad configs give."""

import pytest

from core.architecture import count_params, summarise, validate
from core.config import LayerSpec, RunConfig
from core.presets import PRESET_LIST, family_layers, get_preset


def test_every_preset_counts_its_parameters_as_keras_does():
    from core.models import build_model

    for preset in PRESET_LIST:
        assert validate(preset.config) == build_model(preset.config).count_params(), preset.name


def test_reference_cnn_has_the_published_parameter_count():
    assert count_params(get_preset("CNN 3-conv").config) == 93_322


OUTPUT = "Dense 10 (output) softmax"
# Layer by layer, batch size and epochs, as ../shared/reference-models.md describes them.
REFERENCE_MODELS = {
    "DNN 128-128": (["Flatten", "Dense 128 relu", "Dense 128 relu", OUTPUT], 32, 5),
    "Stacked LSTM": (
        ["LSTM 128 relu (sequences)", "Dropout 0.2", "LSTM 128 relu", "Dropout 0.2"]
        + ["Dense 32 relu", "Dropout 0.2", OUTPUT],
        32,
        5,
    ),
    "Small CNN": (
        ["Reshape to 28x28x1", "Conv2D 32 3x3", "MaxPool 2x2", "Flatten", "Dense 100 relu", OUTPUT],
        32,
        5,
    ),
    "CNN 2-conv": (
        ["Reshape to 28x28x1", "Conv2D 32 3x3 relu", "MaxPool 2x2", "Conv2D 64 3x3 relu", "MaxPool 2x2"]
        + ["Flatten", "Dense 128 relu", OUTPUT],
        64,
        5,
    ),
    "LSTM 50": (["LSTM 50 relu", OUTPUT], 64, 5),
    "MLP 512-512": (
        ["Flatten", "Dense 512 relu", "Dropout 0.2", "Dense 512 relu", "Dropout 0.2", OUTPUT],
        128,
        5,
    ),
    "MLP 32": (["Flatten", "Dense 32 relu", OUTPUT], 32, 20),
    "CNN 3-conv": (
        ["Reshape to 28x28x1", "Conv2D 32 3x3 relu", "MaxPool 2x2", "Conv2D 64 3x3 relu", "MaxPool 2x2"]
        + ["Conv2D 64 3x3 relu", "Flatten", "Dense 64 relu", OUTPUT],
        32,
        10,
    ),
    "SimpleRNN sentiment": (
        ["Embedding 128 (padding masked)", "SimpleRNN 128 tanh", "Dense 1 (output) sigmoid"],
        64,
        5,
    ),
}


@pytest.mark.parametrize("name", REFERENCE_MODELS)
def test_reference_presets_train_exactly_as_published(name):
    preset = get_preset(name)
    config = preset.config
    layers, batch_size, epochs = REFERENCE_MODELS[name]
    assert [row.label for row in summarise(config)] == layers
    assert (config.batch_size, config.epochs) == (batch_size, epochs)
    assert (config.optimizer, config.learning_rate, config.lr_schedule) == ("adam", 1e-3, "constant")
    assert not config.augment, "published models trained on the digits as they are"
    assert preset.reference


def test_every_reference_model_has_its_preset():
    assert {preset.name for preset in PRESET_LIST if preset.reference} == set(REFERENCE_MODELS)


def test_the_sentiment_reference_reads_reviews_padded_to_500_words():
    assert get_preset("SimpleRNN sentiment").config.max_words == 500


@pytest.mark.parametrize("family", ["dense", "cnn", "simplernn", "lstm", "gru"])
@pytest.mark.parametrize("dataset", ["mnist", "sentiment"])
def test_family_builder_gives_a_valid_model(family, dataset):
    if dataset == "sentiment" and family == "cnn":
        pytest.skip("CNNs are for images")
    config = RunConfig(dataset=dataset, family=family, layers=family_layers(family, dataset, units=(32, 16)))
    assert validate(config) > 0
    assert summarise(config)[-1].output_shape == ((1,) if dataset == "sentiment" else (10,))


DENSE = (LayerSpec("dense", units=32),)
BAD_CONFIGS = [
    (dict(epochs=0), "Epochs must be between 1"),
    (dict(epochs=10_000), "Epochs must be between 1"),
    (dict(batch_size=0), "Batch size must be at least 1"),
    (dict(batch_size=100_000), "larger than the"),
    (dict(learning_rate=0), "Learning rate must be greater than 0"),
    (dict(learning_rate=-0.1), "Learning rate must be greater than 0"),
    (
        dict(layers=(LayerSpec("dense", units=8), LayerSpec("dropout", rate=1.0))),
        "dropout rate must be in [0, 1)",
    ),
    (dict(layers=(LayerSpec("dropout", rate=-0.1),)), "dropout rate must be in [0, 1)"),
    (dict(layers=()), "no layers"),
    (dict(layers=(LayerSpec("dense", units=1),) * 2000), "2,000 layers, over the 100 allowed"),
    (
        dict(family="cnn", layers=(LayerSpec("conv", filters=8, kernel_size=30),)),
        "larger than its 28x28 input",
    ),
    (
        dict(
            family="cnn",
            layers=tuple(LayerSpec(k, filters=8, kernel_size=1) for k in ["conv", "maxpool"] * 5),
        ),
        "too small to pool",
    ),
    (dict(layers=(LayerSpec("dense", units=8000), LayerSpec("dense", units=8000))), "parameters, over the"),
    (dict(family="lstm", layers=DENSE), "needs at least one lstm layer"),
    (dict(layers=(LayerSpec("dense", units=0),)), "units must be at least 1"),
    (dict(validation_split=0.0), "Validation split"),
    (dict(dataset="cifar"), "Unknown dataset"),
    (dict(optimizer="magic"), "Unknown optimizer"),
    (dict(dataset="sentiment", family="cnn"), "sentiment models are Dense (MLP) or SimpleRNN or LSTM or GRU"),
    (dict(dataset="sentiment"), "starts with an Embedding layer"),
    (dict(max_words=0), "at least 1 word"),
]


@pytest.mark.parametrize("changes, message", BAD_CONFIGS)
def test_bad_config_gives_a_message_a_user_can_act_on(changes, message):
    config = RunConfig(family="dense", layers=DENSE).with_changes(**changes)
    with pytest.raises(ValueError) as raised:
        validate(config)
    assert message in str(raised.value)


def test_limit_makes_a_large_batch_invalid():
    config = get_preset("DNN 128-128").config.with_changes(limit=100, batch_size=128)
    with pytest.raises(ValueError, match="larger than the 90 training items"):
        validate(config)


def test_config_survives_a_round_trip_through_json():
    config = get_preset("Stacked LSTM").config
    assert RunConfig.from_json(config.to_json()) == config


def test_augmentation_draws_digits_only():
    """It imitates other pens and hands: a digit model gets it, the same model on
    Fashion-MNIST trains on the clothes as they are, and its checkbox says why."""
    best = get_preset("Best CNN").config
    assert "Augment (training only)" in [row.label for row in summarise(best)]
    on_clothes = [row.label for row in summarise(best.with_changes(dataset="fashion_mnist"))]
    assert "Augment (training only)" not in on_clothes
    assert count_params(best.with_changes(dataset="fashion_mnist")) == count_params(best)
