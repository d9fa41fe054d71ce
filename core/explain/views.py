"""Every "Inside the model" view of one image or review in one call: what the model
reader computes for the Draw and Text pages."""

from __future__ import annotations

import numpy as np

from core.explain.attributions import class_logits, grad_cam, integrated_gradients
from core.explain.digit_map import map_view
from core.explain.inside import dense_units, feature_maps, first_layer_filters, reads_row_by_row, row_reading
from core.explain.model_parts import family_of
from core.explain.results import DigitMap, WordReading
from core.explain.words import read_review

# Each image view and the model families that have it.
IMAGE_VIEWS = {
    "attribution": ("cnn", "dense", "recurrent"),
    "grad_cam": ("cnn",),
    "hires_cam": ("cnn",),
    "feature_maps": ("cnn",),
    "filters": ("cnn",),
    "dense_units": ("dense",),
    "rows": ("recurrent",),
    "map": ("cnn", "dense", "recurrent"),
}


def available_views(model) -> tuple[str, ...]:
    """Returns the names of the image views this model has (see `IMAGE_VIEWS`)."""
    family = family_of(model)
    names = [name for name, families in IMAGE_VIEWS.items() if family in families]
    return tuple(name for name in names if name != "rows" or reads_row_by_row(model))


def explain_image(
    model,
    image: np.ndarray,
    target: int | None = None,
    views: tuple[str, ...] | None = None,
    digit_map: DigitMap | None = None,
) -> dict:
    """Returns the views of one image that the model has, or those asked for.

    Args:
        model: a trained digit model (`Predictor.model`).
        image: (28, 28) in [0, 1], as the model reads it.
        target: the class the attributions explain; None for the predicted class
            ("why not a 9?" passes 9).
        views: names from `IMAGE_VIEWS`; None for every view the model has. Views
            this model does not have are left out.
        digit_map: the run's map (`digit_map_for_run`); the "map" view needs it.

    Returns:
        A dict with "probabilities" ((classes,) float32), "predicted" (int),
        "target" (int), "available" (the view names this model has) and one entry
        per view computed: "attribution", "grad_cam" and "hires_cam" (`Attribution`),
        "feature_maps" (a tuple of `LayerMaps`), "filters" (`Filters`),
        "dense_units" (`DenseUnits`), "rows" (`RowReading`), "map" (`MapView`).

    Raises:
        ValueError: an unknown view name or a target outside the classes.
    """
    image = np.asarray(image, dtype=np.float32).reshape(28, 28)
    unknown = set(views or ()) - set(IMAGE_VIEWS)
    if unknown:
        raise ValueError(f"Unknown view '{sorted(unknown)[0]}'; choose from {', '.join(IMAGE_VIEWS)}.")
    logits = class_logits(model, image)[0]
    if target is not None and not 0 <= int(target) < len(logits):
        raise ValueError(f"There is no class {target}: choose one from 0 to {len(logits) - 1}.")
    probabilities = np.exp(logits - logits.max())
    predicted = int(logits.argmax())
    target = predicted if target is None else int(target)
    available = available_views(model)
    chosen = [name for name in (views or available) if name in available]
    result = {
        "probabilities": (probabilities / probabilities.sum()).astype(np.float32),
        "predicted": predicted,
        "target": target,
        "available": available,
    }
    compute = {
        "attribution": lambda: integrated_gradients(model, image, target),
        "grad_cam": lambda: grad_cam(model, image, target),
        "hires_cam": lambda: grad_cam(model, image, target, method="HiResCAM"),
        "feature_maps": lambda: feature_maps(model, image),
        "filters": lambda: first_layer_filters(model),
        "dense_units": lambda: dense_units(model, image),
        "rows": lambda: row_reading(model, image),
        "map": lambda: map_view(model, digit_map, image) if digit_map is not None else None,
    }
    for name in chosen:
        view = compute[name]()
        if view is not None:
            result[name] = view
    return result


def explain_text(model, vocabulary: list[str], text: str, max_words: int) -> WordReading:
    """Returns a sentiment model's verdict on a review, word by word (see `read_review`)."""
    return read_review(model, vocabulary, text, max_words)
