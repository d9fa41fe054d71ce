"""What runs on a Ray cluster's nodes: one run's training task, the stand-in for the
run store it trains through, and the hub that carries its writes to the dispatcher.

The task trains with the local worker's code (`core.training.execute_run`); only the
store differs. `ClusterStore` has the methods of `RunStore` that training calls, for
one run: the writes (data source, device, batch progress, epochs) go to the hub, an
actor of the dispatcher's, which the dispatcher empties into the real store on the
app's machine; the model and other files are written to a temporary folder and come
back with the task's result, for the dispatcher to save. Stop and "this run is no
longer yours" come the other way: the task asks the hub every 0.25 s.

Nothing here imports Ray at module level: the app imports this module's names
without it (`core.cluster` wraps them with `ray.remote` once connected).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path

import pandas as pd

ORDER_POLL_SECONDS = 0.25
HUB_TIMEOUT_SECONDS = 30.0
EPOCH_COLUMNS = ("loss", "accuracy", "val_loss", "val_accuracy", "seconds")


class RunHub:
    """The dispatcher's mailbox on the cluster (a Ray actor, one per dispatcher).

    Tasks `send` their writes (events) and read their `order` ("stop", "lost" or
    None); the dispatcher `take`s every event and gives orders. Calls from one caller
    run in the order they were made, so a task's events arrive in order.
    """

    def __init__(self):
        self._events: dict[int, list[tuple]] = {}
        self._orders: dict[int, str] = {}

    def send(self, run_id: int, events: list[tuple]) -> None:
        if events:
            self._events.setdefault(run_id, []).extend(events)

    def take(self) -> dict[int, list[tuple]]:
        events, self._events = self._events, {}
        return events

    def order(self, run_id: int, word: str) -> None:
        self._orders[run_id] = word

    def order_for(self, run_id: int) -> str | None:
        return self._orders.get(run_id)

    def forget(self, run_id: int) -> None:
        self._orders.pop(run_id, None)
        self._events.pop(run_id, None)


class ClusterStore:
    """The run store as training on a node sees it, for one run (see the module).

    Every write returns False (as RunStore's do for a run no longer the worker's)
    once the dispatcher said the run is no longer ours, or the hub is gone (the
    dispatcher died): training then ends at once, as the local worker's does.

    Args:
        hub: the dispatcher's RunHub actor.
        run: the run's row, as `RunStore.get_run` returned it on the app's machine.
        related: rows of other runs training may read (the parent run), by id.
        drawings: the user's saved drawings, for a run that reads them.
        folder: where the run's model and other files are written (and where the
            parent's files were put).
    """

    def __init__(self, hub, run: dict, related: dict[int, dict], drawings: list[dict], folder: Path):
        self.hub = hub
        self.run_id = int(run["id"])
        self._run = dict(run)
        self._related = related
        self._drawings = drawings
        self.models_dir = Path(folder)
        self.lost = threading.Event()
        self.stop = threading.Event()
        self.outcome: tuple[str, str] | None = None  # (status, error) of finish().
        self.results: dict | None = None
        self._epochs: list[dict] = []

    # Writes, streamed to the dispatcher.

    def _send(self, *event) -> bool:
        if self.lost.is_set():
            return False
        self.hub.send.remote(self.run_id, [event])
        return True

    def set_data_source(self, run_id: int, source: str, worker_pid: int | None = None) -> bool:
        return self._send("source", source)

    def set_device(self, run_id: int, device: str, worker_pid: int | None = None) -> bool:
        return self._send("device", device)

    def set_progress(
        self, run_id: int, epoch: int, batch: int, batches: int, worker_pid: int | None = None
    ) -> bool:
        self._run["epoch"] = epoch
        return self._send("progress", epoch, batch, batches)

    def add_epoch(self, run_id: int, epoch: int, metrics: dict, worker_pid: int | None = None) -> bool:
        row = {key: float(metrics[key]) if key in metrics else None for key in EPOCH_COLUMNS}
        self._epochs = [kept for kept in self._epochs if kept["epoch"] != epoch]
        self._epochs.append({"run_id": run_id, "epoch": epoch, **row})
        self._run["epoch"] = epoch
        return self._send("epoch", epoch, row)

    def finish(self, run_id: int, status: str, error: str = "", worker_pid: int | None = None) -> bool:
        self.outcome = (status, error)
        return not self.lost.is_set()

    def complete(self, run_id: int, results: dict, worker_pid: int | None = None) -> bool:
        self.results = results
        return not self.lost.is_set()

    def is_running_in(self, run_id: int, worker_pid: int) -> bool:
        return not self.lost.is_set()

    def stop_requested(self, run_id: int) -> bool:
        return self.stop.is_set()

    # Reads: this run and the runs it may start from, as the dispatcher sent them.

    def get_run(self, run_id: int) -> dict | None:
        if int(run_id) == self.run_id:
            return dict(self._run)
        row = self._related.get(int(run_id))
        return dict(row) if row is not None else None

    def epochs(self, run_ids: list[int]) -> pd.DataFrame:
        rows = [row for row in self._epochs if row["run_id"] in {int(i) for i in run_ids}]
        return pd.DataFrame(rows, columns=["run_id", "epoch", *EPOCH_COLUMNS])

    def drawings(self) -> list[dict]:
        return list(self._drawings)

    def sweep_trial_of(self, run_id: int) -> None:
        """None: on a node no run is a sweep trial to prune; the dispatcher, which has
        the sweep's study, decides pruning from the epochs it writes."""
        return None

    def model_path(self, run_id: int) -> Path:
        return self.models_dir / f"run-{int(run_id)}.keras"

    def vocabulary_path(self, run_id: int) -> Path:
        return self.models_dir / f"run-{int(run_id)}.vocab.json"

    def digit_map_path(self, run_id: int) -> Path:
        return self.models_dir / f"run-{int(run_id)}.map.npz"

    def optimizer_path(self, run_id: int) -> Path:
        return self.models_dir / f"run-{int(run_id)}.optimizer.npz"

    # The task's side of the hub.

    def watch_orders(self, finished: threading.Event) -> None:
        """Until `finished`: asks the hub for this run's order every 0.25 s and sets
        `stop` or `lost`; a hub that is gone (the dispatcher died) makes the run lost."""
        import ray

        while not finished.wait(ORDER_POLL_SECONDS):
            try:
                order = ray.get(self.hub.order_for.remote(self.run_id), timeout=HUB_TIMEOUT_SECONDS)
            except ray.exceptions.GetTimeoutError:
                continue
            except Exception:  # RayActorError and its kin: no one is listening any more.
                self.lost.set()
                return
            if order == "stop":
                self.stop.set()
            elif order == "lost":
                self.lost.set()

    def flush(self) -> None:
        """Returns once every event sent so far is in the hub (they run in order)."""
        import ray

        if not self.lost.is_set():
            ray.get(self.hub.send.remote(self.run_id, []), timeout=HUB_TIMEOUT_SECONDS)


