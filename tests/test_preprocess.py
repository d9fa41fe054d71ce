"""Preprocessing: drawings and uploads of real MNIST digits become MNIST-like 28x28 inputs."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw

from core.preprocess import (
    MAX_UPLOAD_BYTES,
    ImageError,
    NotADigitError,
    decode_image,
    plain_resize,
    prepare_digit,
)

CANVAS = 280


@pytest.fixture(scope="module")
def digits(mnist):
    """Thirty real MNIST test digits, uint8 (30, 28, 28), ink 255."""
    return mnist[2][:30]


def center_of_mass(image: np.ndarray) -> tuple[float, float]:
    """Intensity-weighted (row, column) in pixel-index coordinates."""
    total = image.sum()
    rows = (image.sum(axis=1) * np.arange(image.shape[0])).sum() / total
    cols = (image.sum(axis=0) * np.arange(image.shape[1])).sum() / total
    return float(rows), float(cols)


def ink_extent(image: np.ndarray) -> int:
    """Longer side of the bounding box of every pixel with any ink."""
    rows = np.flatnonzero(image.any(axis=1))
    cols = np.flatnonzero(image.any(axis=0))
    return int(max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1))


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def similarity(result: np.ndarray, digit: np.ndarray) -> float:
    """Correlation with a 28x28 MNIST digit, allowing a shift of up to one pixel.

    MNIST centred its digits to the nearest whole pixel, so the same digit can land one
    pixel apart after re-centering; nobody would see that as a different digit.
    """
    shifts = [(rows, cols) for rows in (-1, 0, 1) for cols in (-1, 0, 1)]
    return max(correlation(np.roll(result, shift, axis=(0, 1)), digit) for shift in shifts)


def on_canvas(digit: np.ndarray, size: int, top: int, left: int) -> np.ndarray:
    """A digit upscaled to `size` px and pasted on a black 280x280 canvas: uint8 ink map."""
    canvas = np.zeros((CANVAS, CANVAS), dtype=np.uint8)
    big = Image.fromarray(digit).resize((size, size), Image.Resampling.BILINEAR)
    canvas[top : top + size, left : left + size] = np.asarray(big)
    return canvas


def in_format(ink: np.ndarray, image_format: str) -> np.ndarray:
    """Render a uint8 ink map (255 = ink) the way a given source would deliver it."""
    alpha = ink.astype(np.float64)[:, :, np.newaxis] / 255.0
    if image_format == "grey light on dark":
        return ink
    if image_format == "grey with channel axis":
        return ink[:, :, np.newaxis]
    if image_format == "RGB dark on light":
        paper, pen = np.array([250, 245, 235]), np.array([20, 30, 90])
        return (paper * (1 - alpha) + pen * alpha).round().astype(np.uint8)
    if image_format == "RGB light on dark":
        paper, pen = np.array([10, 10, 30]), np.array([255, 230, 120])
        return (paper * (1 - alpha) + pen * alpha).round().astype(np.uint8)
    if image_format == "RGBA transparent, red strokes":
        rgb = np.where(alpha > 0, np.array([230, 20, 20]), 0)
        return np.concatenate([rgb, alpha * 255], axis=2).round().astype(np.uint8)
    if image_format == "RGBA fully opaque, dark on light":
        rgb = (255 * (1 - alpha)).round()
        return np.concatenate([rgb, rgb, rgb, np.full_like(rgb, 255)], axis=2).astype(np.uint8)
    if image_format == "float 0-1":
        return ink.astype(np.float32) / 255.0
    if image_format == "float 0-255, dark on light":
        return 255.0 - ink.astype(np.float64)
    raise AssertionError(image_format)


FORMATS = [
    "grey light on dark",
    "grey with channel axis",
    "RGB dark on light",
    "RGB light on dark",
    "RGBA transparent, red strokes",
    "RGBA fully opaque, dark on light",
    "float 0-1",
    "float 0-255, dark on light",
]


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def png_with_header_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims the given size (the classic decompression bomb)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 64)
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def draw_seven(width: int) -> np.ndarray:
    """A '7' drawn on a 280x280 canvas with a round pen `width` px wide, like the app's."""
    canvas = Image.new("L", (CANVAS, CANVAS), 0)
    ImageDraw.Draw(canvas).line(
        [(70, 60), (210, 60), (150, 150), (120, 230)], fill=255, width=width, joint="curve"
    )
    return np.asarray(canvas)


