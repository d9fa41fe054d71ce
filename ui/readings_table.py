"""Every model's reading of one input as a plain HTML table, a row per model.

The Draw page redraws it at every pen-up. Streamlit's data grid cost the browser about
95 ms of a reading's 200 (bench/readings.py); a table of a dozen rows in plain HTML
costs a few. The stylesheet is ui/presenter.py's, which every page loads; presenter
mode makes its type 18 px like the rest.
"""

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Collection

from ui.charts import PALETTE

HIDDEN_COLUMNS = ("run", "family")  # In the rows, not shown: the table fits a phone.
HEADERS = {"test accuracy": "test acc."}
TITLES = {"test accuracy": "The model's accuracy on the test set"}
PERCENT_COLUMNS = ("test accuracy",)
MISSING = "–"  # A model that could not read has no reading: a dash, not "None".

CSS = f"""
table.readings {{ border-collapse: collapse; width: 100%; margin: 0.25rem 0 1rem 0; font-size: 0.875rem; }}
table.readings th {{ text-align: left; font-weight: 600; opacity: 0.75;
  border-bottom: 1px solid rgba(128, 128, 128, 0.4); }}
table.readings th, table.readings td {{ padding: 0.25rem 0.5rem; }}
table.readings td {{ border-bottom: 1px solid rgba(128, 128, 128, 0.15); overflow-wrap: anywhere; }}
table.readings td.number {{ text-align: right; white-space: nowrap; }}
table.readings tr.differs td {{ background: #FDE3C4; color: #31333F; }} /* Dark text in a dark theme too. */
table.readings .score {{ display: flex; align-items: center; gap: 0.4rem; min-width: 5.5rem; }}
table.readings .score .track {{ flex: 1; height: 0.5rem; background: rgba(128, 128, 128, 0.2);
  border-radius: 0.25rem; overflow: hidden; }}
table.readings .score .fill {{ height: 100%; background: {PALETTE[0]}; }}
table.readings .score span {{ white-space: nowrap; min-width: 2.6rem; text-align: right; }}
"""


def readings_table_html(rows: list[dict], score_column: str, highlight: Collection[int] = ()) -> str:
    """The HTML of a table with a row per model (rows: one dict of columns per model;
    a model that could not read has a "note" saying why, and a dash where its numbers
    would be). `score_column` (0-1) shows as a bar; the rows of the runs in `highlight`
    stand out. Every text is escaped."""
    columns = [
        column for column in dict.fromkeys(key for row in rows for key in row) if column not in HIDDEN_COLUMNS
    ]
    if "note" in columns:  # Last, and only when some model could not read.
        columns.remove("note")
        columns.append("note")
    header = "".join(_header(column) for column in columns)
    body = "".join(_row(row, columns, score_column, highlight) for row in rows)
    return f'<table class="readings"><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>'


def _header(column: str) -> str:
    title = TITLES.get(column)
    title = f' title="{html.escape(title)}"' if title else ""
    return f"<th{title}>{html.escape(HEADERS.get(column, column))}</th>"


def _row(row: dict, columns: list[str], score_column: str, highlight: Collection[int]) -> str:
    run = row.get("run")
    attributes = "" if run is None else f' data-run="{int(run)}"'
    if run is not None and int(run) in highlight:
        attributes += ' class="differs"'
    cells = "".join(_cell(row.get(column), column, score_column) for column in columns)
    return f"<tr{attributes}>{cells}</tr>"


def _cell(value: object, column: str, score_column: str) -> str:
    if isinstance(value, str):
        return f"<td>{html.escape(value)}</td>"
    if value is None and column == "note":
        return "<td></td>"  # This model read: nothing to note.
    number = _number(value)
    if number is None:
        return f'<td class="number">{MISSING}</td>'
    if column == score_column:
        share = min(max(number, 0.0), 1.0)
        return (
            f'<td><div class="score"><div class="track"><div class="fill" style="width: {share:.1%}">'
            f"</div></div><span>{number:.0%}</span></div></td>"
        )
    text = f"{number:.2%}" if column in PERCENT_COLUMNS else f"{number:.0f}"
    return f'<td class="number">{text}</td>'


def _number(value: object) -> float | None:
    """The value as a finite float; None for no value, NaN or infinity."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value) if math.isfinite(value) else None