def train_run(hub, run: dict, related: dict, drawings: list, files: dict[str, bytes]) -> dict:
    """Trains one run on this node (the body of the Ray task).

    Args:
        hub: the dispatcher's RunHub.
        run: the run's row.
        related: rows of runs it may start from, by id.
        drawings: the user's drawings, if the run may read them.
        files: files of those runs (name -> bytes), put where `model_path` finds them.

    Returns:
        {"status": "completed" | "cancelled" | "failed" | "abandoned", "error": the
        reason of a failure, "results": what `RunStore.complete` takes, "files": the
        run's own files written here (name -> bytes: the model, a vocabulary)}.
    """
    import keras
    import ray

    from core.training import execute_run
    from core.worker import describe_failure

    folder = Path(tempfile.mkdtemp(prefix=f"digitlab-run-{int(run['id'])}-"))
    try:
        for name, data in files.items():
            (folder / Path(name).name).write_bytes(data)
        store = ClusterStore(hub, run, related, drawings, folder)
        hub.send.remote(store.run_id, [("started", os.getpid(), ray.util.get_node_ip_address())])
        finished = threading.Event()
        watcher = threading.Thread(target=store.watch_orders, args=(finished,), daemon=True)
        watcher.start()
        error = ""
        try:
            status = execute_run(store, store.run_id, store.stop)
        except Exception as failure:
            status, error = "failed", describe_failure(failure)
        finally:
            finished.set()
            watcher.join()
            try:
                store.flush()
            except Exception:
                status = "abandoned"
        own = [path for path in folder.iterdir() if path.name.startswith(f"run-{store.run_id}.")]
        returned = {path.name: path.read_bytes() for path in own} if status == "completed" else {}
        return {"status": status, "error": error, "results": store.results, "files": returned}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        keras.backend.clear_session()  # The process may train the next run.


def train_on_cpus(hub, run: dict, related: dict, drawings: list, files: dict[str, bytes]) -> dict:
    """`train_run` as a task on CPUs (a worker process may train several runs in turn)."""
    return train_run(hub, run, related, drawings, files)


def train_on_gpu(hub, run: dict, related: dict, drawings: list, files: dict[str, bytes]) -> dict:
    """`train_run` as a task with a GPU (a fresh worker process each time: TensorFlow
    keeps the GPU it started on, and its memory, for the process's life)."""
    return train_run(hub, run, related, drawings, files)
