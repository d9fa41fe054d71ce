"""Every digit model scored on the personal set (the user's saved drawings).

A model reads each drawing once: `ReadingsCache` keeps each run's reading of each
drawing, per model file, and asks the model reader only for drawings it has not read
(a drawing's picture never changes; relabelling one changes the score, not the
reading). A model file that changes is read again. Nothing is ever trained here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from core.reader import MAX_BATCH


@dataclass(frozen=True)
class PersonalScore:
    """How one model reads the personal set.

    Attributes:
        correct: drawings it reads as labelled.
        total: drawings read.
        per_digit: for each digit drawn, (read right, drawn).
        wrong: (drawing id, the digit it read) of each drawing it misreads.
    """

    correct: int
    total: int
    per_digit: dict[int, tuple[int, int]] = field(default_factory=dict)
    wrong: list[tuple[int, int]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        """The share of drawings read as labelled (0-1)."""
        return self.correct / self.total if self.total else float("nan")


def score(readings: dict[int, int], drawings: list[dict]) -> PersonalScore:
    """Scores a model's readings (drawing id -> digit read) against the drawings' labels."""
    per_digit: dict[int, list[int]] = {}
    wrong = []
    for drawing in drawings:
        read = readings[int(drawing["id"])]
        label = int(drawing["label"])
        counts = per_digit.setdefault(label, [0, 0])
        counts[0] += read == label
        counts[1] += 1
        if read != label:
            wrong.append((int(drawing["id"]), read))
    correct = sum(right for right, _ in per_digit.values())
    return PersonalScore(
        correct, len(drawings), {digit: tuple(per_digit[digit]) for digit in sorted(per_digit)}, wrong
    )


class ReadingsCache:
    """Each run's reading of each saved drawing, asked of the model reader once per
    model file and drawing. Safe to share between the web server's threads.

    Args:
        reader: a `core.reader.ReaderClient` (its store locates the model files).
    """

    def __init__(self, reader):
        self.reader = reader
        self._readings: dict[int, tuple[float, dict[int, int]]] = {}
        self._lock = threading.Lock()

    def readings(self, run_ids: list[int], drawings: list[dict]) -> dict[int, dict[int, int] | str]:
        """Returns, for each run, the digit it reads in each drawing (by drawing id), or
        a sentence saying why that model cannot read."""
        return {int(run_id): self._run_readings(int(run_id), drawings) for run_id in run_ids}

    def scores(self, run_ids: list[int], drawings: list[dict]) -> dict[int, PersonalScore | str]:
        """Returns each run's score on the drawings, or why that model cannot read."""
        return {
            run_id: answer if isinstance(answer, str) else score(answer, drawings)
            for run_id, answer in self.readings(run_ids, drawings).items()
        }

    def _run_readings(self, run_id: int, drawings: list[dict]) -> dict[int, int] | str:
        try:
            modified = self.reader.store.model_path(run_id).stat().st_mtime
        except OSError:
            return f"The model file of run {run_id} is missing: retrain the run."
        with self._lock:
            cached = self._readings.get(run_id)
            known = dict(cached[1]) if cached is not None and cached[0] == modified else {}
        missing = [drawing for drawing in drawings if int(drawing["id"]) not in known]
        for start in range(0, len(missing), MAX_BATCH):
            batch = missing[start : start + MAX_BATCH]
            # Always a full batch (blank drawings pad it): the reader's compiled model
            # then sees one shape, where each new batch size would compile it again.
            images = np.zeros((MAX_BATCH, 28, 28), np.float32)
            images[: len(batch)] = np.stack([drawing["image"] for drawing in batch]) / 255.0
            answer = self.reader.read_images([run_id], images)[run_id]
            if isinstance(answer, str):
                return answer
            read = answer[: len(batch)].argmax(axis=1)
            known.update({int(drawing["id"]): int(digit) for drawing, digit in zip(batch, read, strict=True)})
        current = {int(drawing["id"]) for drawing in drawings}
        known = {drawing_id: digit for drawing_id, digit in known.items() if drawing_id in current}
        with self._lock:
            self._readings[run_id] = (modified, known)
        return known
