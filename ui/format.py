"""How pages write things: run labels, statuses, durations, user text, widget keys."""

from __future__ import annotations

import re

import pandas as pd

from core.config import dataset_facts

STATUS_LABELS = {
    "queued": "⏳ queued",
    "running": "🏃 running",
    "completed": "✅ completed",
    "failed": "❌ failed",
    "cancelled": "⏹️ stopped",
    "pruned": "✂️ pruned",
}
MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!<>|~$:=])")


# Markdown turns bare addresses into links even when escaped; a zero-width space inside
# their start keeps them text and looks the same.
AUTOLINK_START = re.compile(r"(?i)(?<=h)(?=ttps?:)|(?<=w)(?=ww\.)|(?<=@)")


def as_text(text: str) -> str:
    """Escapes user text (a run name) so Markdown shows it as typed, never as markup
    or a link."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", AUTOLINK_START.sub("\u200b", str(text)))


def dataset_label(name: str) -> str:
    """Returns a dataset's menu label, e.g. 'MNIST digits'."""
    return dataset_facts(name).label


def _label(name: str, run_id: int, accuracy: float | None) -> str:
    score = f", {accuracy:.1%}" if pd.notna(accuracy) else ""
    return f"{name} (#{run_id}{score})"


def run_label(row) -> str:
    """Returns 'Name (#id, 97.2 %)' for a run row."""
    return _label(row["name"], row["id"], row["test_accuracy"])


def distinct_names(table: pd.DataFrame) -> dict[int, str]:
    """Returns each run's name by id, followed by ' #id' where another run in the table
    has the same name (two Quick CNNs read side by side)."""
    shared = table["name"].duplicated(keep=False)
    return {
        int(run_id): f"{name} #{run_id}" if twice else str(name)
        for run_id, name, twice in zip(table["id"], table["name"], shared, strict=True)
    }


def run_labels(table: pd.DataFrame) -> list[str]:
    """Returns `run_label` of every row of a runs table (fast for thousands of runs)."""
    return [_label(*row) for row in zip(table["name"], table["id"], table["test_accuracy"], strict=True)]


def format_seconds(seconds: float) -> str:
    """Returns 75 as '1 min 15 s'."""
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


def field_key(field: str, dataset: str, model: str) -> str:
    """The widget key of a Train page hyperparameter field for a dataset and model,
    e.g. 'epochs--mnist-mlp-32'."""
    return f"{field}--" + re.sub(r"[^a-z0-9]+", "-", f"{dataset} {model}".lower()).strip("-")
