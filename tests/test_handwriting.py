"""The personal set: drawings saved, relabelled and deleted from the pages, exported and
imported as a zip (and every bad zip refused, changing nothing), and every digit run
scored on them through the model reader."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image

from core import handwriting
from core.handwriting import ImportRefused, export_zip, read_zip, stroke_png, to_png
from core.personal_scores import ReadingsCache
from core.presets import get_preset
from core.reader import ReaderClient
from tests.helpers import QUICK
from tests.page_helpers import page_of, stored_run
from tests.training_helpers import run_now


def save_test_digits(store, mnist, count: int, start: int = 0) -> list[int]:
    """Saves MNIST test digits as drawings (their true labels; strokes 10x their size)."""
    _, _, x_test, y_test = mnist
    return [
        store.add_drawing(int(y_test[i]), x_test[i], stroke_png(x_test[i].repeat(10, 0).repeat(10, 1)))
        for i in range(start, start + count)
    ]


def zip_of(files: dict[str, bytes], labels: str | None = None) -> bytes:
    """A zip holding `files` and, unless None, `labels` as labels.csv."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        if labels is not None:
            archive.writestr("labels.csv", labels)
    return buffer.getvalue()


def labels_of(numbers) -> str:
    """A labels.csv listing `<number>.png` as a 1 for each number."""
    return "file,label\n" + "".join(f"{number}.png,1\n" for number in numbers)


