"""How well do MNIST models read canvas drawings, with and without `prepare_digit`?

MNIST test digits are redrawn the way people draw on the app's 280x280 canvas: each digit is
thinned to its centre line and drawn again with a round pen, either a thin 1-2 px pen or a
25 px marker, so that the drawing's longer side spans a random 30 % to 100 % of the canvas,
at a random place fully inside it; then painted dark on light, light on dark, or as
coloured strokes on a transparent background (as the canvas returns them). The same model
then reads the plain test digits, the drawings through `prepare_digit`, and the drawings
through a plain resize of the whole canvas.

Redrawing with a pen of even width costs about a point of accuracy by itself: MNIST's
strokes vary in width, a pen's do not.

Run `python -m bench.drawings` for a self-check with a small CNN trained for 2 epochs.
"""

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from core.preprocess import NotADigitError, plain_resize, prepare_digit

CANVAS_SIZE = 280
SCALE_RANGE = (0.3, 1.0)
THIN_WIDTHS = (1, 2)
THICK_WIDTH = 25
STYLES = ("dark_on_light", "light_on_dark", "transparent")
# The size at which a digit's centre line is first measured, to choose its final size.
_PROBE_SIZE = 112

_REPO_DATA = Path(__file__).resolve().parents[1] / "bundled_data" / "mnist-offline.npz"
_SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist-offline.npz"


def make_drawings(x_test: np.ndarray, seed: int = 0) -> list[np.ndarray]:
    """Redraw MNIST digits as they would come from a 280x280 drawing canvas.

    Args:
        x_test: MNIST digits, uint8 array of shape (N, 28, 28), ink 255.
        seed: Seed for the random size, position, stroke and colours.

    Returns:
        A list of N uint8 images of shape (280, 280, 3) (opaque) or (280, 280, 4)
        (coloured strokes on a transparent background).
    """
    drawings, _ = _make_drawings_with_kinds(x_test, seed)
    return drawings


def accuracy_report(
    predict_fn: Callable[[np.ndarray], np.ndarray],
    x_test: np.ndarray,
    y_test: np.ndarray,
    n: int = 1000,
    seed: int = 0,
) -> dict:
    """Measure a model's accuracy on plain MNIST digits and on canvas-like drawings of them.

    Args:
        predict_fn: Maps a float32 batch (N, 28, 28) in [0, 1] to N predicted class ids.
        x_test: MNIST test digits, uint8 (N, 28, 28).
        y_test: Their labels.
        n: How many digits to use (a random sample drawn with `seed`).
        seed: Seed for the sample and the drawings.

    Returns:
        A dict with `n`, the accuracies `plain`, `pipeline` (drawings through
        `prepare_digit`) and `plain_resize` (drawings resized whole), the pipeline's
        accuracy per stroke kind (`pipeline_thin`, `pipeline_thick`) and `rejected`, the
        number of drawings `prepare_digit` refused as not a digit (counted as wrong).
    """
    rng = np.random.default_rng(seed)
    indices = rng.choice(len(x_test), size=min(n, len(x_test)), replace=False)
    digits, labels = x_test[indices], np.asarray(y_test)[indices]
    drawings, kinds = _make_drawings_with_kinds(digits, seed)

    prepared, rejected = [], 0
    for drawing in drawings:
        try:
            prepared.append(prepare_digit(drawing))
        except NotADigitError:
            prepared.append(np.zeros((28, 28), np.float32))
            rejected += 1
    resized = [plain_resize(drawing) for drawing in drawings]

    plain_hits = np.asarray(predict_fn(digits.astype(np.float32) / 255.0)) == labels
    pipeline_hits = np.asarray(predict_fn(np.stack(prepared))) == labels
    resize_hits = np.asarray(predict_fn(np.stack(resized))) == labels
    thick = np.array([kind == "thick" for kind in kinds])
    return {
        "n": len(indices),
        "plain": _accuracy(plain_hits),
        "pipeline": _accuracy(pipeline_hits),
        "plain_resize": _accuracy(resize_hits),
        "pipeline_thin": _accuracy(pipeline_hits[~thick]),
        "pipeline_thick": _accuracy(pipeline_hits[thick]),
        "rejected": rejected,
    }


def _accuracy(hits: np.ndarray) -> float:
    """Fraction of hits, or NaN when there is nothing to count."""
    return float(hits.mean()) if hits.size else float("nan")


