"""The model reader: a separate process that loads each trained model once and reads
digits and reviews for the web server, so the server never imports TensorFlow.

`python -m core reader` serves requests on a Unix socket in the data directory,
authenticated with a key only the data directory's owner can read. Messages are a
JSON header and raw array bytes (no pickle): one float32 array for readings, several
arrays (float32, int32, bool) for explanations (`core.explain.results.pack`).
`ReaderClient` starts the reader when none answers, restarts it when it died or
stopped answering, and refuses a model that crashed it twice instead of retrying it
forever. A reader that dies while reading a model it had read before is not blamed on
that model: the model loaded and read, so something else ended the reader.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import signal
import threading
import time
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path

import numpy as np

from core.config import IMAGE_SHAPE
from core.explain.results import WIRE_DTYPES, pack, unpack
from core.locks import file_lock
from core.processes import process_alive, process_stopped, same_process_since, start_engine_process

START_TIMEOUT_SECONDS = 60.0
ANSWER_TIMEOUT_SECONDS = 120.0  # Loading TensorFlow and a model on a busy machine takes up to a minute.
CRASHES_BEFORE_REFUSAL = 2
IDLE_EXIT_SECONDS = 900.0  # A reader nobody asked for 15 minutes exits; the next reading starts one.
MAX_BATCH = 64
MAX_LOADED_MODELS = 24  # The least recently read model is dropped past this (about 80 MB each).
MAX_TEXT_CHARACTERS = 5000


class ReaderUnavailable(RuntimeError):
    """The reader process could not answer; the message says why."""


def socket_address(home: Path) -> str:
    """Returns the reader's socket: a file in the data directory, or an abstract
    socket named after it when that path is too long for a Unix socket."""
    path = Path(home).resolve() / "reader.sock"
    if len(str(path)) < 100:
        return str(path)
    return "\0digitlab-reader-" + hashlib.sha256(str(path).encode()).hexdigest()[:24]


def auth_key(home: Path) -> bytes:
    """Returns the shared secret of this data directory (created 0600 on first use)."""
    path = Path(home) / "reader.key"
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        key = secrets.token_hex(32)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(key)
        return bytes.fromhex(key)


def send(connection: Connection, header: dict, payload: np.ndarray | list | None = None) -> None:
    """Sends a JSON header and, if given, a float32 array's bytes, or the bytes of each
    array of a list (float32, int32 or bool; their types and shapes go in the header)."""
    if isinstance(payload, list):
        arrays = [np.ascontiguousarray(array) for array in payload]
        header = {**header, "arrays": [[array.dtype.name, list(array.shape)] for array in arrays]}
        connection.send_bytes(json.dumps(header).encode())
        for array in arrays:
            connection.send_bytes(array.tobytes())
        return
    if payload is not None:
        payload = np.ascontiguousarray(payload, dtype=np.float32)
        header = {**header, "shape": list(payload.shape)}
    connection.send_bytes(json.dumps(header).encode())
    if payload is not None:
        connection.send_bytes(payload.tobytes())


def receive(connection: Connection, max_bytes: int = 64 << 20) -> tuple[dict, np.ndarray | list | None]:
    """Receives what `send` sent: the header and the array, the list of arrays, or None.

    Raises:
        ValueError: an array of a type that may not travel (anything but float32,
            int32 and bool).
    """
    header = json.loads(connection.recv_bytes(1 << 20))
    if "arrays" in header:
        arrays = []
        for dtype, shape in header["arrays"]:
            if dtype not in WIRE_DTYPES:
                raise ValueError(f"An array of type {dtype!r} may not travel to or from the reader.")
            data = np.frombuffer(connection.recv_bytes(max_bytes), dtype=dtype)
            arrays.append(data.reshape(tuple(int(size) for size in shape)))
        return header, arrays
    if "shape" not in header:
        return header, None
    shape = tuple(int(size) for size in header["shape"])
    payload = np.frombuffer(connection.recv_bytes(max_bytes), dtype=np.float32)
    return header, payload.reshape(shape)


class ReaderClient:
    """Asks the reader process for readings; starts or restarts it as needed.

    Args:
        store: the run store whose models are read.
    """

    def __init__(self, store):
        self.store = store
        self.home = Path(store.home)
        self._key = auth_key(self.home)
        self._address = socket_address(self.home)
        self._started: list = []  # Readers this client started, waited for once they exit.
        self._warmed: dict[tuple[int, ...], float] = {}  # Runs warmed up, and when.
        self._warm_lock = threading.Lock()
        self._answered: set[tuple[int | None, int]] = set()  # (reader pid, run) read once at least.

    def read_images(self, run_ids: list[int], images: np.ndarray) -> dict[int, np.ndarray | str]:
        """Returns, for each run, class probabilities (N, classes) of images (N, 28, 28)
        in [0, 1], or a sentence saying why that model cannot read."""
        images = np.asarray(images, dtype=np.float32).reshape(-1, *IMAGE_SHAPE)[:MAX_BATCH]
        return self._read(run_ids, {"op": "images"}, images)

    def warm_up(self, run_ids: list[int]) -> None:
        """Starts the reader if needed and loads these runs' models in the background
        (a throwaway reading), so a user's first reading does not wait for TensorFlow
        to import; with no runs, only starts it. Asks again for the same runs only
        once the reader may have exited idle."""
        wanted = tuple(sorted({int(run_id) for run_id in run_ids}))
        with self._warm_lock:
            if time.monotonic() - self._warmed.get(wanted, -1e9) < IDLE_EXIT_SECONDS / 2:
                return
            self._warmed[wanted] = time.monotonic()
        if wanted:
            blank = np.zeros((1, *IMAGE_SHAPE), dtype=np.float32)
            threading.Thread(target=self.read_images, args=(list(wanted), blank), daemon=True).start()
        else:  # No model yet: the reader starts, and imports TensorFlow, meanwhile.
            threading.Thread(target=self._start_quietly, daemon=True).start()

    def _start_quietly(self) -> None:
        """Starts the reader if none answers; a failure waits for a real reading to tell it."""
        with contextlib.suppress(ReaderUnavailable, OSError):
            self._connect().close()

    def read_texts(self, run_ids: list[int], texts: list[str]) -> dict[int, np.ndarray | str]:
        """Returns, for each run, P(positive) of each text, or why it cannot read."""
        texts = [str(text)[:MAX_TEXT_CHARACTERS] for text in texts[:MAX_BATCH]]
        return self._read(run_ids, {"op": "texts", "texts": texts}, None)

    def explain_image(
        self, run_id: int, image: np.ndarray, target: int | None = None, views: tuple[str, ...] | None = None
    ) -> dict | str:
        """Returns the "Inside the model" views of one image (28, 28) in [0, 1], or a
        sentence saying why this model cannot explain it.

        Args:
            run_id: a completed digit run.
            image: the 28x28 the model sees.
            target: the class the attributions explain; None for the predicted one.
            views: names from `core.explain.IMAGE_VIEWS`; None for all the model has.

        Returns:
            What `core.explain.explain_image` returns: "probabilities", "predicted",
            "target", "available" and one result dataclass per view; the "map" view
            is the run's digit map (built once per model file, then read from disk).
        """
        image = np.asarray(image, dtype=np.float32).reshape(1, *IMAGE_SHAPE)
        request = {"op": "explain_image", "target": None if target is None else int(target)}
        if views is not None:
            request["views"] = [str(name) for name in views]
        return self._read([run_id], request, image)[int(run_id)]

    def explain_text(self, run_id: int, text: str):
        """Returns a sentiment model's verdict on a review word by word (a
        `core.explain.WordReading`), or a sentence saying why it cannot."""
        request = {"op": "explain_text", "text": str(text)[:MAX_TEXT_CHARACTERS]}
        return self._read([run_id], request, None)[int(run_id)]

    def _read(self, run_ids: list[int], request: dict, payload) -> dict[int, np.ndarray | str]:
        answers: dict[int, np.ndarray | str] = {}
        self._end_stopped_reader()  # Once per reading, not once per model.
        refused = self._refused()
        for run_id in [int(i) for i in run_ids]:
            if refused.get(str(run_id), 0) >= CRASHES_BEFORE_REFUSAL:
                answers[run_id] = (
                    "This model stopped the model reader every time it was loaded, so it is no "
                    "longer loaded: retrain the run or delete it."
                )
                continue
            try:
                modified = self.store.model_path(run_id).stat().st_mtime
            except OSError:
                answers[run_id] = f"The model file of run {run_id} is missing: retrain the run."
                continue
            try:
                answers[run_id] = self._ask({**request, "run_id": run_id, "modified": modified}, payload)
            except ReaderUnavailable as error:
                answers[run_id] = str(error)
        return answers

    def _ask(self, request: dict, payload) -> np.ndarray:
        connection = self._connect()
        reader = (self._reader_pid(), request["run_id"])
        try:
            send(connection, request, payload)
            if not connection.poll(ANSWER_TIMEOUT_SECONDS):
                self._end_reader(reader[0])
                raise ReaderUnavailable(
                    f"The model reader did not answer for {ANSWER_TIMEOUT_SECONDS:.0f} s, so it was "
                    "restarted: try again."
                )
            header, result = receive(connection)
        except (EOFError, OSError) as error:
            if reader not in self._answered:  # It died at this model's first reading: maybe its fault.
                self._record_crash(request["run_id"])
            raise ReaderUnavailable(
                "The model reader stopped while reading with this model; it restarts on the next reading."
            ) from error
        finally:
            connection.close()
        self._answered.add(reader)
        if not header.get("ok"):
            raise ReaderUnavailable(header.get("error", "The model reader could not read."))
        if "result" in header:
            try:
                return unpack(header["result"], result)
            except (ValueError, TypeError, KeyError) as error:
                raise ReaderUnavailable(f"The model reader's answer could not be read ({error}).") from error
        return result

    def _reader_pid(self) -> int | None:
        """The running reader's pid (from reader.pid), or None when it is not known."""
        path = self.home / "reader.pid"
        try:
            pid, written = int(path.read_text()), path.stat().st_mtime
        except (OSError, ValueError):
            return None
        return pid if same_process_since(pid, written) else None

    def _end_stopped_reader(self) -> None:
        """Ends a reader that was stopped (SIGSTOP): it would keep every reading waiting.
        The next reading starts a new one."""
        pid = self._reader_pid()
        if pid is not None and process_stopped(pid):
            self._end_reader(pid)

    def _end_reader(self, pid: int | None) -> None:
        if pid is None:
            return
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10.0
        while process_alive(pid) and time.monotonic() < deadline:
            for process in self._started:  # One this client started is reaped here.
                process.poll()
            time.sleep(0.05)

    def _connect(self) -> Connection:
        try:
            return Client(self._address, family="AF_UNIX", authkey=self._key)
        except (OSError, EOFError):
            pass
        self._start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            try:
                return Client(self._address, family="AF_UNIX", authkey=self._key)
            except (OSError, EOFError):
                time.sleep(0.1)
        raise ReaderUnavailable("The model reader did not start: see reader.log in the data directory.")

    def _start(self) -> None:
        """Starts the reader unless another caller is starting one (a file lock)."""
        with file_lock(self.home / "reader.lock"):
            try:
                Client(self._address, family="AF_UNIX", authkey=self._key).close()
                return
            except (OSError, EOFError):
                pass
            arguments = ["reader", "--idle-exit", str(IDLE_EXIT_SECONDS)]
            self._started.append(start_engine_process(self.home, arguments, "reader.log"))
            self._started = [process for process in self._started if process.poll() is None]
            deadline = time.monotonic() + START_TIMEOUT_SECONDS
            while time.monotonic() < deadline:  # Hold the lock until it answers.
                try:
                    Client(self._address, family="AF_UNIX", authkey=self._key).close()
                    return
                except (OSError, EOFError):
                    time.sleep(0.1)

    def _refused(self) -> dict:
        try:
            return json.loads((self.home / "reader-crashes.json").read_text())
        except (OSError, ValueError):
            return {}

    def _record_crash(self, run_id: int) -> None:
        with file_lock(self.home / "reader.lock"):
            crashes = self._refused()
            crashes[str(run_id)] = int(crashes.get(str(run_id), 0)) + 1
            (self.home / "reader-crashes.json").write_text(json.dumps(crashes))


