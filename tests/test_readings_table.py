"""Every model's reading as an HTML table: names are text, broken numbers a dash."""

from tests.page_helpers import TableReader
from ui.readings_table import readings_table_html


def shown(html: str) -> tuple[list[str], list[list]]:
    reader = TableReader()
    reader.feed(html)
    return reader.headers, reader.rows


def test_a_name_with_markup_is_shown_as_typed_never_run():
    name = '<img src=x onerror="alert(1)"> **bold** [a](javascript:alert(1))'
    html = readings_table_html([{"model": name, "run": 1, "reads": 7, "confidence": 0.9}], "confidence")
    assert "<img" not in html and "&lt;img" in html
    assert shown(html)[1][0][0] == name


def test_a_model_that_could_not_read_shows_dashes_and_its_note_last():
    rows = [
        {"model": "good", "run": 1, "family": "cnn", "reads": 7, "confidence": 0.93, "test accuracy": 0.981},
        {"model": "lost", "run": 2, "reads": None, "note": "The model file is missing."},
    ]
    headers, cells = shown(readings_table_html(rows, "confidence", highlight={2}))
    assert headers == ["model", "reads", "confidence", "test acc.", "note"]  # Run and family hidden.
    assert cells[0] == ["good", "7", "93%", "98.10%", "", 1, False]
    assert cells[1] == ["lost", "–", "–", "–", "The model file is missing.", 2, True]


def test_a_score_that_is_not_a_number_is_a_dash_and_no_bar_leaves_its_cell():
    rows = [
        {"model": "broken", "run": 1, "reads": 3, "confidence": float("nan")},
        {"model": "huge", "run": 2, "reads": 3, "confidence": 7.0},
    ]
    html = readings_table_html(rows, "confidence")
    assert [row[2] for row in shown(html)[1]] == ["–", "700%"]
    assert "width: 100.0%" in html and "nan" not in html.lower()
