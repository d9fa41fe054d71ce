"""Digits drawn as on the canvas, from no MNIST image: hand-like strokes from a few
moved points, and boxy seven-segment-like digits of straight strokes and sharp corners.

Each is drawn on the app's 280x280 canvas, light on dark, at a random size and place,
with an aspect ratio from narrow (0.35) to wide (1.6), a slant of up to 15 degrees either
way, and a thin pen (4-10 px) or a marker (18-30 px). Augmented training mixes some in
(`drawn_training_digits`), drawn with other random numbers than the drawing-styles bench
(bench/drawing_styles.py), which also reads digits of fonts that no training sees.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from PIL import Image, ImageDraw

from core.preprocess import prepare_digit

CANVAS = 280
ASPECTS = (0.35, 1.6)
SLANT_DEGREES = 15
THIN_PEN, MARKER = (4, 10), (18, 30)
STYLES = ("stroke", "segment")

# Strokes as a person draws each digit, in a unit box (x right, y down); a digit may
# have several ways, a way several strokes.
HAND_STROKES = {
    0: [[[(0.5, 0), (0.12, 0.2), (0.05, 0.6), (0.35, 1), (0.75, 0.95), (0.95, 0.5), (0.8, 0.1), (0.5, 0)]]],
    1: [[[(0.5, 0), (0.5, 1)]], [[(0.25, 0.25), (0.55, 0), (0.55, 1)]]],
    2: [[[(0.1, 0.25), (0.35, 0.02), (0.75, 0.05), (0.88, 0.3), (0.6, 0.6), (0.1, 1), (0.95, 0.98)]]],
    3: [[[(0.1, 0.1), (0.5, 0), (0.85, 0.2), (0.45, 0.48), (0.9, 0.72), (0.55, 1), (0.1, 0.9)]]],
    4: [
        [[(0.7, 1), (0.7, 0), (0.05, 0.7), (0.95, 0.7)]],
        [[(0.2, 0), (0.1, 0.6), (0.9, 0.6)], [(0.7, 0.15), (0.7, 1)]],
    ],
    5: [[[(0.85, 0), (0.2, 0.02), (0.15, 0.45), (0.6, 0.38), (0.92, 0.65), (0.6, 1), (0.1, 0.9)]]],
    6: [[[(0.8, 0), (0.4, 0.1),
        (0.12, 0.6), (0.3, 0.97), (0.72, 0.95), (0.88, 0.7), (0.6, 0.5), (0.15, 0.6)]]],
    7: [
        [[(0.05, 0), (0.95, 0), (0.4, 1)]],
        [[(0.05, 0), (0.95, 0), (0.4, 1)], [(0.3, 0.5), (0.8, 0.5)]],
    ],
    8: [[[(0.5, 0.48), (0.15, 0.25), (0.5, 0), (0.85, 0.25), (0.5, 0.48),
          (0.1, 0.75), (0.5, 1), (0.9, 0.75), (0.5, 0.48)]]],
    9: [
        [[(0.85, 0.3), (0.5, 0), (0.15, 0.25), (0.4, 0.5), (0.85, 0.3), (0.8, 1)]],
        [[(0.85, 0.3), (0.5, 0), (0.15, 0.25), (0.4, 0.5), (0.85, 0.3), (0.85, 0.8), (0.5, 1), (0.2, 0.9)]],
    ],
}  # fmt: skip
# Seven segments: top, upper right, lower right, bottom, lower left, upper left, middle.
SEGMENT_ENDS = {
    "a": ((0, 0), (1, 0)), "b": ((1, 0), (1, 0.5)), "c": ((1, 0.5), (1, 1)), "d": ((0, 1), (1, 1)),
    "e": ((0, 0.5), (0, 1)), "f": ((0, 0), (0, 0.5)), "g": ((0, 0.5), (1, 0.5)),
}  # fmt: skip
SEGMENT_DIGITS = {
    0: ["abcdef"], 1: ["bc"], 2: ["abged"], 3: ["abgcd"], 4: ["fgbc"], 5: ["afgcd"],
    6: ["afgedc", "fgedc"], 7: ["abc", "fabc"], 8: ["abcdefg"], 9: ["abcdfg", "abcfg"],
}  # fmt: skip


def digit_box(rng: np.random.Generator) -> tuple[float, float, float, float, float]:
    """A random place for one digit: left, top, width, height (canvas pixels) and the
    aspect ratio (width / height) it was drawn with."""
    aspect = float(np.exp(rng.uniform(*np.log(ASPECTS))))
    height = rng.uniform(0.35, 0.85) * CANVAS
    width = min(height * aspect, 0.9 * CANVAS)
    left = rng.uniform(0.05 * CANVAS, 0.95 * CANVAS - width)
    top = rng.uniform(0.05 * CANVAS, 0.95 * CANVAS - height)
    return left, top, width, height, width / height


def to_canvas(points, box, slant: float) -> list[tuple[float, float]]:
    """Unit-box points placed in `box`, slanted (x moves right as y goes up)."""
    left, top, width, height, _ = box
    shear = math.tan(math.radians(slant))
    return [(left + x * width + (0.5 - y) * height * shear, top + y * height) for x, y in points]


def rounded(points: list, times: int = 2) -> list:
    """Chaikin's corner cutting: the same path with its corners rounded."""
    for _ in range(times):
        if len(points) < 3:
            return points
        cut = [points[0]]
        for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
            cut += [
                (0.75 * x0 + 0.25 * x1, 0.75 * y0 + 0.25 * y1),
                (0.25 * x0 + 0.75 * x1, 0.25 * y0 + 0.75 * y1),
            ]
        points = [*cut, points[-1]]
    return points