def _make_drawings_with_kinds(x_test: np.ndarray, seed: int) -> tuple[list[np.ndarray], list[str]]:
    """Return the drawings and, for each, its stroke kind ("thin" or "thick")."""
    rng = np.random.default_rng(seed)
    drawings, kinds = [], []
    for digit in x_test:
        kind = "thick" if rng.random() < 0.5 else "thin"
        width = THICK_WIDTH if kind == "thick" else int(rng.choice(THIN_WIDTHS))
        scale = rng.uniform(*SCALE_RANGE)
        strokes = _redraw_strokes(digit, scale, width)
        ink = _place_on_canvas(strokes, rng)
        drawings.append(_paint(ink, str(rng.choice(STYLES)), rng))
        kinds.append(kind)
    return drawings, kinds


def _redraw_strokes(digit: np.ndarray, scale: float, width: int) -> np.ndarray:
    """Redraw a digit with a round pen, `scale` of the canvas tall (or wide, if wider).

    The digit is upscaled, reduced to its one-pixel centre line, and the centre line is
    drawn again with a pen `width` pixels wide. Returns the cropped boolean stroke mask.
    """
    # The centre line's extent grows in proportion to the upscaled size: measure it once at
    # a small size, then upscale so that centre line plus pen spans the wanted size.
    wanted = max(1.0, scale * CANVAS_SIZE - (width - 1))
    size = max(28, round(_PROBE_SIZE * wanted / _longer_side(_centre_line(digit, _PROBE_SIZE))))
    strokes = _draw_with_pen(np.pad(_centre_line(digit, size), width // 2 + 1), width)
    strokes = _crop(strokes)
    if max(strokes.shape) > CANVAS_SIZE:
        # Rounding can overshoot the canvas by a few pixels: shrink to fit.
        shrink = CANVAS_SIZE / max(strokes.shape)
        size = (max(1, int(strokes.shape[1] * shrink)), max(1, int(strokes.shape[0] * shrink)))
        strokes = np.asarray(Image.fromarray(strokes).resize(size, Image.Resampling.NEAREST))
    return strokes


def _centre_line(digit: np.ndarray, size: int) -> np.ndarray:
    """Upscale a 28x28 digit to `size` and thin it to one-pixel lines."""
    frame = Image.fromarray(digit).resize((size, size), Image.Resampling.BILINEAR)
    return _skeletonize(np.asarray(frame) >= 128)


def _crop(mask: np.ndarray) -> np.ndarray:
    """Crop a boolean mask to the bounding box of its pixels."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _longer_side(mask: np.ndarray) -> int:
    """Longer side of the bounding box of a boolean mask's pixels."""
    return max(_crop(mask).shape)


def _skeletonize(mask: np.ndarray) -> np.ndarray:
    """Thin a boolean mask to one-pixel lines (Zhang-Suen thinning, vectorised)."""
    if not mask.any():
        return mask.copy()
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    work = np.pad(mask[top:bottom, left:right], 1).astype(np.uint8)
    inner = work[1:-1, 1:-1]
    changed = True
    while changed:
        changed = False
        for removable in _ZHANG_SUEN_TABLES:
            # Code each pixel's 8 neighbours, clockwise from the one above, as one byte.
            neighbours = (
                work[:-2, 1:-1],
                work[:-2, 2:],
                work[1:-1, 2:],
                work[2:, 2:],
                work[2:, 1:-1],
                work[2:, :-2],
                work[1:-1, :-2],
                work[:-2, :-2],
            )
            code = np.zeros(inner.shape, dtype=np.uint8)
            for bit, neighbour in enumerate(neighbours):
                code |= neighbour << bit
            remove = (inner == 1) & removable[code]
            if remove.any():
                inner[remove] = 0
                changed = True
    skeleton = np.zeros(mask.shape, dtype=bool)
    skeleton[top:bottom, left:right] = inner == 1
    return skeleton


def _zhang_suen_tables() -> tuple[np.ndarray, np.ndarray]:
    """For each byte of neighbours, whether Zhang-Suen's first or second pass removes it."""
    first, second = np.zeros(256, dtype=bool), np.zeros(256, dtype=bool)
    for code in range(256):
        p2, p3, p4, p5, p6, p7, p8, p9 = ((code >> bit) & 1 for bit in range(8))
        ring = (p2, p3, p4, p5, p6, p7, p8, p9, p2)
        count = sum(ring[:-1])
        transitions = sum(a == 0 and b == 1 for a, b in zip(ring[:-1], ring[1:], strict=True))
        if 2 <= count <= 6 and transitions == 1:
            first[code] = p2 * p4 * p6 == 0 and p4 * p6 * p8 == 0
            second[code] = p2 * p4 * p8 == 0 and p2 * p6 * p8 == 0
    return first, second


_ZHANG_SUEN_TABLES = _zhang_suen_tables()


def _draw_with_pen(centre_line: np.ndarray, width: int) -> np.ndarray:
    """Draw one-pixel lines again with a pen `width` pixels wide."""
    strokes = centre_line.copy()
    if width == 2:
        strokes[1:, :] |= centre_line[:-1, :]
        strokes[:, 1:] |= strokes[:, :-1].copy()
        return strokes
    # Each step grows the stroke by one pixel on each side; alternating a 3x3 square and
    # a cross makes the pen round.
    for step in range((width - 1) // 2):
        padded = np.pad(strokes, 1)
        grown = strokes.copy()
        shifts = [(0, 1), (1, 0), (1, 2), (2, 1)]
        if step % 2 == 0:
            shifts += [(0, 0), (0, 2), (2, 0), (2, 2)]
        for dy, dx in shifts:
            grown |= padded[dy : dy + strokes.shape[0], dx : dx + strokes.shape[1]]
        strokes = grown
    return strokes


def _place_on_canvas(strokes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Put the strokes at a random place fully inside the canvas; return ink in [0, 1].

    A slight blur stands in for the canvas's anti-aliasing.
    """
    canvas = np.zeros((CANVAS_SIZE, CANVAS_SIZE), dtype=np.uint8)
    top = int(rng.integers(0, CANVAS_SIZE - strokes.shape[0] + 1))
    left = int(rng.integers(0, CANVAS_SIZE - strokes.shape[1] + 1))
    canvas[top : top + strokes.shape[0], left : left + strokes.shape[1]] = strokes * 255
    smooth = Image.fromarray(canvas).filter(ImageFilter.GaussianBlur(radius=0.5))
    return np.asarray(smooth, dtype=np.float32) / 255.0


def _paint(ink: np.ndarray, style: str, rng: np.random.Generator) -> np.ndarray:
    """Colour an ink map as the canvas would return it in the given style."""
    alpha = ink[:, :, np.newaxis]
    if style == "transparent":
        pen = rng.integers(0, 256, size=3)
        rgb = np.where(alpha > 0, pen, 0)
        return np.concatenate([rgb, alpha * 255], axis=2).round().astype(np.uint8)
    if style == "dark_on_light":
        paper, pen = rng.integers(200, 256, size=3), rng.integers(0, 80, size=3)
    else:
        paper, pen = rng.integers(0, 50, size=3), rng.integers(200, 256, size=3)
    rgb = paper * (1.0 - alpha) + pen * alpha + rng.normal(0.0, 2.0, size=alpha.shape)
    return np.clip(rgb, 0, 255).round().astype(np.uint8)


def _load_mnist() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The repository's offline MNIST copy (or the shared one): x_train, y_train, x_test, y_test."""
    path = _REPO_DATA if _REPO_DATA.exists() else _SHARED_DATA
    with np.load(path) as data:
        return data["x_train"], data["y_train"], data["x_test"], data["y_test"]


def _train_quick_cnn(x_train: np.ndarray, y_train: np.ndarray, epochs: int = 2):
    """Train a small CNN on the given digits, for the self-check only."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(32, kernel_size=3, activation="relu"),
            layers.MaxPooling2D(pool_size=2),
            layers.Conv2D(64, kernel_size=3, activation="relu"),
            layers.MaxPooling2D(pool_size=2),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train[..., np.newaxis] / 255.0, y_train, batch_size=32, epochs=epochs, verbose=2)
    return model


def main() -> None:
    """Train a quick CNN and print its accuracy on plain digits and on drawings."""
    x_train, y_train, x_test, y_test = _load_mnist()
    model = _train_quick_cnn(x_train, y_train)

    def predict(batch: np.ndarray) -> np.ndarray:
        return model.predict(batch[..., np.newaxis], verbose=0).argmax(axis=1)

    started = time.perf_counter()
    report = accuracy_report(predict, x_test, y_test, n=1000, seed=0)
    seconds = time.perf_counter() - started
    print(f"digits: {report['n']} (report took {seconds:.1f} s)")
    print(f"plain test digits:          {report['plain']:.3f}")
    print(f"drawings, prepare_digit:    {report['pipeline']:.3f}")
    print(f"  thin strokes:             {report['pipeline_thin']:.3f}")
    print(f"  thick strokes:            {report['pipeline_thick']:.3f}")
    print(f"drawings, plain resize:     {report['plain_resize']:.3f}")
    print(f"refused as not a digit:     {report['rejected']}")


if __name__ == "__main__":
    main()
