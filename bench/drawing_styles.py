"""How well do MNIST models read digits drawn in styles MNIST barely has?

The digits here come from no MNIST image, so no model has trained on them:

- `stroke`: each digit as a person draws it, from a few points per digit (two ways to
  draw a 1, a 4, a 7 and a 9), every point moved at random, the corners rounded or
  left sharp;
- `segment`: boxy, seven-segment-like digits of straight strokes and sharp corners
  (a 6 with or without its top bar, a 7 with or without a hook, a 9 with or without
  its bottom bar);
- `font`: the digits of the TrueType fonts Debian ships (DejaVu, Liberation: regular,
  bold, italic, condensed), where installed.

Each is drawn on the app's 280x280 canvas, light on dark as the canvas returns it, at
a random size and place, with an aspect ratio from narrow (0.35) to wide (1.6), a
slant of up to 15 degrees either way, and a thin pen (4-10 px) or a marker (18-30 px);
then it goes through the app's `prepare_digit` and the model reads it. The report
gives the accuracy per source, per aspect (narrow < 0.6 <= normal <= 1.1 < wide) and
per pen, with the count of each cell.

    python -m bench.drawing_styles [--run RUN_ID ...] [--per-digit 60]
"""

from __future__ import annotations

import argparse
import glob
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from bench.drawings import digit_runs
from core.preprocess import NotADigitError, prepare_digit

CANVAS = 280
ASPECTS = (0.35, 1.6)
SLANT_DEGREES = 15
THIN_PEN, MARKER = (4, 10), (18, 30)
FONT_PATTERNS = ("/usr/share/fonts/truetype/dejavu/*.ttf", "/usr/share/fonts/truetype/liberation*/*.ttf")
SKIPPED_FONTS = ("Math", "Symbol")

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


def font_drawing(font_path: str, digit: int, box, slant: float) -> Image.Image:
    """A font's digit stretched into `box` and slanted."""
    font = ImageFont.truetype(font_path, 200)
    glyph = Image.new("L", (300, 300), 0)
    ImageDraw.Draw(glyph).text((150, 150), str(digit), font=font, fill=255, anchor="mm")
    glyph = glyph.crop(glyph.getbbox())
    left, top, width, height, _ = box
    glyph = glyph.resize((max(1, round(width)), max(1, round(height))), Image.Resampling.BILINEAR)
    shear = math.tan(math.radians(slant))
    glyph = glyph.transform(
        (glyph.width + round(abs(shear) * glyph.height), glyph.height),
        Image.Transform.AFFINE,
        (1, shear, -shear * glyph.height if shear > 0 else 0, 0, 1, 0),
        Image.Resampling.BILINEAR,
    )
    image = Image.new("L", (CANVAS, CANVAS), 0)
    image.paste(glyph, (round(min(left, CANVAS - glyph.width)), round(top)))
    return image


def system_fonts() -> list[str]:
    """The TrueType fonts of FONT_PATTERNS found here (none on a bare machine)."""
    paths = sorted({path for pattern in FONT_PATTERNS for path in glob.glob(pattern)})
    return [path for path in paths if not any(word in path for word in SKIPPED_FONTS)]


def make_cases(per_digit: int, seed: int = 0) -> list[dict]:
    """Returns the bench's drawings: each a dict with image (280x280x3 uint8, light on
    dark), label, source, aspect ("narrow", "normal", "wide") and pen ("thin", "marker")."""
    rng = np.random.default_rng(seed)
    fonts = system_fonts()
    sources = ["stroke", "segment"] + (["font"] if fonts else [])
    cases = []
    for source in sources:
        for digit in range(10):
            for _ in range(per_digit):
                box = digit_box(rng)
                slant = rng.uniform(-SLANT_DEGREES, SLANT_DEGREES)
                marker = rng.random() < 0.5
                pen = int(rng.integers(*(MARKER if marker else THIN_PEN), endpoint=True))
                if source == "stroke":
                    image = hand_drawing(digit, rng, pen, box, slant)
                elif source == "segment":
                    image = segment_drawing(digit, rng, pen, box, slant)
                else:
                    image = font_drawing(fonts[rng.integers(len(fonts))], digit, box, slant)
                aspect = box[4]
                cases.append(
                    {
                        "image": np.repeat(np.asarray(image)[..., None], 3, axis=2),
                        "label": digit,
                        "source": source,
                        "aspect": "narrow" if aspect < 0.6 else "wide" if aspect > 1.1 else "normal",
                        "pen": "n/a" if source == "font" else "marker" if marker else "thin",
                    }
                )
    return cases


def style_report(predict_fn, cases: list[dict]) -> list[dict]:
    """Returns one row per source, aspect and pen (and per source, and overall): the
    drawings' count and the share read right (a drawing `prepare_digit` refuses counts
    as wrong)."""
    prepared, refused = [], []
    for case in cases:
        try:
            prepared.append(prepare_digit(case["image"]))
            refused.append(False)
        except NotADigitError:
            prepared.append(np.zeros((28, 28), np.float32))
            refused.append(True)
    predicted = predict_fn(np.stack(prepared))
    right = np.array([p == c["label"] and not r for p, c, r in zip(predicted, cases, refused, strict=True)])
    rows = []
    groups: dict[tuple, list[int]] = {}
    for index, case in enumerate(cases):
        for group in (
            ("all", "", ""),
            (case["source"], "", ""),
            (case["source"], case["aspect"], case["pen"]),
        ):
            groups.setdefault(group, []).append(index)
    for (source, aspect, pen), indices in sorted(
        groups.items(), key=lambda item: (item[0][0] != "all", item[0])
    ):
        rows.append(
            {
                "source": source,
                "aspect": aspect,
                "pen": pen,
                "n": len(indices),
                "accuracy": right[indices].mean(),
            }
        )
    return rows


def main() -> None:
    """Prints, for each completed MNIST run (or those named), its accuracy per style."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", type=int, action="append", help="a run id (repeatable); default: all")
    parser.add_argument("--per-digit", type=int, default=60, help="drawings per digit and source")
    args = parser.parse_args()

    from core.predict import load_predictor
    from core.store import RunStore

    store = RunStore()
    runs = digit_runs(store, args.run)
    cases = make_cases(args.per_digit)
    print(f"{len(cases)} drawings from no MNIST image ({len(system_fonts())} fonts), seed 0")
    for run in runs.itertuples():
        predictor = load_predictor(store, run.id)
        rows = style_report(lambda batch, p=predictor: p.predict_images(batch).argmax(axis=1), cases)
        print(f"\nrun {run.id} {run.name} (MNIST test accuracy {run.test_accuracy:.4f})")
        print(f"{'source':8} {'aspect':7} {'pen':7} {'n':>5} {'accuracy':>8}")
        for row in rows:
            print(f"{row['source']:8} {row['aspect']:7} {row['pen']:7} {row['n']:>5} {row['accuracy']:>8.3f}")


if __name__ == "__main__":
    main()
