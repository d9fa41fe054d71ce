"""The Draw page's drawing canvas: a small component of our own (ui/digit_canvas.js) that
sends the picture the moment the pen lifts, as a PNG decoded like any uploaded image."""

import base64
import binascii
from pathlib import Path

import numpy as np
import streamlit as st

from core.preprocess import ImageError, TooManyPixelsError, decode_image

PNG_PREFIX = "data:image/png;base64,"
MAX_DRAWING_CHARACTERS = 2_000_000  # A 400x400 canvas's PNG is under 100 kB.
KEPT = "digit_canvas_kept"  # (key, PNG) of the last drawing, drawn again when Draw is back.

_canvas = st.components.v2.component(
    "digit_lab.canvas",
    html='<canvas class="digit-canvas" aria-label="Drawing canvas"></canvas>',
    # No scrolling or zooming while a finger draws, no text selection while a mouse does;
    # on a narrow phone the presenter's 400 px canvas shrinks to the width, still square.
    css="canvas.digit-canvas { touch-action: none; user-select: none; display: block;"
    " cursor: crosshair; max-width: 100%; height: auto; }",
    isolate_styles=False,  # In the page itself, so tests and benches find the canvas.
    js=(Path(__file__).with_name("digit_canvas.js")).read_text(encoding="utf-8"),
)


def digit_canvas(size: int, stroke_width: int, key: str) -> np.ndarray | None:
    """A square black canvas `size` px wide drawn on in white; returns the drawing as
    an image array once something is drawn, else None. Anything but the canvas's own
    PNG (the value comes from the browser, so from anyone) shows a message and is None."""
    kept = st.session_state.get(KEPT)
    kept = kept[1] if kept is not None and kept[0] == key else None
    data = {"size": size, "stroke": stroke_width}
    if kept is not None and key not in st.session_state:
        # Back from another page: Streamlit dropped the canvas's state with the page, so
        # the canvas draws the last drawing again and the page reads it again.
        data["png"] = kept
    result = _canvas(data=data, key=key, width="content", on_png_change=lambda: None)
    drawing = result.get("png") if result is not None else None
    drawing = kept if drawing is None else drawing
    if drawing is None:
        return None
    try:
        image = drawing_image(drawing, size)
    except ImageError as error:
        st.error(str(error))
        return None
    st.session_state[KEPT] = (key, drawing)
    return image


def drawing_image(drawing: object, size: int) -> np.ndarray:
    """The canvas's PNG data URL decoded; ImageError for anything else."""
    is_png = isinstance(drawing, str) and drawing.startswith(PNG_PREFIX)
    if not is_png or len(drawing) > MAX_DRAWING_CHARACTERS:
        raise ImageError("The drawing did not arrive as a picture: clear the canvas and draw again.")
    try:
        data = base64.b64decode(drawing[len(PNG_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ImageError("The drawing arrived damaged: clear the canvas and draw again.") from None
    larger = ImageError("The drawing is larger than the canvas: clear the canvas and draw again.")
    try:  # The header's size is checked before any pixel is decoded.
        image = decode_image(data, max_pixels=size * size)
    except TooManyPixelsError:
        raise larger from None
    if image.shape[0] > size or image.shape[1] > size:
        raise larger
    return image