def png_bomb(side: int) -> bytes:
    """A real PNG of side x side black pixels: a few kilobytes that decode to side² bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compress(b"\0" * ((side + 1) * side), 9)  # A filter byte and the pixels, each row.
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


DIGIT = to_png(np.zeros((28, 28), np.uint8))


def damaged(data: bytes, after: bytes) -> bytes:
    """The zip with 30 bytes flipped a little after `after` (inside that file's data)."""
    data = bytearray(data)
    start = data.find(after) + len(after) + 10
    data[start : start + 30] = bytes(byte ^ 0xFF for byte in data[start : start + 30])
    return bytes(data)


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
MEGABYTE = b"\0" * 2**20
BAD_ZIPS = {
    "not a zip": (b"PK\x03\x04 this is no zip", "not a zip file"),
    "a text file as a picture": (zip_of({"a.png": b"hello"}, "file,label\na.png,3\n"), "is not a PNG image"),
    "a JPEG as a picture": (
        zip_of({"a.png": b"\xff\xd8\xff\xe0 JFIF"}, "file,label\na.png,3\n"),
        "not a PNG",
    ),
    "a label of 12": (zip_of({"a.png": DIGIT}, "file,label\na.png,12\n"), "no digit 0-9"),
    "a label of x": (zip_of({"a.png": DIGIT}, "file,label\na.png,x\n"), "no digit 0-9"),
    "a label of -1": (zip_of({"a.png": DIGIT}, "file,label\na.png,-1\n"), "no digit 0-9"),
    "no labels.csv": (zip_of({"a.png": DIGIT}), "has no 'labels.csv'"),
    "no header": (zip_of({"a.png": DIGIT}, "a.png,3\n"), "must start with the header"),
    "a listed file missing": (zip_of({"a.png": DIGIT}, "file,label\na.png,3\nb.png,4\n"), "has no 'b.png'"),
    "a file not listed": (zip_of({"a.png": DIGIT, "b.png": DIGIT}, "file,label\na.png,3\n"), "not in labels"),
    "a damaged file": (damaged(zip_of({"a.png": DIGIT * 3}, "file,label\na.png,3\n"), b"a.png"), "damaged"),
    "a zip bomb": (zip_of({"a.png": b"\0" * 20_000_000}, "file,label\na.png,3\n"), "zip bomb"),
    "a zip bomb of many files": (
        zip_of(
            {f"{i}.png": MEGABYTE for i in range(70)},
            "file,label\n" + "".join(f"{i}.png,1\n" for i in range(70)),
        ),
        "unpacks to 70 MB: a zip bomb",
    ),
    "a PNG pixel bomb": (zip_of({"a.png": png_bomb(5000)}, "file,label\na.png,3\n"), "far too large"),
    "a path up the tree": (zip_of({"../a.png": DIGIT}, "file,label\n../a.png,3\n"), "points outside"),
    "an absolute path": (zip_of({"/tmp/a.png": DIGIT}, "file,label\n/tmp/a.png,3\n"), "points outside"),
    "a Windows path up": (zip_of({"..\\a.png": DIGIT}, "file,label\n..\\a.png,3\n"), "points outside"),
    "too many files": (
        zip_of({f"{i}.png": DIGIT for i in range(2 * handwriting.MAX_FILES + 1)}, "file,label\n"),
        "holds 4,002 files: at most 2,000 drawings",
    ),
    "too many drawings listed": (
        zip_of({"1.png": DIGIT}, labels_of(range(handwriting.MAX_FILES + 1))),
        "lists 2,001 drawings: at most 2,000",
    ),
}


# --- Export and import ------------------------------------------------------------------


def test_export_then_import_gives_back_every_drawing_its_label_and_strokes(store, mnist):
    save_test_digits(store, mnist, 12)
    store.relabel_drawing(store.drawings()[0]["id"], 9)  # Labels as the user gave them.
    exported = store.drawings()
    found = read_zip(export_zip(exported))
    assert [drawing.label for drawing in found] == [drawing["label"] for drawing in exported]
    for drawing, original in zip(found, exported, strict=True):
        assert np.array_equal(drawing.image, original["image"])
        assert drawing.stroke_png == original["stroke_png"]
    store.add_drawings(found)
    assert len(store.drawings()) == 24


def test_a_bigger_picture_in_a_zip_is_prepared_as_an_upload_is(mnist):
    _, _, x_test, y_test = mnist
    picture = 255 - x_test[0].repeat(8, 0).repeat(8, 1)  # Dark ink on white paper, 224x224.
    [drawing] = read_zip(zip_of({"seven.png": to_png(picture)}, "file,label\nseven.png,7\n"))
    assert drawing.label == 7 and drawing.image.shape == (28, 28) and drawing.image.dtype == np.uint8
    assert drawing.image[14].max() > 200 and drawing.image[0].max() == 0  # White ink, centred.
    assert Image.open(io.BytesIO(drawing.stroke_png)).size == (224, 224)  # Kept as its strokes.


@pytest.mark.parametrize("case", BAD_ZIPS)
def test_a_bad_zip_is_refused_with_a_message_and_nothing_is_imported(store, mnist, case):
    save_test_digits(store, mnist, 2)
    data, message = BAD_ZIPS[case]
    with pytest.raises(ImportRefused, match=message):
        store.add_drawings(read_zip(data))
    assert len(store.drawings()) == 2


def test_a_randomly_damaged_export_is_imported_or_refused_never_anything_else(store, mnist):
    save_test_digits(store, mnist, 5)
    exported = export_zip(store.drawings())
    rng = np.random.default_rng(0)
    outcomes = set()
    for _ in range(500):  # A few bytes changed anywhere: headers, directory, data.
        data = bytearray(exported)
        for position in rng.integers(len(data), size=rng.integers(1, 9)):
            data[position] = rng.integers(256)
        try:
            outcomes.add(len(read_zip(bytes(data))))
        except ImportRefused:
            outcomes.add("refused")
    assert "refused" in outcomes


def test_one_bad_drawing_among_good_ones_imports_none(store):
    good = read_zip(zip_of({"a.png": DIGIT}, "file,label\na.png,3\n"))
    with pytest.raises(ValueError, match="28x28"):
        store.add_drawings([*good, handwriting.Drawing(4, np.zeros((28, 29), np.uint8))])
    assert store.drawings() == []


# --- Scores -----------------------------------------------------------------------------


def test_every_digit_run_is_scored_through_the_reader_shown_in_compare_and_updated(store, mnist):
    from core.predict import load_predictor

    runs = [
        run_now(store, QUICK, "tiny cnn")[0],
        run_now(store, get_preset("DNN 128-128").config.with_changes(limit=600, epochs=1), "tiny dense")[0],
    ]
    compare = page_of("compare")
    assert compare.dataframe[0].value["my_drawings"].isna().all()  # No drawing yet: a dash.
    save_test_digits(store, mnist, 40)
    drawings = store.drawings()
    images = np.stack([drawing["image"] for drawing in drawings]) / 255.0
    labels = np.array([drawing["label"] for drawing in drawings])
    cache = ReadingsCache(ReaderClient(store))
    scores = cache.scores(runs, drawings)
    for run_id in runs:  # The same as the model's own reading, in this process.
        read = load_predictor(store, run_id).predict_images(images).argmax(axis=1)
        assert scores[run_id].total == 40 and scores[run_id].correct == int((read == labels).sum())
        assert {drawing_id for drawing_id, _ in scores[run_id].wrong} == {
            drawing["id"] for drawing, digit in zip(drawings, read, strict=True) if digit != drawing["label"]
        }
        assert sum(drawn for _, drawn in scores[run_id].per_digit.values()) == 40
    shown = compare.run().dataframe[0].value.set_index("name")["my_drawings"]  # Percent.
    assert shown["tiny cnn"] == pytest.approx(100 * scores[runs[0]].accuracy)
    assert shown["tiny dense"] == pytest.approx(100 * scores[runs[1]].accuracy)
    model_times = [store.model_path(run_id).stat().st_mtime_ns for run_id in runs]

    [new] = save_test_digits(store, mnist, 1, start=40)
    first = store.drawings()[0]
    read_first = dict(cache.readings([runs[0]], store.drawings())[runs[0]])[first["id"]]
    store.relabel_drawing(first["id"], (read_first + 1) % 10)  # Now the model reads it wrong.
    updated = cache.scores(runs, store.drawings())
    assert updated[runs[0]].total == 41
    assert first["id"] in {drawing_id for drawing_id, _ in updated[runs[0]].wrong}
    assert new in cache.readings([runs[1]], store.drawings())[runs[1]]
    assert [store.model_path(run_id).stat().st_mtime_ns for run_id in runs] == model_times
    assert len(store.runs_table()) == 2  # Nothing was trained.


def test_a_run_without_its_model_file_says_so_instead_of_a_score(store, mnist):
    run_id = stored_run(store, "Quick CNN", "no file")
    save_test_digits(store, mnist, 3)
    [answer] = ReadingsCache(ReaderClient(store)).scores([run_id], store.drawings()).values()
    assert "model file of run" in answer


# --- The pages ----------------------------------------------------------------------------


def shown_drawings(app) -> set[int]:
    """The drawings the gallery shows: each has its relabel box."""
    return {int(box.key.removeprefix("relabel_")) for box in app.selectbox if box.key.startswith("relabel_")}


def test_my_drawings_shows_one_digit_at_a_time_relabels_and_deletes(store, mnist):
    ids = save_test_digits(store, mnist, 5)  # Labelled 7, 2, 1, 0, 4.
    store.relabel_drawing(ids[0], 4)
    app = page_of("my_drawings")
    assert app.pills(key="gallery_digit").value == 4  # The digit of the drawing saved last.
    assert shown_drawings(app) == {ids[0], ids[4]}
    app.selectbox(key=f"relabel_{ids[0]}").set_value(7).run()
    assert not app.exception and shown_drawings(app) == {ids[4]}
    assert {drawing["id"]: drawing["label"] for drawing in store.drawings()}[ids[0]] == 7
    app.button(key=f"delete_drawing_{ids[4]}").click().run()
    assert not app.exception and shown_drawings(app) == set()
    assert [drawing["id"] for drawing in store.drawings()] == ids[:4]
    app.pills(key="gallery_digit").set_value(7).run()
    assert shown_drawings(app) == {ids[0]}
    assert app.get("download_button") and app.get("file_uploader")


def confirm_buttons(app) -> list:
    return [button for button in app.button if button.key == "import_confirm"]


def test_my_drawings_imports_a_good_zip_once_and_refuses_a_bad_one(store, mnist):
    save_test_digits(store, mnist, 3)
    exported = export_zip(store.drawings())
    app = page_of("my_drawings")
    bad, message = BAD_ZIPS["a path up the tree"]
    app.file_uploader(key="import_drawings").set_value(("bad.zip", bad, "application/zip")).run()
    assert not app.exception and "Nothing was imported" in app.error[0].value
    assert message in app.error[0].value and not confirm_buttons(app)
    app.file_uploader(key="import_drawings").set_value(("mine.zip", exported, "application/zip")).run()
    assert not app.error and not confirm_buttons(app)  # All three are here already.
    assert any("already in your drawings" in info.value for info in app.info)
    assert len(store.drawings()) == 3
    store.delete_drawing(store.drawings()[0]["id"])
    app.file_uploader(key="import_drawings").set_value(("again.zip", exported, "application/zip")).run()
    assert "2 of them are already here" in app.caption[-1].value
    assert len(store.drawings()) == 2  # Nothing is added before the click.
    app.button(key="import_confirm").click().run()
    assert not app.exception and len(store.drawings()) == 3  # The deleted one, back; no copies.
    app.run()  # The same upload is not imported twice.
    assert len(store.drawings()) == 3 and not confirm_buttons(app)


def test_a_file_name_in_a_refused_zip_is_shown_as_text(store):
    name = "[click here](https://evil.example) **BOLD** $x^2$.png"
    app = page_of("my_drawings")
    bad = zip_of({name: b"not a picture"}, f"file,label\n{name},3\n")
    app.file_uploader(key="import_drawings").set_value(("bad.zip", bad, "application/zip")).run()
    shown = app.error[0].proto.body
    assert "Nothing was imported" in shown and "](" not in shown.replace("\\](", "")
    assert "\\[click here\\]" in shown and "\\*\\*BOLD\\*\\*" in shown and "\\$" in shown


def test_my_drawings_without_drawings_says_how_to_save_them(home):
    app = page_of("my_drawings")
    assert "No drawings yet" in app.info[0].value
    assert not app.get("download_button") and app.get("file_uploader")


def test_teaching_with_too_few_drawings_is_refused_with_a_message(store, mnist):
    save_test_digits(store, mnist, 4)
    stored_run(store, "Quick CNN", "to teach")
    app = page_of("my_drawings")
    app.button(key="teach").click().run()
    assert not app.exception and app.error, "a message says why nothing was queued"
    assert len(store.runs_table()) == 1
