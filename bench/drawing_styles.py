"""How well do MNIST models read digits drawn in styles MNIST barely has?

The digits here come from no MNIST image:

- `stroke`: each digit as a person draws it, from a few points per digit (two ways to
  draw a 1, a 4, a 7 and a 9), every point moved at random, the corners rounded or
  left sharp;
- `segment`: boxy, seven-segment-like digits of straight strokes and sharp corners
  (a 6 with or without its top bar, a 7 with or without a hook, a 9 with or without
  its bottom bar);
- `font`: the digits of the TrueType fonts Debian ships (DejaVu, Liberation: regular,
  bold, italic, condensed), where installed.

Strokes and segments are drawn by core/drawn_digits.py, on the app's 280x280 canvas,
light on dark as the canvas returns it, at a random size and place, with an aspect
ratio from narrow (0.35) to wide (1.6), a slant of up to 15 degrees either way, and a
thin pen (4-10 px) or a marker (18-30 px); fonts at the same sizes, aspects and slants.
Augmented training adds drawings of those two kinds made with other random numbers, so
for an augmented model they measure styles it was shown; no training sees a font, so
`font` is the styles it was never shown. Each digit goes through the app's
`prepare_digit` and the model reads it. The report gives the accuracy per source, per
aspect (narrow < 0.6 <= normal <= 1.1 < wide) and per pen, with the count of each cell.

    python -m bench.drawing_styles [--run RUN_ID ...] [--per-digit 60]
"""

from __future__ import annotations

import argparse
import glob
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from bench.drawings import digit_runs
from core.drawn_digits import CANVAS, hand_drawing, random_place_and_pen, segment_drawing
from core.preprocess import NotADigitError, prepare_digit

FONT_PATTERNS = ("/usr/share/fonts/truetype/dejavu/*.ttf", "/usr/share/fonts/truetype/liberation*/*.ttf")
SKIPPED_FONTS = ("Math", "Symbol")


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
                box, slant, marker, pen = random_place_and_pen(rng)
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


def prepare_cases(cases: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Returns the drawings as the models read them (N, 28, 28), through the app's
    `prepare_digit`, and which of them it refused (blank in the stack)."""
    prepared, refused = [], []
    for case in cases:
        try:
            prepared.append(prepare_digit(case["image"]))
            refused.append(False)
        except NotADigitError:
            prepared.append(np.zeros((28, 28), np.float32))
            refused.append(True)
    return np.stack(prepared), np.array(refused)


def read_right(predicted: np.ndarray, cases: list[dict], refused: np.ndarray) -> np.ndarray:
    """Returns, per drawing, whether it was read as its digit (a refused one never is)."""
    labels = np.array([case["label"] for case in cases])
    return (np.asarray(predicted) == labels) & ~refused


def style_report(predict_fn, cases: list[dict]) -> list[dict]:
    """Returns one row per source, aspect and pen (and per source, and overall): the
    drawings' count and the share read right (a drawing `prepare_digit` refuses counts
    as wrong)."""
    prepared, refused = prepare_cases(cases)
    right = read_right(predict_fn(prepared), cases, refused)
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
