"""The personal set as files: a drawing's pictures as PNG, and the zip that exports and
imports a set of drawings (PNGs and a labels.csv).

The zip holds `labels.csv` (columns `file,label`), one PNG per drawing (the 28x28 the
model saw, white ink on black) and, for drawings that have one, `strokes/<file>` (the
drawing as made, at most 280 px a side). An imported zip is hostile until read in
full: its size, number of files, each file's and the whole's unpacked size, every
path and every image's size (from its header, before its pixels are decoded) are
checked, and no file is unpacked past the size its entry declares; any fault refuses
the whole zip, so a refused import changes nothing.
"""

from __future__ import annotations

import csv
import io
import posixpath
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

from core.preprocess import ImageError, NotADigitError, decode_image, prepare_digit

MAX_ZIP_BYTES = 10 * 2**20  # The app's upload limit.
MAX_FILES = 2_000  # Drawings in one zip (a zip holds twice as many files, with strokes).
MAX_FILE_BYTES = 2**20  # Unpacked, per file: a 280x280 PNG is a few kilobytes.
MAX_TOTAL_BYTES = 64 * 2**20  # Unpacked, the whole zip.
MAX_IMAGE_PIXELS = 1_000_000  # Read from the header before decoding: a pixel bomb stops here.
STROKE_SIDE = 280  # The stroke picture is kept at most this many pixels a side.
LABELS_FILE = "labels.csv"
STROKES_FOLDER = "strokes/"
DIGIT_LABELS = tuple("0123456789")
# What opening a damaged zip or unpacking a damaged or encrypted member raises (zlib.error
# for a broken stream, NotImplementedError for a version field that was changed).
UNPACKING_ERRORS = (
    zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError, NotImplementedError, RuntimeError,
)  # fmt: skip


class ImportRefused(ValueError):
    """The zip cannot be imported; the message says why, and nothing was imported."""


@dataclass(frozen=True)
class Drawing:
    """One labelled drawing: the 28x28 uint8 the model sees and, if any, its strokes (PNG)."""

    label: int
    image: np.ndarray
    stroke_png: bytes | None = None


def to_png(image: np.ndarray) -> bytes:
    """Encodes a uint8 image (grey, RGB or RGBA) as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def model_view(prepared: np.ndarray) -> np.ndarray:
    """Returns the 28x28 the model reads (floats 0-1) as the uint8 the store keeps."""
    return np.clip(np.rint(np.asarray(prepared, dtype=np.float64) * 255), 0, 255).astype(np.uint8)


def stroke_png(image: np.ndarray) -> bytes:
    """Returns a drawing as made (a canvas or an uploaded picture, uint8) as a PNG of at
    most STROKE_SIDE pixels a side, so a saved drawing stays a few kilobytes."""
    picture = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8))
    picture.thumbnail((STROKE_SIDE, STROKE_SIDE))
    return to_png(np.asarray(picture))


def export_zip(drawings: list[dict]) -> bytes:
    """Returns the zip of drawings (as `RunStore.drawings` gives them): labels.csv, a
    PNG per drawing, and its strokes where it has them."""
    buffer = io.BytesIO()
    labels = io.StringIO()
    writer = csv.writer(labels, lineterminator="\n")
    writer.writerow(["file", "label"])
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for number, drawing in enumerate(drawings, start=1):
            name = f"{number:04d}-{int(drawing['label'])}.png"
            writer.writerow([name, int(drawing["label"])])
            archive.writestr(name, to_png(drawing["image"]))
            if drawing.get("stroke_png"):
                archive.writestr(STROKES_FOLDER + name, drawing["stroke_png"])
        archive.writestr(LABELS_FILE, labels.getvalue())
    return buffer.getvalue()


def not_yet_saved(found: list[Drawing], saved: list[dict]) -> list[Drawing]:
    """The drawings of `found` whose digit and 28x28 image are not among `saved` (nor
    earlier in `found`): importing an export again adds nothing twice."""
    seen = {(int(drawing["label"]), drawing["image"].tobytes()) for drawing in saved}
    new = []
    for drawing in found:
        identity = (int(drawing.label), np.asarray(drawing.image, dtype=np.uint8).tobytes())
        if identity not in seen:
            seen.add(identity)
            new.append(drawing)
    return new


def read_zip(data: bytes) -> list[Drawing]:
    """Reads an exported zip (or one made the same way by hand) into drawings.

    A PNG of 28x28 is taken as the model's view as is; a PNG of another size is a
    picture of a digit, prepared as the Draw page prepares an upload, and kept as the
    drawing's strokes.

    Args:
        data: the zip file's bytes.

    Returns:
        The drawings, in the order of labels.csv.

    Raises:
        ImportRefused: anything is wrong; the message names the file and the fault.
    """
    if len(data) > MAX_ZIP_BYTES:
        raise ImportRefused(f"The zip is larger than {MAX_ZIP_BYTES // 2**20} MB.")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [member for member in archive.infolist() if not member.is_dir()]
    except UNPACKING_ERRORS as error:
        raise ImportRefused("This is not a zip file: export drawings from My drawings to get one.") from error
    with archive:
        files = _checked_members(members)
        rows = _labels(_read(archive, files, LABELS_FILE))
        listed = {name for name, _ in rows} | {STROKES_FOLDER + name for name, _ in rows} | {LABELS_FILE}
        unlisted = sorted(set(files) - listed)
        if unlisted:
            raise ImportRefused(f"{_shown(unlisted[0])} is in the zip but not in {LABELS_FILE}.")
        return [_drawing(archive, files, name, label) for name, label in rows]


def _checked_members(members: list[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
    """Checks the zip's directory (no byte unpacked yet); returns its files by name."""
    if len(members) > 2 * MAX_FILES + 1:
        raise ImportRefused(f"The zip holds {len(members):,} files: at most {MAX_FILES:,} drawings at once.")
    total = 0
    files = {}
    for member in members:
        name = member.filename
        if name.startswith(("/", "\\")) or "\\" in name or ":" in name or ".." in name.split("/"):
            raise ImportRefused(f"{_shown(name)} points outside the zip's folder: the zip is refused.")
        if posixpath.normpath(name) != name or name in files:
            raise ImportRefused(f"{_shown(name)} is not a plain file name in the zip.")
        size = member.file_size
        if size > MAX_FILE_BYTES:
            raise ImportRefused(f"{_shown(name)} unpacks to {size:,} bytes: a zip bomb, refused.")
        total += size
        files[name] = member
    if total > MAX_TOTAL_BYTES:
        raise ImportRefused(f"The zip unpacks to {total / 2**20:,.0f} MB: a zip bomb, refused.")
    return files


