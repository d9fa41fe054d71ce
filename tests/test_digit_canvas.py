"""The drawing canvas's value comes from the browser, so from anyone: only the canvas's
own PNG, no larger than the canvas, becomes a drawing."""

import base64
import io
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw

from core.preprocess import ImageError, prepare_digit
from ui.digit_canvas import MAX_DRAWING_CHARACTERS, PNG_PREFIX, drawing_image


def png_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return PNG_PREFIX + base64.b64encode(buffer.getvalue()).decode()


def canvas_seven(size: int = 280) -> Image.Image:
    """A 7 as the canvas sends it: white round strokes on black, RGBA."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 255))
    ImageDraw.Draw(image).line([(60, 55), (220, 55), (115, 235)], fill=(255, 255, 255, 255), width=18)
    return image


def test_the_canvas_png_becomes_the_drawing_the_model_reads():
    drawing = drawing_image(png_url(canvas_seven()), 280)
    assert drawing.shape == (280, 280, 4)
    prepared = prepare_digit(drawing)
    assert prepared.shape == (28, 28) and prepared.max() > 0.9


def tiny_bomb() -> str:
    """A PNG whose header claims 30,000 x 30,000 pixels (900 megapixels)."""
    header = b"\x89PNG\r\n\x1a\n"
    ihdr = b"IHDR" + (30000).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    chunk = len(ihdr[4:]).to_bytes(4, "big") + ihdr + zlib.crc32(ihdr).to_bytes(4, "big")
    return PNG_PREFIX + base64.b64encode(header + chunk).decode()


@pytest.mark.parametrize(
    "value",
    [
        12345,
        ["not", "a", "picture"],
        "<script>alert(1)</script>",
        "data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=",
        PNG_PREFIX + "!!!not base64!!!",
        PNG_PREFIX + base64.b64encode(b"GIF89a and then nothing a picture needs").decode(),
        PNG_PREFIX + "A" * MAX_DRAWING_CHARACTERS,
        tiny_bomb(),
        png_url(canvas_seven(400)),  # Larger than the 280 px canvas it claims to come from.
    ],
    ids=["number", "list", "markup", "svg", "bad base64", "damaged picture", "too long", "bomb", "too large"],
)
def test_anything_else_is_refused_with_a_message(value):
    with pytest.raises(ImageError) as refused:
        drawing_image(value, 280)
    assert "draw again" in str(refused.value) or "image" in str(refused.value).lower()


def test_a_presenter_canvas_of_400_px_is_taken():
    assert drawing_image(png_url(canvas_seven(400)), 400).shape[:2] == (400, 400)
    assert np.asarray(drawing_image(png_url(canvas_seven(400)), 400))[..., 0].max() == 255


def test_a_drawing_larger_than_the_canvas_is_refused_before_its_pixels_are_decoded(monkeypatch):
    """A 6,000 x 6,000 PNG of one colour is 100 kB to send and about 140 MB and two
    seconds of the server's CPU to decode: its header alone refuses it."""
    buffer = io.BytesIO()
    Image.new("L", (6000, 6000)).save(buffer, format="PNG")
    value = PNG_PREFIX + base64.b64encode(buffer.getvalue()).decode()
    assert len(value) < MAX_DRAWING_CHARACTERS

    def no_decoding(image):
        raise AssertionError("the pixels were decoded")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    monkeypatch.setattr("PIL.PngImagePlugin.PngImageFile.load", no_decoding, raising=False)
    with pytest.raises(ImageError, match="larger than the canvas"):
        drawing_image(value, 280)