def assert_user_message(error: pytest.ExceptionInfo) -> None:
    """An error a user sees is one short sentence, not a dump of internals."""
    message = str(error.value)
    assert "\n" not in message
    assert "Traceback" not in message
    assert 10 < len(message) < 120
    assert message.endswith(".")


def test_output_is_a_28x28_float_image_with_ink_one(digits):
    result = prepare_digit(digits[0])

    assert result.shape == (28, 28)
    assert result.dtype == np.float32
    assert result.min() >= 0.0
    assert result.max() == pytest.approx(1.0)
    # Background stays background: the corners of the frame hold no ink.
    assert result[:3, :3].max() == 0.0
    assert result[-3:, -3:].max() == 0.0


def test_real_mnist_digit_comes_back_almost_unchanged(digits):
    # The thinnest 1 % of MNIST digits are widened to the median stroke and change more;
    # none of these thirty is among them.
    for digit in digits:
        result = prepare_digit(digit)
        assert similarity(result, digit / 255.0) > 0.9


@pytest.mark.parametrize("image_format", FORMATS)
def test_every_polarity_and_format_gives_the_same_digit(digits, image_format):
    for digit in digits[:5]:
        ink = on_canvas(digit, size=200, top=40, left=40)
        reference = prepare_digit(ink)

        result = prepare_digit(in_format(ink, image_format))

        assert result.shape == (28, 28)
        assert np.abs(result - reference).max() < 0.05
        assert similarity(result, digit / 255.0) > 0.85


@pytest.mark.parametrize(("size", "top", "left"), [(100, 5, 170), (250, 25, 2), (90, 185, 10)])
def test_off_centre_digit_is_centred_like_mnist(digits, size, top, left):
    for digit in digits[:10]:
        drawing = on_canvas(digit, size=size, top=top, left=left)

        result = prepare_digit(drawing)

        row, col = center_of_mass(result)
        assert abs(row - 14.0) <= 0.5
        assert abs(col - 14.0) <= 0.5
        assert ink_extent(result) <= 20
        assert similarity(result, digit / 255.0) > 0.85


def test_mnist_itself_has_its_center_of_mass_at_pixel_14(mnist):
    # The target the pipeline uses is what MNIST really does, checked on the real data.
    images = mnist[0][:2000].astype(np.float64)
    centers = np.array([center_of_mass(image) for image in images])

    assert np.abs(centers.mean(axis=0) - 14.0).max() < 0.05
    assert np.abs(centers - 14.0).max() <= 0.5 + 1e-9


def test_thin_pen_and_thick_marker_give_mnist_like_strokes(mnist):
    sevens = mnist[2][mnist[3] == 7].astype(np.float64) / 255.0
    low, high = np.percentile(sevens.sum(axis=(1, 2)), [5, 95])

    thin = prepare_digit(draw_seven(width=1))
    thicker_thin = prepare_digit(draw_seven(width=2))
    thick = prepare_digit(draw_seven(width=25))

    for result in (thin, thicker_thin, thick):
        # The amount of ink is that of a real MNIST 7: neither a hairline nor a blob.
        assert low <= result.sum() <= high
    assert 0.7 < thin.sum() / thick.sum() < 1.4
    assert correlation(thin, thick) > 0.8


def test_plain_resize_leaves_an_off_centre_digit_off_centre(digits):
    drawing = on_canvas(digits[0], size=100, top=5, left=170)

    baseline = plain_resize(drawing)

    assert baseline.shape == (28, 28)
    assert baseline.dtype == np.float32
    assert baseline.min() >= 0.0
    assert baseline.max() <= 1.0
    row, col = center_of_mass(baseline)
    assert np.hypot(row - 14.0, col - 14.0) > 5.0


