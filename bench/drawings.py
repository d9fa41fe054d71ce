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

    python -m bench.drawings [--run RUN_ID ...] [--n 1000]

reads every completed MNIST run in the store (DIGITLAB_HOME), or the runs named.
"""

import argparse
from collections.abc import Callable

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


def digit_runs(store, run_ids: list[int] | None):
    """Returns the store's completed MNIST runs, or only those of `run_ids` (when given)."""
    runs = store.runs_table(dataset="mnist", status="completed")
    return runs[runs["id"].isin(run_ids)] if run_ids else runs


def main() -> None:
    """Prints, for each completed MNIST run in the store (or those named with --run),
    its accuracy on the plain test digits and on canvas-like drawings of them, read
    through `prepare_digit` and through a plain resize."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", type=int, action="append", help="a run id (repeatable); default: all")
    parser.add_argument("--n", type=int, default=1000, help="test digits to redraw")
    args = parser.parse_args()

    from core.datasets import load_dataset
    from core.predict import load_predictor
    from core.store import RunStore

    store = RunStore()
    runs = digit_runs(store, args.run)
    data = load_dataset("mnist")
    print(f"{data.describe()}; {args.n} test digits redrawn as 280x280 canvas drawings (seed 0)")
    header = ("run", "name", "plain", "pipeline", "thin", "thick", "resize", "refused")
    print("{:>4} {:22} {:>6} {:>8} {:>6} {:>6} {:>6} {:>7}".format(*header))
    for run in runs.itertuples():
        predictor = load_predictor(store, run.id)

        def predict(batch: np.ndarray, predictor=predictor) -> np.ndarray:
            return predictor.predict_images(batch).argmax(axis=1)

        report = accuracy_report(predict, data.x_test, data.y_test, n=args.n, seed=0)
        print(
            f"{run.id:>4} {run.name[:22]:22} {report['plain']:>6.3f} {report['pipeline']:>8.3f} "
            f"{report['pipeline_thin']:>6.3f} {report['pipeline_thick']:>6.3f} "
            f"{report['plain_resize']:>6.3f} {report['rejected']:>7}"
        )


if __name__ == "__main__":
    main()
