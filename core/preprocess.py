"""Turn a drawing or an uploaded image of a digit into the 28x28 array MNIST models expect.

MNIST digits were made like this (LeCun, Cortes and Burges): the ink was scaled to fit a
20x20 box keeping its aspect ratio, anti-aliased to grey levels, then the intensity-weighted
center of mass was moved to the center of a 28x28 frame by a whole-pixel translation. Ink is
1 and background 0, and strokes are about 2-3 px wide. `prepare_digit` repeats those steps
for any input, and first makes the stroke width MNIST-like, because a 1 px pen line or a
25 px marker on a 280x280 canvas look nothing like MNIST once scaled down.
"""

import io
import os
import stat
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# Images above this many pixels are refused before their pixels are decoded. Pillow's own
# bomb guard starts at about 89 megapixels, which is more memory than a digit ever needs.
MAX_IMAGE_PIXELS = 40_000_000
# Only these decoders are reachable from an upload; this keeps Pillow's rarer plugins
# (and EPS, which would run Ghostscript) out of reach. Phone photos saved as MPO open as JPEG.
UPLOAD_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")
# Pillow's decoders report malformed or truncated data with any of these exception types.
_DECODER_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError)

FRAME_SIZE = 28
BOX_SIZE = 20
# Where MNIST puts the center of mass, in (row, column) pixel-index coordinates (pixel i
# spans [i, i + 1), so the geometric center of the frame is 13.5). Measured on the offline
# copy: x_train mean (13.996, 14.004), x_test mean (13.993, 14.008), with a spread of
# 0.29 px in each axis, which is exactly the spread of rounding to whole pixels. So MNIST
# translated each digit by whole pixels to bring its center of mass to pixel (14, 14);
# this module does the same, so a digit's center of mass ends within 0.5 px of (14, 14).
TARGET_CENTER = (14.0, 14.0)

# The stroke width is normalised at this working resolution: the longer side of the ink
# is 4x the final 20 px box, so one dilation step is a quarter of a final pixel.
_WORK_SIZE = 4 * BOX_SIZE
# Stroke widths, in working pixels, of real MNIST digits as `_stroke_width` measures them,
# over 3,000 digits of the offline x_train: the median, and the 1st and 97.5th percentiles.
# Strokes inside that range are left as drawn, since MNIST writers' strokes vary too.
# Thinner strokes are widened to the median. Thicker strokes are eroded only down to the
# upper edge: in the drawing benchmark, eroding a marker's strokes to the median cost
# accuracy, because erosion also eats detail.
_MEDIAN_STROKE = 7.4
_STROKE_RANGE = (4.7, 12.2)
_MAX_STROKE_STEPS = 24

# Ink below this fraction of the strongest contrast is noise (paper grain, JPEG ringing).
_NOISE_LEVEL = 0.2
# Ink at or above this percentile of the ink's intensities is made solid (1.0).
_SOLID_PERCENTILE = 75
# An image whose strongest contrast with its background is below this is empty.
_MIN_CONTRAST = 0.15
# A mark whose longer side is below this many pixels, or this fraction of the image's
# longer side, is a speck rather than a digit.
_MIN_MARK_PIXELS = 4
_MIN_MARK_FRACTION = 0.05
# Larger images are first reduced by averaging blocks, to bound memory and time.
_MAX_INPUT_SIDE = 2048
# Float images up to this maximum are read as 0-1 (a little resampling overshoot is
# tolerated); larger ones as 0-255.
_FLOAT_UNIT_MAX = 1.5


class ImageError(ValueError):
    """The input is not a usable image; the message says what to do instead."""


class NotADigitError(ValueError):
    """The image is usable but holds no digit (empty canvas or a tiny speck)."""


class TooManyPixelsError(ImageError):
    """The image's header gives more pixels than allowed: nothing was decoded."""


