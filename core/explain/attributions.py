"""Where the model looked: attribution heatmaps over the 28x28 image it sees.

Integrated gradients (Sundararajan et al., 2017) works for every image model: it
follows a straight path from a blank image to the drawing and adds up the gradients
of the class's logit along it, so the map sums to the logit's change (completeness).
Grad-CAM (Selvaraju et al., 2017) weighs the last convolution's feature maps by the
gradient of the class's logit, for CNNs; HiResCAM (Draelos and Carin, 2020) multiplies
them cell by cell. Both are coarser (one value per cell of that layer), placed over the
pixels each cell sees. `bench/explain.py` measures how faithful each is.
"""

from __future__ import annotations

import numpy as np

from core.config import IMAGE_SHAPE
from core.explain.model_parts import (
    cached_function,
    convolution_indices,
    image_logits,
    kind_of,
    logits_from_hidden,
    run_layers,
)
from core.explain.results import Attribution

IG_STEPS = 64  # Points on the path (Gauss-Legendre); 4 times as many where those fall short:
COMPLETENESS_TOLERANCE = 0.05  # a map must sum to its logit's change within 5 % of (|change| + 1).
CAM_METHODS = ("Grad-CAM", "HiResCAM")
MAX_PATH_BATCH = 512  # Path images per compiled call, to bound memory.


def class_logits(model, images: np.ndarray) -> np.ndarray:
    """Returns the class logits (N, classes) of images (N, 28, 28) in [0, 1]."""
    logits = cached_function(model, "logits", lambda: _compile_logits(model))
    return logits(_as_images(images)).numpy()


def integrated_gradients(model, image: np.ndarray, target: int | None = None, steps: int = IG_STEPS):
    """Returns the integrated-gradients map of one image for a class.

    Args:
        model: a trained digit model (`Predictor.model`).
        image: (28, 28) in [0, 1], as the model reads it.
        target: the class to explain; None for the predicted class.
        steps: points on the path from the blank image to this one.

    Returns:
        An `Attribution`: positive pixels raise the class's logit, negative ones
        lower it; the map sums to the logit's change from the blank image.
    """
    image = _as_images(image)
    targets = None if target is None else np.array([target])
    maps, scores, baselines, targets = integrated_gradients_batch(model, image, targets, steps)
    target = int(targets[0])
    caption = (
        f"Red pixels pushed the model towards {target}, blue ones away from it "
        "(integrated gradients, from a blank image to your drawing)."
    )
    return Attribution(
        "integrated gradients", target, maps[0], float(scores[0]), float(baselines[0]), caption
    )


