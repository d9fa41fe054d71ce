"""Turns review text into padded word-index sequences (index 0 is padding, masked)."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np

from core.config import VOCAB_SIZE

UNKNOWN = 1  # Index 0 is padding, masked by the model.
WORD = re.compile(r"[a-z0-9']+|[!?]")


def tokenize(text: str) -> list[str]:
    """Splits a review into lower-case words (and ! and ?)."""
    return WORD.findall(text.lower())


def build_vocabulary(texts, size: int = VOCAB_SIZE) -> list[str]:
    """Returns the most frequent words of `texts`, at most `size - 2` of them."""
    counts = Counter(word for text in texts for word in tokenize(text))
    return [word for word, _ in counts.most_common(size - 2)]


def encode(texts, vocabulary: list[str], max_words: int) -> np.ndarray:
    """Returns int32 (N, L) word indices, padded with 0 at the end.

    L is the longest text's word count, capped at `max_words`; unknown words get 1.
    """
    index = {word: position + 2 for position, word in enumerate(vocabulary)}
    rows = [[index.get(word, UNKNOWN) for word in tokenize(text)][:max_words] for text in texts]
    length = max(1, max((len(row) for row in rows), default=1))
    encoded = np.zeros((len(rows), length), dtype=np.int32)
    for i, row in enumerate(rows):
        encoded[i, : len(row)] = row
    return encoded


def save_vocabulary(vocabulary: list[str], path: Path) -> None:
    """Writes the vocabulary as JSON beside a text model."""
    path.write_text(json.dumps(vocabulary), encoding="utf-8")


def load_vocabulary(path: Path) -> list[str]:
    """Reads a vocabulary written by `save_vocabulary`."""
    return json.loads(path.read_text(encoding="utf-8"))
