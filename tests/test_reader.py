"""The model reader process: readings match the model's own, it survives being killed,
and it never needs TensorFlow in the caller."""

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from core.predict import load_predictor
from core.processes import process_alive, process_stopped
from core.reader import ReaderClient
from core.worker import run_worker
from tests.conftest import REPO_DIR
from tests.helpers import QUICK, queue, wait_for


@pytest.fixture(scope="module")
def trained_once(tmp_path_factory):
    """Two completed digit runs and a completed sentiment run, trained in this process
    once for the module."""
    from core.presets import get_preset
    from core.store import RunStore

    store = RunStore(tmp_path_factory.mktemp("trained"))
    digits = [queue(store, QUICK, "first"), queue(store, QUICK.with_changes(seed=1), "second")]
    text = get_preset("Bag-of-words sentiment").config.with_changes(epochs=1, limit=2000)
    review = queue(store, text, "reviews")
    run_worker(store, idle_exit_seconds=0)
    return store.home, digits, review


@pytest.fixture
def trained(trained_once, home):
    """The module's trained runs, in a copy of their data directory of this test's own."""
    from core.store import RunStore

    template, digits, review = trained_once
    shutil.copytree(template, home, dirs_exist_ok=True)
    return RunStore(home), digits, review


def reader_pid(store) -> int:
    return int((store.home / "reader.pid").read_text())


def test_readings_match_the_models_own_and_come_from_another_process(trained, mnist):
    store, digits, review = trained
    images = mnist[2][:5].astype(np.float32) / 255.0
    answers = ReaderClient(store).read_images(digits, images)
    for run_id in digits:
        expected = load_predictor(store, run_id).predict_images(images)
        np.testing.assert_allclose(answers[run_id], expected, atol=1e-5)
    assert reader_pid(store) != os.getpid()
    positive = ReaderClient(store).read_texts([review], ["a gripping, beautifully acted film"])[review]
    assert positive.shape == (1,) and 0.0 <= float(positive[0]) <= 1.0


def test_a_run_without_a_model_gets_a_sentence_and_the_others_still_read(trained, mnist):
    store, digits, _ = trained
    store.model_path(digits[1]).unlink()
    answers = ReaderClient(store).read_images([*digits, 999], mnist[2][:1] / 255.0)
    assert answers[digits[0]].shape == (1, 10)
    assert "missing" in answers[digits[1]]
    assert "missing" in answers[999]


def test_a_stopped_reader_is_replaced_and_the_reading_arrives(trained, mnist):
    """A reader stopped with SIGSTOP used to keep every reading waiting, with no message,
    until someone let it go on."""
    store, digits, _ = trained
    client = ReaderClient(store)
    image = mnist[2][:1] / 255.0
    client.read_images(digits[:1], image)
    first = reader_pid(store)
    os.kill(first, signal.SIGSTOP)
    try:
        # The kernel stops it a moment later. A reading that connects before then waits in
        # the connection's handshake until the next reading ends the stopped reader.
        wait_for(lambda: process_stopped(first), timeout=30, message="the reader stopped")
        answers = {}
        reading = threading.Thread(target=lambda: answers.update(client.read_images(digits[:1], image)))
        reading.start()
        reading.join(timeout=120)
        assert answers[digits[0]].shape == (1, 10)
        assert reader_pid(store) != first and not process_alive(first)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(first, signal.SIGKILL)


