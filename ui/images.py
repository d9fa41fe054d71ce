"""Small images made big enough to see."""

from __future__ import annotations

import base64
import html

import numpy as np

from core.handwriting import to_png


def enlarge(image: np.ndarray, factor: int) -> np.ndarray:
    """Returns the image with each pixel repeated into a `factor` x `factor` block
    (sharp pixels, where a browser's scaling would blur them); the dtype is kept."""
    return image.repeat(factor, axis=0).repeat(factor, axis=1)


def sharp_image_html(image: np.ndarray, width: int, alt: str) -> str:
    """Returns an <img> of a small uint8 image, inlined as a PNG and shown `width` px
    wide with sharp pixels: part of a page's HTML, so the browser fetches nothing."""
    data = base64.b64encode(to_png(image)).decode("ascii")
    return (
        f'<img src="data:image/png;base64,{data}" width="{width}" alt="{html.escape(alt)}"'
        ' style="image-rendering: pixelated; display: block;">'
    )


RAISES = np.array([228, 60, 40], dtype=np.float32)  # Red: evidence for the class.
LOWERS = np.array([50, 110, 235], dtype=np.float32)  # Blue: evidence against it.


def unit_scale(values: np.ndarray) -> np.ndarray:
    """Returns `values` divided by their 99th percentile of size, clipped to [-1, 1]
    (NaN and infinity count as 0): one stray large value cannot wash out the rest."""
    values = np.nan_to_num(np.asarray(values, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    scale = float(np.percentile(np.abs(values), 99)) if values.size else 0.0
    return np.clip(values / scale, -1.0, 1.0) if scale > 0 else np.zeros_like(values)


def signed_colours(values: np.ndarray, background: np.ndarray | None = None) -> np.ndarray:
    """Returns an RGB uint8 image of signed `values` (2-D): red where positive, blue where
    negative, stronger with size, over `background` (2-D in [0, 1], grey) or white."""
    strength = unit_scale(values)[..., None]
    if background is None:
        base = np.full((*strength.shape[:2], 3), 255.0, dtype=np.float32)
    else:
        grey = np.nan_to_num(np.clip(np.asarray(background, np.float32), 0, 1)) * 160.0 + 40.0
        base = np.repeat(grey[..., None], 3, axis=2)
    alpha = np.abs(strength) * 0.85
    colour = np.where(strength >= 0, RAISES, LOWERS)
    return (base * (1 - alpha) + colour * alpha).round().astype(np.uint8)


def grey_grid(images: np.ndarray, columns: int, factor: int) -> np.ndarray:
    """Returns many small 2-D images (n, h, w) tiled into one uint8 grid, each scaled to
    its own 0-255 range and enlarged `factor` times, with a 1-pixel gap between them."""
    images = np.nan_to_num(np.asarray(images, dtype=np.float32))
    count, height, width = images.shape
    low = images.min(axis=(1, 2), keepdims=True)
    span = images.max(axis=(1, 2), keepdims=True) - low
    scaled = np.where(span > 0, (images - low) / np.where(span > 0, span, 1), 0.0) * 255
    rows = -(-count // columns)
    cell_h, cell_w = height * factor + 1, width * factor + 1
    grid = np.full((rows * cell_h + 1, columns * cell_w + 1), 90, dtype=np.uint8)
    for index, image in enumerate(scaled.astype(np.uint8)):
        top, left = 1 + (index // columns) * cell_h, 1 + (index % columns) * cell_w
        grid[top : top + cell_h - 1, left : left + cell_w - 1] = enlarge(image, factor)
    return grid
