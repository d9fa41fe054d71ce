"""The runs table exported as CSV: a run name never runs as a spreadsheet formula."""

import csv
import io

from core.export import runs_csv
from core.presets import get_preset

NAMES = ['=HYPERLINK("http://evil.example","click")', "+1+1", "-2+3", "@SUM(A1:A9)"]


def test_formula_names_are_exported_as_text_and_numbers_stay_numbers(store):
    config = get_preset("MLP 32").config
    for name in [*NAMES, "MLP 32 - my best", "a-b"]:
        run_id = store.create_run(config, 25_450, name)
        store.finish(run_id, "failed", "=cmd|' /C calc'!A0")  # Errors are text a user sees too.
    table = store.runs_table()

    rows = list(csv.DictReader(io.StringIO(runs_csv(table))))
    names = [row["name"] for row in rows]
    assert sorted(names) == sorted([f"'{name}" for name in NAMES] + ["MLP 32 - my best", "a-b"])
    assert {row["error"] for row in rows} == {"'=cmd|' /C calc'!A0"}
    assert [int(row["id"]) for row in rows] == table["id"].tolist()
    assert {row["params"] for row in rows} == {"25450"}
    assert {row["learning_rate"] for row in rows} == {"0.001"}
    assert set(table["name"]) == {*NAMES, "MLP 32 - my best", "a-b"}, "the table itself is unchanged"


def test_every_text_column_is_neutralised_not_only_the_name():
    import pandas as pd

    table = pd.DataFrame({"note": ["-stopped", "\t=1"], "score": [-0.5, 1.0], "preset": ["@preset", "\r=2"]})
    rows = list(csv.reader(io.StringIO(runs_csv(table))))
    assert rows == [["note", "score", "preset"], ["'-stopped", "-0.5", "'@preset"], ["'\t=1", "1.0", "'\r=2"]]