def pen_line(draw: ImageDraw.ImageDraw, points: list, width: int, round_ends: bool) -> None:
    """One stroke of a pen `width` wide; round ends and joints unless `round_ends` is False."""
    draw.line(points, fill=255, width=width, joint="curve" if round_ends else None)
    if round_ends:
        radius = width / 2
        for x, y in (points[0], points[-1]):
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)


def hand_drawing(digit: int, rng: np.random.Generator, pen: int, box, slant: float) -> Image.Image:
    """A digit as a person draws it: template points moved at random, corners rounded
    (three times in four) or left sharp."""
    image = Image.new("L", (CANVAS, CANVAS), 0)
    draw = ImageDraw.Draw(image)
    way = HAND_STROKES[digit][rng.integers(len(HAND_STROKES[digit]))]
    smooth = rng.random() < 0.75
    for stroke in way:
        moved = [(x + rng.normal(0, 0.035), y + rng.normal(0, 0.035)) for x, y in stroke]
        points = to_canvas(rounded(moved) if smooth else moved, box, slant)
        pen_line(draw, points, pen, round_ends=True)
    return image


def segment_drawing(digit: int, rng: np.random.Generator, pen: int, box, slant: float) -> Image.Image:
    """A boxy digit of straight segments with square ends and sharp corners."""
    image = Image.new("L", (CANVAS, CANVAS), 0)
    draw = ImageDraw.Draw(image)
    segments = SEGMENT_DIGITS[digit][rng.integers(len(SEGMENT_DIGITS[digit]))]
    for name in segments:
        start, end = SEGMENT_ENDS[name]
        line = to_canvas([start, end], box, slant)
        draw.line(line, fill=255, width=pen)
        half = pen / 2  # Square ends, so two segments meet in a sharp corner.
        for x, y in line:
            draw.rectangle((x - half, y - half, x + half, y + half), fill=255)
    return image


def random_place_and_pen(rng: np.random.Generator) -> tuple[tuple, float, bool, int]:
    """A random place, slant and pen for one drawing: (box, slant, marker?, pen width)."""
    box = digit_box(rng)
    slant = rng.uniform(-SLANT_DEGREES, SLANT_DEGREES)
    marker = rng.random() < 0.5
    pen = int(rng.integers(*(MARKER if marker else THIN_PEN), endpoint=True))
    return box, slant, marker, pen


def drawn_digit(style: str, digit: int, rng: np.random.Generator) -> Image.Image:
    """One digit drawn in `style` ("stroke" or "segment") at a random place and pen."""
    box, slant, _, pen = random_place_and_pen(rng)
    draw = hand_drawing if style == "stroke" else segment_drawing
    return draw(digit, rng, pen, box, slant)


@functools.lru_cache(maxsize=2)
def drawn_training_digits(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` drawn digits, every digit and style in turn, prepared as the Draw page
    prepares a drawing: uint8 28x28 images (0-255, as MNIST's) and their labels, read-only.

    The random numbers come from (seed, 1): never the bench's, which uses seed 0 alone.
    Kept for the next run of the same worker (a thousand take about 5 s to draw).
    """
    rng = np.random.default_rng([seed, 1])
    labels = np.arange(count) % 10
    images = [
        prepare_digit(np.asarray(drawn_digit(STYLES[(i // 10) % 2], int(label), rng)))
        for i, label in enumerate(labels)
    ]
    drawn = (np.stack(images) * 255).round().astype(np.uint8), labels.astype(np.uint8)
    for array in drawn:
        array.setflags(write=False)
    return drawn
