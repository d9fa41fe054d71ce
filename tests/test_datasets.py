"""Where data comes from: cache, download (simulated), offline copy, Debian files."""

import gzip
import io
import urllib.request

import numpy as np
import pytest

from core import datasets
from core.datasets import DatasetUnavailable, load_dataset, read_idx, validation_split


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITLAB_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(datasets, "_download_failed", set())


def test_offline_mnist_is_the_bundled_real_subset():
    data = load_dataset("mnist")
    assert data.describe() == "MNIST, offline subset: 10,000 train / 10,000 test"
    assert data.x_train.shape == (10_000, 28, 28) and data.x_train.dtype == np.uint8
    assert set(np.unique(data.y_test)) == set(range(10))


def test_failed_download_falls_back_to_offline_copy(monkeypatch):
    monkeypatch.setenv("DIGITLAB_OFFLINE", "0")
    calls = []

    def unreachable(url, timeout):
        calls.append((url, timeout))
        raise OSError("Network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", unreachable)
    assert load_dataset("mnist").source == "offline subset"
    assert calls and calls[0][1] <= 10, "a short timeout keeps an offline start fast"
    load_dataset("mnist")
    assert len(calls) == 1, "a failed download is not retried in the same process"


def test_failed_imdb_download_falls_back_to_the_offline_reviews(monkeypatch):
    monkeypatch.setenv("DIGITLAB_OFFLINE", "0")
    urls = []

    def unreachable(url, timeout):
        urls.append(url)
        raise OSError("Network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", unreachable)
    data = load_dataset("sentiment")
    assert any(url.endswith("imdb.npz") for url in urls), "the real IMDB download was tried first"
    assert "Rotten Tomatoes" in data.describe()
    assert len(data.y_train) + len(data.y_test) == 10_662


def test_successful_download_is_used_and_cached(monkeypatch):
    monkeypatch.setenv("DIGITLAB_OFFLINE", "0")
    payload = (datasets.BUNDLED_DIR / "mnist-offline.npz").read_bytes()
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: io.BytesIO(payload))
    assert load_dataset("mnist").source == "full, downloaded"
    monkeypatch.setattr(urllib.request, "urlopen", None)
    assert load_dataset("mnist").source == "full, from the local cache"


def test_offline_sentiment_is_rotten_tomatoes_with_a_fixed_held_out_fifth():
    data = load_dataset("sentiment")
    assert len(data.y_train) + len(data.y_test) == 10_662
    assert len(data.y_test) == 2133
    assert abs(data.y_train.mean() - 0.5) < 0.02
    assert set(data.x_train).isdisjoint(set(data.x_test[:200]))
    assert list(load_dataset("sentiment").x_test[:5]) == list(data.x_test[:5])


def test_fashion_mnist_reads_idx_files_and_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_DIR", tmp_path / "none")
    with pytest.raises(DatasetUnavailable, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion_mnist")
    digits = load_dataset("mnist")
    folder = tmp_path / "debian"
    folder.mkdir()
    arrays = [digits.x_train, digits.y_train, digits.x_test, digits.y_test]
    for name, array in zip(datasets.FASHION_FILES, arrays, strict=True):
        header = bytes([0, 0, 8, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
        with gzip.open(folder / name, "wb") as handle:
            handle.write(header + array.tobytes())
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_DIR", folder)
    fashion = load_dataset("fashion_mnist")
    assert fashion.source == "full, Debian package"
    assert np.array_equal(fashion.x_test, digits.x_test)
    assert fashion.class_names[9] == "Ankle boot"
    assert read_idx(folder / datasets.FASHION_FILES[1]).shape == (10_000,)


def test_validation_comes_from_training_split_and_is_disjoint():
    fit, val = validation_split(1000, 0.1, seed=3)
    assert len(val) == 100 and len(fit) == 900
    assert set(fit).isdisjoint(val) and set(fit) | set(val) == set(range(1000))