def integrated_gradients_batch(
    model, images: np.ndarray, targets: np.ndarray | None = None, steps: int = IG_STEPS
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Returns integrated-gradients maps of many images at once (for benchmarks).

    Args:
        model: a trained digit model.
        images: (N, 28, 28) in [0, 1].
        targets: (N,) classes to explain; None for each image's predicted class.
        steps: points on each path.

    Returns:
        The maps (N, 28, 28), each image's logit for its target, the blank image's
        logit for that target, and the targets. Each map sums to the logit's change
        within `COMPLETENESS_TOLERANCE`, or is integrated again with 4 times the steps
        (on Best CNN, 64 steps fall short for about one digit in five).
    """
    images = _as_images(images)
    logits = class_logits(model, images)
    targets = logits.argmax(axis=1) if targets is None else np.asarray(targets, dtype=np.int64)
    baseline = class_logits(model, np.zeros((1, *IMAGE_SHAPE), np.float32))[0]
    scores, baseline_scores = logits[np.arange(len(images)), targets], baseline[targets]
    maps = _integrate(model, images, targets, steps)
    change = scores - baseline_scores
    short = np.abs(maps.sum(axis=(1, 2)) - change) > COMPLETENESS_TOLERANCE * (np.abs(change) + 1)
    if short.any():
        maps[short] = _integrate(model, images[short], targets[short], 4 * steps)
    return maps, scores, baseline_scores, targets


def _integrate(model, images: np.ndarray, targets: np.ndarray, steps: int) -> np.ndarray:
    """Returns the integrated gradients of images for targets along `steps` points."""
    alphas, weights = path_points(steps)
    gradients = cached_function(model, "gradients", lambda: _compile_gradients(model))
    per_call = max(1, MAX_PATH_BATCH // steps)
    maps = np.empty_like(images)
    for start in range(0, len(images), per_call):
        chunk = images[start : start + per_call]
        path = (alphas[None, :, None, None] * chunk[:, None]).reshape(-1, *IMAGE_SHAPE)
        path_targets = np.repeat(targets[start : start + per_call], steps).astype(np.int32)
        grads = gradients(path, path_targets).numpy().reshape(len(chunk), steps, *IMAGE_SHAPE)
        maps[start : start + per_call] = chunk * np.tensordot(weights, grads, axes=([0], [1]))
    return maps


def grad_cam(model, image: np.ndarray, target: int | None = None, method: str = "Grad-CAM") -> Attribution:
    """Returns the Grad-CAM map of one image on the model's last convolution.

    Args:
        model: a trained CNN (`Predictor.model`).
        image: (28, 28) in [0, 1].
        target: the class to explain; None for the predicted class.
        method: "Grad-CAM" weighs each feature map by its gradient averaged over the
            map; "HiResCAM" (Draelos and Carin, 2020) multiplies maps and gradients
            cell by cell, which stays faithful when a Flatten and Dense layers (not
            an average) follow the convolutions, as in every Digit Lab CNN.

    Returns:
        An `Attribution` of zero or positive values: where the last convolution saw
        evidence for the class, each cell spread over the pixels at its centre.

    Raises:
        ValueError: the model has no convolution.
    """
    image = _as_images(image)
    targets = None if target is None else np.array([target])
    maps, scores, targets = grad_cam_batch(model, image, targets, method)
    target = int(targets[0])
    caption = (
        f"Where the last convolution found evidence for {target} ({method}: coarser than integrated "
        "gradients, one value per cell of that layer)."
    )
    return Attribution(method, target, maps[0], float(scores[0]), 0.0, caption)


def grad_cam_batch(
    model, images: np.ndarray, targets: np.ndarray | None = None, method: str = "Grad-CAM"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns Grad-CAM (or HiResCAM) maps (N, 28, 28) of many images, their targets'
    logits and the targets (None: each image's predicted class).

    Raises:
        ValueError: the model has no convolution, or an unknown method.
    """
    if method not in CAM_METHODS:
        raise ValueError(f"Unknown method '{method}'; choose one of {', '.join(CAM_METHODS)}.")
    if not convolution_indices(model):
        raise ValueError("Grad-CAM needs a convolution layer: this model has none.")
    images = _as_images(images)
    logits = class_logits(model, images)
    targets = logits.argmax(axis=1) if targets is None else np.asarray(targets, dtype=np.int64)
    cam = cached_function(model, method, lambda: _compile_grad_cam(model, method))
    offset, scale = cell_centres(model, last_convolution_block(model))
    maps = []
    for start in range(0, len(images), MAX_PATH_BATCH):
        cells = cam(
            images[start : start + MAX_PATH_BATCH], targets[start : start + MAX_PATH_BATCH].astype(np.int32)
        )
        maps.append(cells_to_pixels(cells.numpy(), offset, scale))
    return np.concatenate(maps), logits[np.arange(len(images)), targets], targets


def last_convolution_block(model) -> int:
    """Returns the position of the last convolution's block output in `model.layers`:
    the convolution, or the batch norm right after it.

    Grad-CAM reads the features the rest of the model reads. A convolution followed by
    batch norm hands on its maps rescaled per channel, some by a negative factor; on
    the raw convolution output those channels' evidence counts against the class, and
    on Best CNN 43 % of the maps came out empty.
    """
    last = convolution_indices(model)[-1]
    following = kind_of(model.layers[last + 1]) if last + 1 < len(model.layers) else None
    return last + 1 if following is not None and following.name == "batchnorm" else last


def cell_centres(model, last: int) -> tuple[float, float]:
    """Returns where the cells of layer `last`'s output sit on the image: cell i's
    receptive field is centred on pixel `offset + scale * i` (rows and columns)."""
    offset, scale = 0.0, 1.0
    for layer in model.layers[: last + 1]:
        window = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
        if window is None:
            continue
        if layer.padding == "valid":
            offset += scale * (window[0] - 1) / 2
        scale *= layer.strides[0]
    return offset, scale


def cells_to_pixels(cells: np.ndarray, offset: float, scale: float) -> np.ndarray:
    """Spreads (N, H, W) cell values over (N, 28, 28) pixels, interpolating linearly
    between cell centres (and holding the edge value beyond the outer ones)."""
    size = IMAGE_SHAPE[0]
    coordinates = np.clip((np.arange(size) - offset) / scale, 0, cells.shape[1] - 1)
    low = np.floor(coordinates).astype(int)
    high = np.minimum(low + 1, cells.shape[1] - 1)
    fraction = (coordinates - low).astype(np.float32)
    rows = cells[:, low, :] * (1 - fraction)[None, :, None] + cells[:, high, :] * fraction[None, :, None]
    return rows[:, :, low] * (1 - fraction)[None, None, :] + rows[:, :, high] * fraction[None, None, :]


def path_points(steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Returns Gauss-Legendre points on [0, 1] and their weights (summing to 1)."""
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    return ((nodes + 1) / 2).astype(np.float32), (weights / 2).astype(np.float32)


def _as_images(images) -> np.ndarray:
    return np.asarray(images, dtype=np.float32).reshape(-1, *IMAGE_SHAPE)


def _image_spec():
    import tensorflow as tf

    return tf.TensorSpec((None, *IMAGE_SHAPE), tf.float32), tf.TensorSpec((None,), tf.int32)


def _compile_logits(model):
    import tensorflow as tf

    return tf.function(lambda images: image_logits(model, images), input_signature=[_image_spec()[0]])


def _compile_gradients(model):
    import tensorflow as tf

    def gradients(images, targets):
        with tf.GradientTape() as tape:
            tape.watch(images)
            chosen = tf.gather(image_logits(model, images), targets, batch_dims=1)
        return tape.gradient(chosen, images)

    return tf.function(gradients, input_signature=list(_image_spec()))


def _compile_grad_cam(model, method: str):
    import tensorflow as tf

    last = last_convolution_block(model)

    def cam(images, targets):
        with tf.GradientTape() as tape:
            features, _ = run_layers(model.layers[: last + 1], images)
            tape.watch(features)
            hidden, _ = run_layers(model.layers[last + 1 : -1], features)
            chosen = tf.gather(logits_from_hidden(model, hidden), targets, batch_dims=1)
        gradients = tape.gradient(chosen, features)
        if method == "HiResCAM":
            return tf.nn.relu(tf.reduce_sum(gradients * features, axis=-1))
        weights = tf.reduce_mean(gradients, axis=(1, 2))
        return tf.nn.relu(tf.einsum("nhwc,nc->nhw", features, weights))

    return tf.function(cam, input_signature=list(_image_spec()))
