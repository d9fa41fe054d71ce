"""What the page tests share: a page through AppTest, stored run rows without model
files, and stand-ins for the worker and the model reader (no TensorFlow)."""

from __future__ import annotations

import os
from html.parser import HTMLParser

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

from core.presets import get_preset
from tests.conftest import REPO_DIR


def page_of(name: str, **query: str) -> AppTest:
    """A page of the app through AppTest, opened with query parameters in its address
    (as a browser opens a link: the session starts with them)."""
    app = AppTest.from_file(str(REPO_DIR / "app.py"), default_timeout=120)
    for parameter, value in query.items():
        app.query_params[parameter] = value
    app.run()
    assert not app.exception, app.exception
    app.switch_page(f"app_pages/{name}.py").run()
    assert not app.exception, app.exception
    return app


def stored_run(store, preset: str, name: str, accuracy: float | None = 0.9, status: str = "completed") -> int:
    """A run row of a preset (no model file): completed with that test accuracy, or
    finished with another status."""
    config = get_preset(preset).config
    run_id = store.create_run(config, 1000, name)
    assert store.claim_next(os.getpid()) == run_id
    if status != "completed":
        store.finish(run_id, status)
        return run_id
    results = {"test_loss": 1.0, "test_accuracy": accuracy, "seconds_per_epoch": 1.0, "total_seconds": 5.0}
    results |= {"ms_per_prediction": 1.0, "evaluation": {}, "versions": {}, "model_file": ""}
    assert store.complete(run_id, results)
    return run_id


def stub_workers(monkeypatch) -> None:
    """Queued runs stay queued: no worker process is started."""
    import core.worker
    import ui.resources

    monkeypatch.setattr(core.worker, "ensure_workers", lambda store: None)
    monkeypatch.setattr(ui.resources, "ensure_workers", lambda store: None)


def one_hot(digit: int, confidence: float = 0.9) -> np.ndarray:
    scores = np.full(10, (1 - confidence) / 9, dtype=np.float32)
    scores[digit] = confidence
    return scores


def stub_reader(monkeypatch) -> dict:
    """Stands in for the model reader: every digit model reads 3 (the returned dict's
    "digits" sets a run's digit, or the sentence it answers instead), every sentiment
    model says 91 % positive."""
    import ui.resources

    answers = {"digits": {}}

    def read_digits(run_ids, prepared):
        said = {run_id: answers["digits"].get(run_id, 3) for run_id in run_ids}
        return {
            run_id: answer if isinstance(answer, str) else one_hot(answer) for run_id, answer in said.items()
        }

    def read_reviews(run_ids, review):
        return {run_id: 0.91 for run_id in run_ids}

    monkeypatch.setattr(ui.resources, "read_digits", read_digits)
    monkeypatch.setattr(ui.resources, "read_reviews", read_reviews)
    return answers


def readings_shown(app) -> pd.DataFrame:
    """Every model's reading as the page shows it: a row per model, the text of each
    cell under its header, and its run (`run`) and whether it stands out (`differs`)."""
    body = next(html.proto.body for html in app.get("html") if 'class="readings"' in html.proto.body)
    reader = TableReader()
    reader.feed(body)
    return pd.DataFrame(reader.rows, columns=[*reader.headers, "run", "differs"])


class TableReader(HTMLParser):
    """Reads a plain HTML table's headers, and each row's cell texts, data-run and class."""

    def __init__(self) -> None:
        super().__init__()
        self.headers: list[str] = []
        self.rows: list[list] = []
        self._cell: list[str] | None = None
        self._row: dict | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "tr" and "data-run" in attributes:
            self._row = {
                "cells": [],
                "run": int(attributes["data-run"]),
                "differs": attributes.get("class") == "differs",
            }
        elif tag in ("th", "td"):
            self._cell = []

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if tag == "th" and self._cell is not None:
            self.headers.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "td" and self._cell is not None and self._row is not None:
            self._row["cells"].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append([*self._row["cells"], self._row["run"], self._row["differs"]])
            self._row = None