class ReaderServer:
    """The reader process: answers each connection in a thread; loads each model once.

    Args:
        store: the run store whose models it reads.
        idle_exit_seconds: exit after this long without a request (None: never).
    """

    def __init__(self, store, idle_exit_seconds: float | None = None):
        self.store = store
        self.idle_exit_seconds = idle_exit_seconds
        self._predictors: dict[int, tuple[float, object]] = {}
        self._digit_maps: dict[int, tuple[float, object]] = {}
        self._lock = threading.Lock()
        self._maps_lock = threading.Lock()  # Building a map takes a second or two: not under `_lock`.
        self._last_request = time.monotonic()

    def serve(self) -> None:
        """Serves until killed, or until idle for `idle_exit_seconds`."""
        if self.idle_exit_seconds is not None:
            threading.Thread(target=self._exit_when_idle, daemon=True).start()
        address = socket_address(self.store.home)
        if not address.startswith("\0"):
            Path(address).unlink(missing_ok=True)
        listener = Listener(address, family="AF_UNIX", authkey=auth_key(self.store.home))
        (Path(self.store.home) / "reader.pid").write_text(str(os.getpid()))
        print(f"reader: listening (pid {os.getpid()})", flush=True)
        while True:
            try:
                connection = listener.accept()
            except Exception as error:  # A peer without the key: refuse it and go on.
                print(f"reader: refused a connection: {error}", flush=True)
                continue
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _exit_when_idle(self) -> None:
        while time.monotonic() - self._last_request < self.idle_exit_seconds:
            time.sleep(1.0)
        print("reader: idle, exiting", flush=True)
        os._exit(0)  # The accept loop blocks in the main thread; nothing else to clean up.

    def _answer(self, connection: Connection) -> None:
        self._last_request = time.monotonic()
        with connection:
            try:
                request, payload = receive(connection)
                result = self.read(request, payload)
                if isinstance(result, np.ndarray):
                    send(connection, {"ok": True}, result)
                else:
                    structure, arrays = pack(result)
                    send(connection, {"ok": True, "result": structure}, arrays)
            except Exception as error:  # Every failure becomes an answer, never a dead reader.
                with contextlib.suppress(OSError):
                    send(connection, {"ok": False, "error": _sentence(error)})

    def read(self, request: dict, payload: np.ndarray | None):
        """Returns the readings (an array) or the explanation one request asks for."""
        run_id, modified = int(request["run_id"]), float(request.get("modified", 0.0))
        predictor = self.predictor(run_id, modified)
        if request["op"] == "images":
            return predictor.predict_images(payload)
        if request["op"] == "texts":
            return predictor.predict_texts([str(text) for text in request["texts"]])
        if request["op"] == "explain_image":
            return self._explain_image(run_id, modified, predictor, payload, request)
        if request["op"] == "explain_text":
            from core.explain import explain_text

            if predictor.vocabulary is None:
                raise ValueError("This model reads images, not text.")
            return explain_text(
                predictor.model, predictor.vocabulary, str(request["text"]), predictor.max_words
            )
        raise ValueError(f"Unknown request '{request['op']}'.")

    def _explain_image(self, run_id: int, modified: float, predictor, payload, request: dict) -> dict:
        from core.explain import available_views, digit_map_for_run, explain_image

        if predictor.vocabulary is not None:
            raise ValueError("This model reads text, not images.")
        if payload is None or payload.size != IMAGE_SHAPE[0] * IMAGE_SHAPE[1]:
            raise ValueError("Send one 28x28 image to explain.")
        views = request.get("views")
        digit_map = None
        if "map" in (views or available_views(predictor.model)):
            with self._maps_lock:
                cached = self._digit_maps.get(run_id)
                if cached is None or cached[0] != modified:
                    self._digit_maps[run_id] = (
                        modified,
                        digit_map_for_run(self.store, run_id, predictor.model),
                    )
                digit_map = self._digit_maps[run_id][1]
        target = request.get("target")
        return explain_image(
            predictor.model,
            payload,
            target=None if target is None else int(target),
            views=None if views is None else tuple(str(name) for name in views),
            digit_map=digit_map,
        )

    def predictor(self, run_id: int, modified: float):
        """Returns the run's loaded predictor, loading it (again, if its file changed)."""
        from core.predict import load_predictor

        with self._lock:
            cached = self._predictors.pop(run_id, None)  # Put back last: the most recently read.
            if cached is None or cached[0] != modified:
                print(f"reader: loading run {run_id}", flush=True)
                cached = (modified, load_predictor(self.store, run_id))
            self._predictors[run_id] = cached
            while len(self._predictors) > MAX_LOADED_MODELS:
                forgotten = next(iter(self._predictors))
                del self._predictors[forgotten]
                self._digit_maps.pop(forgotten, None)
            return cached[1]


def _sentence(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:300]