def _read(archive: zipfile.ZipFile, files: dict[str, zipfile.ZipInfo], name: str) -> bytes:
    """Reads one file, never more than its checked size (a lying header stops there)."""
    if name not in files:
        raise ImportRefused(f"The zip has no {_shown(name)}.")
    try:
        with archive.open(files[name]) as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except UNPACKING_ERRORS as error:
        raise ImportRefused(f"{_shown(name)} cannot be unpacked: the zip is damaged or encrypted.") from error
    if len(data) > files[name].file_size:
        raise ImportRefused(f"{_shown(name)} unpacks to more than its zip entry says: refused.")
    return data


def _labels(data: bytes) -> list[tuple[str, int]]:
    """Reads labels.csv: a `file,label` header, then one drawing a row."""
    try:
        lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    except (UnicodeDecodeError, csv.Error) as error:
        raise ImportRefused(f"{LABELS_FILE} is not a text table of file,label rows.") from error
    if not lines or [cell.strip().lower() for cell in lines[0]] != ["file", "label"]:
        raise ImportRefused(f"{LABELS_FILE} must start with the header: file,label")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        if len(line) != 2 or line[1].strip() not in DIGIT_LABELS:
            raise ImportRefused(f"Line {number} of {LABELS_FILE} has no digit 0-9 as its label: refused.")
        rows.append((line[0], int(line[1].strip())))
    if not rows:
        raise ImportRefused(f"{LABELS_FILE} lists no drawing.")
    if len(rows) > MAX_FILES:
        raise ImportRefused(f"{LABELS_FILE} lists {len(rows):,} drawings: at most {MAX_FILES:,} at once.")
    names = [name for name, _ in rows]
    if len(set(names)) != len(names):
        raise ImportRefused(f"{LABELS_FILE} lists a file twice.")
    return rows


def _drawing(archive: zipfile.ZipFile, files: dict, name: str, label: int) -> Drawing:
    """One listed drawing: its picture checked, decoded and prepared; its strokes if any."""
    picture = _image(_read(archive, files, name), name)
    strokes = None
    if STROKES_FOLDER + name in files:
        strokes = _read(archive, files, STROKES_FOLDER + name)
        _image(strokes, STROKES_FOLDER + name)  # Checked, so only a picture is ever stored.
    if picture.shape[:2] == (28, 28) and picture.ndim == 2:
        return Drawing(label, picture, strokes)
    try:
        prepared = prepare_digit(picture)
    except (ImageError, NotADigitError) as error:
        raise ImportRefused(f"{_shown(name)}: {error}") from error
    return Drawing(label, model_view(prepared), strokes or stroke_png(picture))


def _image(data: bytes, name: str) -> np.ndarray:
    """Decodes a PNG after checking, from its header, that it is one of sane size."""
    try:
        with Image.open(io.BytesIO(data), formats=("PNG",)) as header:
            width, height = header.size
    except Exception as error:  # Pillow raises many types for a non-image: all mean the same.
        raise ImportRefused(f"{_shown(name)} is not a PNG image: refused.") from error
    if width * height > MAX_IMAGE_PIXELS:
        raise ImportRefused(f"{_shown(name)} is {width:,}x{height:,} pixels: far too large for a digit.")
    try:
        return decode_image(data)
    except ImageError as error:
        raise ImportRefused(f"{_shown(name)}: {error}") from error


def _shown(name: str) -> str:
    """A file name from the zip as a message may show it: printable and short."""
    printable = "".join(character if character.isprintable() else "?" for character in name)
    return repr(printable[:80])
