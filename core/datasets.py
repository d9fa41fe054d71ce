"""Datasets: MNIST, Fashion-MNIST and movie-review sentiment.

Each loader tries, in order: the user's Keras cache (or `DIGITLAB_DATA_DIR`), the
real download (short timeout; skipped with `DIGITLAB_OFFLINE=1`), then the copy
bundled in this repository (`bundled_data/`, see its PROVENANCE.md). Every loaded
dataset says where it came from.
"""

from __future__ import annotations

import gzip
import json
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.config import DatasetFacts, dataset_facts

REPO_DIR = Path(__file__).resolve().parent.parent
BUNDLED_DIR = REPO_DIR / "bundled_data"
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
KERAS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
FASHION_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
SENTIMENT_TEST_FRACTION = 0.2
SPLIT_SEED = 0  # Fixed, so every run of a dataset is scored on the same test items.

DIGIT_NAMES = tuple(str(digit) for digit in range(10))
FASHION_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
SENTIMENT_NAMES = ("negative", "positive")

_download_failed: set[str] = set()


class DatasetUnavailable(RuntimeError):
    """No source could provide the dataset; the message says how to get it."""


@dataclass(frozen=True)
class Dataset:
    """A loaded dataset: train and test splits, class names and where it came from."""

    name: str
    source: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]

    @property
    def facts(self) -> DatasetFacts:
        """Returns what is known of this dataset before loading (title, text or images)."""
        return dataset_facts(self.name)

    @property
    def is_text(self) -> bool:
        """Returns True for the sentiment dataset (inputs are review strings)."""
        return self.facts.is_text

    def describe(self) -> str:
        """Returns e.g. 'MNIST, offline subset: 10,000 train / 10,000 test'."""
        return f"{self.facts.title}, {self.source}: {len(self.y_train):,} train / {len(self.y_test):,} test"


def load_dataset(name: str) -> Dataset:
    """Loads a dataset by name from the first source that works.

    Args:
        name: mnist, fashion_mnist or sentiment.

    Raises:
        ValueError: unknown name.
        DatasetUnavailable: no source works (the message says how to get it).
    """
    dataset_facts(name)  # Raises ValueError for an unknown name.
    loaders = {"mnist": _load_mnist, "fashion_mnist": _load_fashion, "sentiment": _load_sentiment}
    return loaders[name]()


def cache_dir() -> Path:
    """Returns the folder searched first and downloaded into (the Keras cache)."""
    if os.environ.get("DIGITLAB_DATA_DIR"):
        return Path(os.environ["DIGITLAB_DATA_DIR"])
    keras_home = os.environ.get("KERAS_HOME", str(Path.home() / ".keras"))
    return Path(keras_home) / "datasets"


def download(filename: str, destination: Path) -> bool:
    """Downloads one Keras dataset file; returns False when offline or it fails.

    The timeout is `DIGITLAB_DOWNLOAD_TIMEOUT` seconds (default 5) and a failure
    is remembered for the rest of the process, so an offline start stays fast.
    """
    if os.environ.get("DIGITLAB_OFFLINE") == "1" or filename in _download_failed:
        return False
    timeout = float(os.environ.get("DIGITLAB_DOWNLOAD_TIMEOUT", "5"))
    partial = destination.with_name(destination.name + ".part")
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(KERAS_URL + filename, timeout=timeout) as response:
            partial.write_bytes(response.read())
        os.replace(partial, destination)
        return True
    except (TimeoutError, OSError, ValueError):
        _download_failed.add(filename)
        partial.unlink(missing_ok=True)
        return False


def _cached_or_downloaded(filename: str) -> tuple[Path | None, str]:
    path = cache_dir() / filename
    if path.exists():
        return path, "full, from the local cache"
    if download(filename, path):
        return path, "full, downloaded"
    return None, ""


def _load_mnist() -> Dataset:
    path, source = _cached_or_downloaded("mnist.npz")
    if path is None:
        path, source = BUNDLED_DIR / "mnist-offline.npz", "offline subset"
    with np.load(path) as data:
        arrays = [data[key] for key in ("x_train", "y_train", "x_test", "y_test")]
    return Dataset("mnist", source, *arrays, class_names=DIGIT_NAMES)


def read_idx(path: Path) -> np.ndarray:
    """Reads a gzipped IDX file (the original MNIST / Fashion-MNIST format)."""
    with gzip.open(path, "rb") as handle:
        raw = handle.read()
    dimensions = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dimensions))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dimensions).reshape(shape)


def _load_fashion() -> Dataset:
    folder, source = _fashion_folder()
    arrays = [read_idx(folder / name) for name in FASHION_FILES]
    return Dataset("fashion_mnist", source, *arrays, class_names=FASHION_NAMES)


def _fashion_folder() -> tuple[Path, str]:
    cache = cache_dir() / "fashion-mnist"
    candidates = ((cache, "full, from the local cache"), (DEBIAN_FASHION_DIR, "full, Debian package"))
    for folder, source in candidates:
        if all((folder / name).exists() for name in FASHION_FILES):
            return folder, source
    if all(download(name, cache / name) for name in FASHION_FILES):
        return cache, "full, downloaded"
    raise DatasetUnavailable(
        "Fashion-MNIST is not on this machine and could not be downloaded: connect "
        "to the internet once, or run 'apt-get install dataset-fashion-mnist'."
    )


def _load_sentiment() -> Dataset:
    imdb_path, source = _cached_or_downloaded("imdb.npz")
    index_path, _ = _cached_or_downloaded("imdb_word_index.json")
    if imdb_path is not None and index_path is not None:
        return _imdb(imdb_path, index_path, source)
    return _rt_polarity()


def _imdb(imdb_path: Path, index_path: Path, source: str) -> Dataset:
    words = {rank: word for word, rank in json.loads(index_path.read_text()).items()}
    with np.load(imdb_path, allow_pickle=True) as data:
        splits = [data[key] for key in ("x_train", "y_train", "x_test", "y_test")]

    def decode(sequences: np.ndarray) -> np.ndarray:
        return np.array([" ".join(words.get(int(i), "") for i in seq) for seq in sequences], dtype=object)

    return Dataset(
        "sentiment",
        f"IMDB reviews, {source}",
        decode(splits[0]),
        splits[1].astype(np.uint8),
        decode(splits[2]),
        splits[3].astype(np.uint8),
        class_names=SENTIMENT_NAMES,
    )


def _rt_polarity() -> Dataset:
    folder = BUNDLED_DIR / "rt-polarity"
    texts, labels = [], []
    for label, suffix in ((0, "neg"), (1, "pos")):
        lines = (folder / f"rt-polarity.{suffix}").read_text(encoding="utf-8", errors="replace")
        sentences = [line.strip() for line in lines.splitlines() if line.strip()]
        texts += sentences
        labels += [label] * len(sentences)
    texts_array = np.array(texts, dtype=object)
    labels_array = np.array(labels, dtype=np.uint8)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(labels_array))
    cut = int(len(order) * (1 - SENTIMENT_TEST_FRACTION))
    train, test = order[:cut], order[cut:]
    return Dataset(
        "sentiment",
        "Rotten Tomatoes sentences (offline), 20 % held out",
        texts_array[train],
        labels_array[train],
        texts_array[test],
        labels_array[test],
        class_names=SENTIMENT_NAMES,
    )


def validation_split(size: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Splits range(size) into shuffled (train, validation) index arrays.

    Validation always comes out of the training split, never the test split.
    """
    order = np.random.default_rng(seed).permutation(size)
    count = max(1, int(round(size * fraction)))
    return order[count:], order[:count]