@pytest.mark.parametrize(
    "canvas",
    [
        np.zeros((CANVAS, CANVAS, 4), dtype=np.uint8),
        np.full((CANVAS, CANVAS, 3), 255, dtype=np.uint8),
        np.random.default_rng(0).integers(120, 135, size=(CANVAS, CANVAS)).astype(np.uint8),
    ],
    ids=["transparent canvas", "white canvas", "grey noise"],
)
def test_empty_canvas_asks_for_a_digit(canvas):
    with pytest.raises(NotADigitError, match="empty") as error:
        prepare_digit(canvas)
    assert_user_message(error)


def test_speck_asks_to_draw_larger():
    canvas = np.zeros((CANVAS, CANVAS, 4), dtype=np.uint8)
    canvas[140:144, 100:103] = (0, 0, 0, 255)

    with pytest.raises(NotADigitError, match="too small") as error:
        prepare_digit(canvas)
    assert_user_message(error)


@pytest.mark.parametrize(
    "array",
    [
        np.zeros(784, dtype=np.uint8),
        np.zeros((28, 28, 5), dtype=np.uint8),
        np.zeros((0, 28), dtype=np.uint8),
        np.zeros((2, 28, 28, 1), dtype=np.uint8),
        np.full((28, 28), np.nan, dtype=np.float32),
        np.full((28, 28), "a"),
        np.full((28, 28), 1000, dtype=np.int32),
    ],
    ids=["1-D", "5 channels", "zero size", "4-D", "NaN", "strings", "out of range"],
)
def test_arrays_that_are_not_images_are_refused(array):
    with pytest.raises(ImageError) as error:
        prepare_digit(array)
    assert "\n" not in str(error.value)


def test_uploaded_png_gives_the_same_digit_as_the_drawing(digits):
    ink = on_canvas(digits[3], size=160, top=60, left=30)
    drawing = in_format(ink, "RGBA transparent, red strokes")

    decoded = decode_image(png_bytes(drawing))

    assert decoded.shape == (CANVAS, CANVAS, 4)
    assert decoded.dtype == np.uint8
    np.testing.assert_array_equal(prepare_digit(decoded), prepare_digit(drawing))


def test_decode_keeps_grey_and_colour_and_takes_the_first_frame(digits):
    grey = on_canvas(digits[1], size=120, top=50, left=50)
    assert decode_image(png_bytes(grey)).shape == (CANVAS, CANVAS)

    buffer = io.BytesIO()
    Image.fromarray(in_format(grey, "RGB dark on light")).save(buffer, format="JPEG")
    assert decode_image(buffer.getvalue()).shape == (CANVAS, CANVAS, 3)

    frames = [Image.fromarray(grey), Image.fromarray(255 - grey)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    first = decode_image(buffer.getvalue())
    assert first.ndim == 2
    assert first.mean() < 128  # The first frame is the dark one.


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"hello, this is a text file and not a picture\n" * 10, "not a supported image"),
        (b"\x00" * (MAX_UPLOAD_BYTES + 1), "larger than 10 MB"),
        (png_with_header_size(20_000, 20_000), "megapixels"),
        (png_with_header_size(7_000, 7_000), "megapixels"),
    ],
    ids=["empty", "text", "over size", "bomb 400 MP", "bomb 49 MP"],
)
def test_bad_uploads_are_refused_with_a_sentence(data, reason):
    with pytest.raises(ImageError, match=reason) as error:
        decode_image(data)
    assert_user_message(error)


def test_truncated_png_is_refused():
    noisy = np.random.default_rng(0).integers(0, 256, size=(CANVAS, CANVAS, 3), dtype=np.uint8)
    data = png_bytes(noisy)

    with pytest.raises(ImageError, match="damaged") as error:
        decode_image(data[: len(data) // 2])
    assert_user_message(error)


def test_real_image_over_the_pixel_limit_is_refused():
    # A genuine 42-megapixel blank image compresses to a few kilobytes.
    buffer = io.BytesIO()
    Image.new("1", (6_500, 6_500), 1).save(buffer, format="PNG")
    assert len(buffer.getvalue()) < MAX_UPLOAD_BYTES

    with pytest.raises(ImageError, match="megapixels"):
        decode_image(buffer.getvalue())
