"""Exports of the runs table that are safe to open in a spreadsheet."""

from __future__ import annotations

import pandas as pd

# A cell starting with one of these is run as a formula by Excel, LibreOffice and
# Google Sheets (OWASP's list for CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value):
    """Returns a text cell that a spreadsheet shows as text, never runs as a formula.

    Text starting with =, +, -, @, a tab or a carriage return gets a leading single
    quote (the spreadsheet convention for "this is text"); anything else is returned
    unchanged.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return f"'{value}"
    return value


def runs_csv(table: pd.DataFrame) -> str:
    """Returns the runs table as CSV text in which no cell runs as a formula.

    Every text cell (run names, notes, errors, presets, any column of strings) is
    neutralised with `neutralise_cell`; numbers are written as they are.

    Args:
        table: a table such as `RunStore.runs_table()` returns.

    Returns:
        The CSV, with a header row and without the index; lines end in CRLF (RFC 4180),
        so a cell holding a line break of either kind is quoted, never split.
    """
    safe = table.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(neutralise_cell)
    return safe.to_csv(index=False, lineterminator="\r\n")