def decode_image(data: bytes, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode uploaded image bytes safely.

    Animated images give their first frame and EXIF orientation is applied, so a phone
    photo comes out upright.

    Args:
        data: The raw bytes of an uploaded file.
        max_pixels: the most pixels allowed, checked on the header before decoding.

    Returns:
        A uint8 array of shape (H, W) for grey images, (H, W, 3) for colour images and
        (H, W, 4) for images with transparency.

    Raises:
        ImageError: The bytes are empty, over `MAX_UPLOAD_BYTES`, not an image of a
            supported format, damaged or truncated; TooManyPixelsError over `max_pixels`.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ImageError("Upload the image as a file: the data given is not a file's bytes.")
    size = len(data)
    if size == 0:
        raise ImageError("The file is empty: choose an image file.")
    if size > MAX_UPLOAD_BYTES:
        limit_mb = MAX_UPLOAD_BYTES // (1024 * 1024)
        raise ImageError(f"The file is larger than {limit_mb} MB: choose a smaller image.")
    # Pillow warns, rather than fails, on moderately oversized images; make that an error.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image = _open_and_load(bytes(data), max_pixels)
    return _to_uint8_array(image)


def read_image_file(path: Path | str, limit: int = MAX_UPLOAD_BYTES) -> bytes:
    """Reads an image file from disk, at most `limit` bytes.

    The file's type and size are checked before anything is read, so a device such as
    /dev/zero, a named pipe (which would wait forever for a writer) or a huge sparse
    file is refused at once.

    Args:
        path: the file.
        limit: the most bytes an image may have.

    Returns:
        The file's bytes, for `decode_image`.

    Raises:
        ImageError: not a regular file, or larger than `limit`.
        OSError: the file cannot be opened (missing, no permission).
    """
    too_large = ImageError(f"The file is larger than {limit // (1024 * 1024)} MB: choose a smaller image.")
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # A pipe opens without waiting.
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise ImageError("This is not a regular file (a folder, device or pipe): choose an image file.")
        if info.st_size > limit:
            raise too_large
        chunks, remaining = [], limit + 1
        while remaining > 0 and (chunk := os.read(descriptor, min(remaining, 1 << 20))):
            chunks.append(chunk)
            remaining -= len(chunk)
    finally:
        os.close(descriptor)
    if remaining <= 0:  # The file grew while it was read.
        raise too_large
    return b"".join(chunks)


def prepare_digit(image: np.ndarray) -> np.ndarray:
    """Turn an image of one digit into the 28x28 input an MNIST model expects.

    The ink is found whatever the polarity (dark on light, light on dark, or opaque strokes
    on a transparent background), cropped, given MNIST-like stroke width, scaled to fit a
    20x20 box and placed with its center of mass at pixel (14, 14), as in MNIST.

    Args:
        image: An array of shape (H, W), (H, W, 1), (H, W, 2) (grey and alpha),
            (H, W, 3) (RGB) or (H, W, 4) (RGBA); uint8, or float in 0-1 or 0-255.

    Returns:
        A float32 array of shape (28, 28) with values in [0, 1]: ink 1, background 0.

    Raises:
        ImageError: The array is not an image (wrong shape, dtype or values).
        NotADigitError: The image is empty or holds only a speck.
    """
    ink = _ink_map(image)
    ink = _crop_to_ink(ink)
    _check_mark_size(ink, image_side=max(np.shape(image)[:2]))
    ink = _stretch_contrast(_to_working_size(ink))
    ink = _normalise_stroke_width(ink)
    digit = _fit_box(_crop_to_ink(ink))
    return _place_in_frame(digit)


def plain_resize(image: np.ndarray) -> np.ndarray:
    """Resize a whole image to 28x28 without cropping or centering (the naive baseline).

    Args:
        image: An image array, as for `prepare_digit`.

    Returns:
        A float32 array of shape (28, 28) with values in [0, 1]: ink 1, background 0.

    Raises:
        ImageError: The array is not an image (wrong shape, dtype or values).
        NotADigitError: The image is empty.
    """
    ink = _ink_map(image)
    return _resize(ink, (FRAME_SIZE, FRAME_SIZE))


def _open_and_load(data: bytes, max_pixels: int) -> Image.Image:
    """Open the bytes with Pillow, check the size from the header, then decode pixels."""
    try:
        image = Image.open(io.BytesIO(data), formats=UPLOAD_FORMATS)
    except UnidentifiedImageError as exc:
        raise ImageError(
            "This file is not a supported image: upload a PNG, JPEG, GIF, BMP, WebP or TIFF."
        ) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_many_pixels_error() from exc
    except _DECODER_ERRORS as exc:
        raise _damaged_error() from exc
    # The header gives the size before any pixel is decoded: refuse bombs here.
    if image.width * image.height > min(max_pixels, MAX_IMAGE_PIXELS):
        raise _too_many_pixels_error()
    if image.width == 0 or image.height == 0:
        raise ImageError("The image has no pixels: choose another file.")
    try:
        image.seek(0)
        image.load()
        image = ImageOps.exif_transpose(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_many_pixels_error() from exc
    except _DECODER_ERRORS as exc:
        raise _damaged_error() from exc
    return image


def _too_many_pixels_error() -> TooManyPixelsError:
    megapixels = MAX_IMAGE_PIXELS // 1_000_000
    return TooManyPixelsError(f"The image has more than {megapixels} megapixels: upload a smaller one.")


def _damaged_error() -> ImageError:
    return ImageError("The image file is damaged or incomplete: save it again and re-upload.")


def _to_uint8_array(image: Image.Image) -> np.ndarray:
    """Convert a decoded Pillow image to a uint8 array, keeping transparency if present."""
    has_alpha = image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        image.mode == "P" and "transparency" in image.info
    )
    if has_alpha:
        return np.asarray(image.convert("RGBA"))
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # High bit-depth greys: stretch the used range to 0-255 rather than clip it.
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        scale = 255.0 / (high - low) if high > low else 0.0
        return np.round((values - low) * scale).astype(np.uint8)
    if image.mode in ("1", "L"):
        return np.asarray(image.convert("L"))
    return np.asarray(image.convert("RGB"))


def _as_float_channels(image: np.ndarray) -> np.ndarray:
    """Validate an image array and return it as float32 (H, W, C) with values in [0, 1]."""
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        shape = array.shape
        raise ImageError(f"Expected an image of shape (H, W) or (H, W, 1-4), got {shape}.")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageError("The image has no pixels: draw or upload a digit.")
    if array.shape[0] * array.shape[1] > MAX_IMAGE_PIXELS:
        raise _too_many_pixels_error()
    full_scale = _full_scale(array)
    reduced = _reduce_large(array)
    return np.clip(reduced.astype(np.float32) / full_scale, 0.0, 1.0)


def _full_scale(array: np.ndarray) -> float:
    """Return the pixel value that means full intensity (1 or 255), checking the values."""
    if array.dtype == np.bool_:
        return 1.0
    if np.issubdtype(array.dtype, np.integer):
        if array.min() < 0 or array.max() > 255:
            raise ImageError("Integer pixel values must lie between 0 and 255.")
        return 255.0
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ImageError("The image contains NaN or infinite values.")
        if array.min() < -0.01 or array.max() > 255.0:
            raise ImageError("Float pixel values must lie between 0 and 1 or 0 and 255.")
        return 1.0 if array.max() <= _FLOAT_UNIT_MAX else 255.0
    raise ImageError(f"Expected image pixels as uint8 or float, got dtype {array.dtype}.")


def _reduce_large(array: np.ndarray) -> np.ndarray:
    """Average blocks of a large image so its longer side is at most `_MAX_INPUT_SIDE`.

    A phone photo then costs tens of megabytes instead of hundreds, and the digit keeps
    far more pixels than the 80 px the stroke work needs.
    """
    factor = -(-max(array.shape[:2]) // _MAX_INPUT_SIDE)
    if factor < 2:
        return array
    rows = -(-array.shape[0] // factor) * factor
    cols = -(-array.shape[1] // factor) * factor
    padding = ((0, rows - array.shape[0]), (0, cols - array.shape[1]), (0, 0))
    padded = np.pad(array, padding, mode="edge")
    blocks = padded.reshape(rows // factor, factor, cols // factor, factor, array.shape[2])
    return blocks.mean(axis=(1, 3), dtype=np.float32)


def _ink_map(image: np.ndarray) -> np.ndarray:
    """Return ink intensity in [0, 1] (H, W), whatever the image's polarity.

    Strokes on a transparent background (the drawing canvas) are read from the alpha
    channel. Otherwise the background colour is the median of the border pixels and ink
    is the largest per-channel distance from it, so dark-on-light, light-on-dark and
    coloured strokes all work.
    """
    channels = _as_float_channels(image)
    if channels.shape[2] in (2, 4):
        alpha = channels[:, :, -1:]
        contrast = _contrast_with_border(alpha)
        if contrast.max() >= _MIN_CONTRAST:
            return _normalise_contrast(contrast)
        # A fully opaque (or uniformly transparent) alpha says nothing: use the colours.
        channels = channels[:, :, :-1]
    return _normalise_contrast(_contrast_with_border(channels))


def _contrast_with_border(channels: np.ndarray) -> np.ndarray:
    """Return each pixel's largest per-channel distance from the median border colour."""
    border = np.concatenate([channels[0], channels[-1], channels[:, 0], channels[:, -1]], axis=0)
    background = np.median(border, axis=0)
    # Channel by channel: numpy's max over a last axis of 3 or 4 is six times slower.
    return np.maximum.reduce([np.abs(channels[:, :, i] - background[i]) for i in range(channels.shape[2])])


def _normalise_contrast(contrast: np.ndarray) -> np.ndarray:
    """Scale contrast so the ink peaks at 1, and zero the faint noise below the ink."""
    peak = float(contrast.max())
    if peak < _MIN_CONTRAST:
        raise NotADigitError("Draw a digit first: the canvas is empty.")
    ink = contrast / peak
    return np.where(ink >= _NOISE_LEVEL, ink, 0.0).astype(np.float32)


def _ink_bounds(ink: np.ndarray) -> tuple[int, int, int, int]:
    """Return (top, bottom, left, right) of the ink, bottom and right exclusive."""
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        raise NotADigitError("Draw a digit first: the canvas is empty.")
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _crop_to_ink(ink: np.ndarray) -> np.ndarray:
    """Crop the ink map to the bounding box of its ink."""
    top, bottom, left, right = _ink_bounds(ink)
    return ink[top:bottom, left:right]


def _check_mark_size(ink: np.ndarray, image_side: int) -> None:
    """Raise NotADigitError when the cropped ink is too small to be a digit."""
    min_side = max(_MIN_MARK_PIXELS, _MIN_MARK_FRACTION * image_side)
    if max(ink.shape) < min_side:
        raise NotADigitError("That mark is too small to read as a digit: draw it larger.")


def _resize(ink: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize a float ink map to (rows, cols) with anti-aliasing, clipped to [0, 1]."""
    picture = Image.fromarray(ink.astype(np.float32))
    resized = picture.resize((shape[1], shape[0]), Image.Resampling.LANCZOS)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def _to_working_size(ink: np.ndarray) -> np.ndarray:
    """Rescale cropped ink so its longer side is `_WORK_SIZE` pixels.

    Large inputs are first max-pooled by a whole factor, so a 1 px pen line on a big canvas
    survives the reduction instead of fading into grey.
    """
    factor = max(ink.shape) // _WORK_SIZE
    if factor >= 2:
        rows = -(-ink.shape[0] // factor) * factor
        cols = -(-ink.shape[1] // factor) * factor
        padded = np.zeros((rows, cols), dtype=np.float32)
        padded[: ink.shape[0], : ink.shape[1]] = ink
        ink = padded.reshape(rows // factor, factor, cols // factor, factor).max(axis=(1, 3))
    scale = _WORK_SIZE / max(ink.shape)
    shape = (max(1, round(ink.shape[0] * scale)), max(1, round(ink.shape[1] * scale)))
    return _resize(ink, shape)


def _stretch_contrast(ink: np.ndarray) -> np.ndarray:
    """Scale ink so most of it is solid, as in MNIST where most ink pixels are 255.

    Thin pen lines come out of anti-aliasing and reduction at half intensity or less;
    without this they would stay grey after they are widened.
    """
    visible = ink[ink >= _NOISE_LEVEL * ink.max()]
    solid = float(np.percentile(visible, _SOLID_PERCENTILE)) if visible.size else 0.0
    return np.clip(ink / solid, 0.0, 1.0) if solid > 0 else ink


def _stroke_width(ink: np.ndarray) -> float:
    """Estimate the mean stroke width in pixels as 2 x ink area / ink outline length.

    Both are measured on grey levels (area as total ink, outline as total variation), so
    faint anti-aliased strokes measure as wide as solid ones.
    """
    padded = np.pad(ink, 1)
    outline = np.abs(np.diff(padded, axis=0)).sum() + np.abs(np.diff(padded, axis=1)).sum()
    return float(2.0 * ink.sum() / max(outline, 1e-6))


def _morph_step(ink: np.ndarray, grow: bool, step: int) -> np.ndarray:
    """Dilate (grow) or erode the ink by one pixel with a 3x3 square or cross element.

    Alternating square and cross steps approximates a round pen, so corners stay round.
    """
    reduce = np.maximum if grow else np.minimum
    padded = np.pad(ink, 1)
    rows, cols = ink.shape
    shifts = [(0, 1), (1, 0), (1, 2), (2, 1)]
    if step % 2 == 0:
        shifts += [(0, 0), (0, 2), (2, 0), (2, 2)]
    result = ink.copy()
    for dy, dx in shifts:
        result = reduce(result, padded[dy : dy + rows, dx : dx + cols])
    return result


def _normalise_stroke_width(ink: np.ndarray) -> np.ndarray:
    """Widen strokes thinner than MNIST's to its median width; erode those thicker."""
    thinnest, thickest = _STROKE_RANGE
    width = _stroke_width(ink)
    if thinnest <= width <= thickest:
        return ink
    grow = width < thinnest
    if grow:
        # Leave room for the ink to grow without reaching the edge of the array.
        ink = np.pad(ink, _MAX_STROKE_STEPS)
    for step in range(_MAX_STROKE_STEPS):
        candidate = _morph_step(ink, grow, step)
        if not candidate.any():
            break
        ink = candidate
        width = _stroke_width(ink)
        if (width >= _MEDIAN_STROKE) if grow else (width <= thickest):
            break
    return ink


def _fit_box(ink: np.ndarray) -> np.ndarray:
    """Scale cropped ink so its longer side is `BOX_SIZE`, keeping the aspect ratio."""
    scale = BOX_SIZE / max(ink.shape)
    shape = (max(1, round(ink.shape[0] * scale)), max(1, round(ink.shape[1] * scale)))
    digit = _resize(ink, shape)
    peak = float(digit.max())
    if peak <= 0:
        raise NotADigitError("That mark is too small to read as a digit: draw it larger.")
    return digit / peak


def _place_in_frame(digit: np.ndarray) -> np.ndarray:
    """Paste the digit into a 28x28 frame, center of mass on `TARGET_CENTER` (whole pixels).

    The shift is clamped so that no ink leaves the frame; for ordinary digits the clamp
    never applies.
    """
    rows, cols = digit.shape
    total = float(digit.sum())
    center_row = float((digit.sum(axis=1) * np.arange(rows)).sum() / total)
    center_col = float((digit.sum(axis=0) * np.arange(cols)).sum() / total)
    top = int(np.clip(round(TARGET_CENTER[0] - center_row), 0, FRAME_SIZE - rows))
    left = int(np.clip(round(TARGET_CENTER[1] - center_col), 0, FRAME_SIZE - cols))
    frame = np.zeros((FRAME_SIZE, FRAME_SIZE), dtype=np.float32)
    frame[top : top + rows, left : left + cols] = digit
    return frame