def test_a_reader_killed_from_outside_is_not_blamed_on_a_model_it_had_read(trained, mnist, monkeypatch):
    """Killed twice with a reading of a model it had read before in hand (as the
    out-of-memory killer or a user would), the reader restarts and the model is not
    refused; before, two such kills refused a healthy model for good."""
    import core.reader

    store, digits, _ = trained
    client = ReaderClient(store)
    image = mnist[2][:1] / 255.0
    send = core.reader.send

    def send_then_kill(connection, header, payload=None):
        pid = reader_pid(store)
        os.kill(pid, signal.SIGSTOP)  # The request arrives, but no answer goes back...
        send(connection, header, payload)
        os.kill(pid, signal.SIGKILL)  # ...before the reader is killed.

    for _ in range(2):
        assert client.read_images(digits[:1], image)[digits[0]].shape == (1, 10)
        monkeypatch.setattr(core.reader, "send", send_then_kill)
        assert "stopped while reading" in client.read_images(digits[:1], image)[digits[0]]
        monkeypatch.setattr(core.reader, "send", send)
    assert client.read_images(digits[:1], image)[digits[0]].shape == (1, 10), "not refused"


def test_the_caller_never_imports_tensorflow(trained, mnist):
    store, digits, _ = trained
    np.save(store.home / "image.npy", mnist[2][:1] / 255.0)
    script = (
        "import sys, numpy as np\n"
        "from core.store import RunStore\n"
        "from core.reader import ReaderClient\n"
        f"store = RunStore({str(store.home)!r})\n"
        f"answers = ReaderClient(store).read_images({digits!r}, np.load(store.home / 'image.npy'))\n"
        "assert all(a.shape == (1, 10) for a in answers.values()), answers\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_DIR, capture_output=True, text=True, timeout=180
    )
    assert output.returncode == 0, output.stderr
    assert output.stdout.split() == ["False", "False"]


def test_a_model_that_kills_the_reader_twice_is_refused_and_the_others_still_read(trained, mnist):
    store, digits, _ = trained
    image = mnist[2][:1] / 255.0
    client = ReaderClient(store)
    log = store.home / "reader.log"
    log.touch()
    for _ in range(2):  # Each time, the reader dies while it loads this model.
        answers = {}
        seen = log.read_text().count(f"loading run {digits[0]}")
        ask = lambda got=answers: got.update(client.read_images(digits[:1], image))  # noqa: E731
        reading = threading.Thread(target=ask)
        reading.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and log.read_text().count(f"loading run {digits[0]}") == seen:
            time.sleep(0.01)
        os.kill(reader_pid(store), signal.SIGKILL)
        reading.join(timeout=120)
        assert "stopped while reading" in answers[digits[0]]
    refused = client.read_images(digits, image)
    assert "no longer loaded" in refused[digits[0]]
    assert refused[digits[1]].shape == (1, 10), "every other model still reads"
    assert log.read_text().count(f"loading run {digits[0]}") == 2, "it is not loaded a third time"


def test_past_its_limit_the_reader_drops_the_model_read_least_recently(trained, monkeypatch):
    import core.reader
    from core.reader import ReaderServer

    store, (first, second), _ = trained
    monkeypatch.setattr(core.reader, "MAX_LOADED_MODELS", 1)
    server = ReaderServer(store)
    stamp = {run_id: store.model_path(run_id).stat().st_mtime for run_id in (first, second)}
    loaded_first = server.predictor(first, stamp[first])
    assert server.predictor(first, stamp[first]) is loaded_first  # Kept while within the limit.
    server.predictor(second, stamp[second])
    assert list(server._predictors) == [second]
    assert server.predictor(first, stamp[first]) is not loaded_first  # Loaded again.


def test_warm_up_starts_the_reader_and_loads_the_models_before_any_reading(trained, mnist):
    store, (first, second), _ = trained
    client = ReaderClient(store)
    client.warm_up([first, second])
    client.warm_up([second, first])  # The same runs again: nothing more is asked.
    log = store.home / "reader.log"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (log.exists() and log.read_text().count("loading run") >= 2):
        time.sleep(0.2)
    loaded = re.findall(r"reader: loading run (\d+)", log.read_text())
    assert sorted(loaded) == sorted([str(first), str(second)])
    readings = client.read_images([first], mnist[2][:1] / 255.0)
    assert readings[first].shape == (1, 10)
    assert log.read_text().count("reader: loading run") == 2  # The reading used the warm model.
