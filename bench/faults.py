"""Fault attempts against a fresh Digit Lab home that holds one really completed run:
each attempt is held (refused or survived, with a message a user can act on) or
broken; afterwards the completed run and its model must be intact.

    DIGITLAB_OFFLINE=1 .venv/bin/python -m bench.faults

An attempt is a function that takes the `Lab` and returns (held, what the user sees);
add one to `ATTEMPTS`. Each runs in seconds, without training.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
SMALL_RUN = {"preset": "MLP 32", "limit": 2000, "epochs": 1}


@dataclass
class Lab:
    """The home the attempts run against, and its completed run."""

    home: Path
    run_id: int

    @property
    def store(self):
        """A store opened afresh, as a new page or CLI call opens it."""
        from core.store import RunStore

        return RunStore(self.home)

    def cli(self, *args, timeout: float = 60, memory_limit: int | None = None) -> subprocess.CompletedProcess:
        """Runs `python -m core ARGS` on this home, optionally with capped memory."""

        def limit_memory():
            resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

        return subprocess.run(
            [sys.executable, "-m", "core", *map(str, args)],
            cwd=REPO_DIR,
            env={**os.environ, "DIGITLAB_HOME": str(self.home)},
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=limit_memory if memory_limit else None,
        )

    def raw_run(self, config_text: str, name: str) -> int:
        """Writes a run row directly, as another program or version might."""
        with sqlite3.connect(self.home / "runs.sqlite") as db:
            return db.execute(
                "INSERT INTO runs (name, dataset, family, preset, config, status, created_at)"
                " VALUES (?, 'mnist', 'dense', '', ?, 'completed', ?)",
                (name, config_text, time.time()),
            ).lastrowid


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def refused(config_changes: dict) -> Callable[[Lab], tuple[bool, str]]:
    """An attempt that queues the small run with `config_changes`; held when refused."""

    def attempt(lab: Lab) -> tuple[bool, str]:
        from core.architecture import ConfigError
        from core.presets import get_preset
        from core.runs import submit

        config = get_preset(SMALL_RUN["preset"]).config.with_changes(**config_changes)
        try:
            run_id = submit(lab.store, config, start_worker=False)
        except ConfigError as error:
            return True, f"refused: {error}"
        return False, f"queued as run {run_id}"

    return attempt


def stored_config(config_text: str, readable: bool) -> Callable[[Lab], tuple[bool, str]]:
    """An attempt that writes a run with this config; held when every listing works
    and the run reads (`readable`) or shows as one broken row, and can be deleted."""

    def attempt(lab: Lab) -> tuple[bool, str]:
        run_id = lab.raw_run(config_text, "written by hand")
        store = lab.store
        rows = store.runs_table()
        listed = lab.cli("runs")
        run = store.get_run(run_id)
        store.delete_run(run_id)
        held = (
            (rows["id"] == run_id).sum() == 1
            and listed.returncode == 0
            and (run["config"] is not None) == readable
            and store.get_run(run_id) is None
        )
        shown = "read as usual." if readable else f"one broken row: {run['config_error']}"
        return held, f"{shown} Deleted."

    return attempt


def queue_fifty(lab: Lab) -> tuple[bool, str]:
    from core.presets import get_preset
    from core.runs import QueueFull, max_queued, submit

    config = get_preset(SMALL_RUN["preset"]).config.with_changes(limit=2000, epochs=1)
    store, queued, message = lab.store, [], ""
    for _ in range(50):
        try:
            queued.append(submit(store, config, start_worker=False))
        except QueueFull as error:
            message = str(error)
    cancelled = store.cancel_queued()
    for run_id in queued:
        store.delete_run(run_id)
    held = len(queued) == max_queued() == cancelled
    return held, f"{len(queued)} queued, {50 - len(queued)} refused: {message} cancel_queued(): {cancelled}"


def damaged_store(damage: Callable[[Path], None]) -> Callable[[Lab], tuple[bool, str]]:
    """An attempt that damages runs.sqlite; held when opening refuses with a message
    and a backup restored with `python -m core restore` brings every run back."""

    def attempt(lab: Lab) -> tuple[bool, str]:
        from core.store import RunStore, StoreError, backup_store

        backup = backup_store(lab.home)
        damage(lab.home / "runs.sqlite")
        try:
            RunStore(lab.home)
        except StoreError as error:
            message = first_line(str(error))
        else:
            return False, "opened as if nothing happened"
        restored = lab.cli("restore", backup)
        held = restored.returncode == 0 and lab.store.get_run(lab.run_id) is not None
        return held, f"{message.split('. ')[0]}. Restored with 'python -m core restore'."

    return attempt


def garbage(path: Path) -> None:
    path.write_bytes(os.urandom(16384))


def predict(name: str, make: Callable[[Path], None]) -> Callable[[Lab], tuple[bool, str]]:
    """An attempt that predicts from a file made by `make`; held when the CLI ends at
    once, within 1.5 GB of memory, with exactly one line that names the file safely."""

    def attempt(lab: Lab) -> tuple[bool, str]:
        path = lab.home / name
        make(path)
        try:
            result = lab.cli("predict", "--run", lab.run_id, path, timeout=30, memory_limit=1536 * 1024**2)
        except subprocess.TimeoutExpired:
            return False, "hangs (stopped after 30 s)"
        finally:
            path.unlink(missing_ok=True)
        lines = result.stdout.splitlines()
        held = result.returncode == 1 and len(lines) == 1 and "Traceback" not in result.stderr
        return held, lines[0] if len(lines) == 1 else f"{len(lines)} lines: {result.stdout!r:.100}"

    return attempt


def sparse(path: Path) -> None:
    with open(path, "wb") as handle:
        handle.truncate(3 * 1024**3)


def formula_name(lab: Lab) -> tuple[bool, str]:
    from core.export import runs_csv
    from core.presets import get_preset

    store = lab.store
    name = '=HYPERLINK("http://evil.example","click me")'
    run_id = store.create_run(get_preset(SMALL_RUN["preset"]).config, 0, name)
    rows = list(csv.DictReader(io.StringIO(runs_csv(store.runs_table()))))
    store.delete_run(run_id)
    cell = next(row["name"] for row in rows if "HYPERLINK" in row["name"])
    return cell == f"'{name}", f"the cell is text: {cell}"


def full_disk(lab: Lab) -> tuple[bool, str]:
    from core.store import RunStore, StoreReadOnly, backup_store

    disk = Path(tempfile.mkdtemp(prefix="digitlab-disk-"))
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1M", "tmpfs", str(disk)], capture_output=True
    ).returncode:
        return True, "not tried: mounting a small disk needs root"
    try:
        backup_store(lab.home, disk / "home" / "runs.sqlite")
        try:
            with open(disk / "filler", "wb") as filler:
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
        except OSError:
            pass
        store = RunStore(disk / "home")
        try:
            store.delete_run(lab.run_id)
            return False, "a write went through on a full disk"
        except StoreReadOnly:
            pass
        held = bool(store.read_only_reason) and store.get_run(lab.run_id)["status"] == "completed"
        return held, f"browsable, with: {store.read_only_reason}"
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def stopped_worker(lab: Lab) -> tuple[bool, str]:
    """A worker SIGSTOPped (a suspended laptop) with its heartbeat an hour old: held
    when its run is not reaped while it is stopped, and is once it is killed."""
    import signal

    from core.worker import reap_dead_runs, spawn_worker

    store = lab.store
    worker = spawn_worker(store, idle_exit_seconds=60)
    try:
        os.kill(worker.pid, signal.SIGSTOP)
        run_id = lab.raw_run(store.get_run(lab.run_id)["config"].to_json(), "stopped worker's run")
        with sqlite3.connect(lab.home / "runs.sqlite") as db:  # Claimed by it, an hour ago.
            db.execute(
                "UPDATE runs SET status = 'running', worker_pid = ?, started_at = ?, heartbeat_at = ?"
                " WHERE id = ?",
                (worker.pid, time.time(), time.time() - 3600, run_id),
            )
            db.execute("UPDATE workers SET heartbeat_at = heartbeat_at - 3600")
        reaped_while_stopped = reap_dead_runs(store)
        registered = [row["pid"] for row in store.workers()] == [worker.pid]
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        reaped_after = reap_dead_runs(store)
        error = store.get_run(run_id)["error"]
        store.delete_run(run_id)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    held = reaped_while_stopped == [] and registered and reaped_after == [run_id]
    return held, f"kept while stopped; killed: {error}"


STARTER = """
import sys, time
from core.store import RunStore
from core.worker import ensure_workers
store = RunStore()
while time.time() < float(sys.argv[1]):
    time.sleep(0.001)
print(ensure_workers(store))
"""


def workers_started_at_once(lab: Lab) -> tuple[bool, str]:
    """Six processes start workers at the same moment with DIGITLAB_WORKERS=2: held
    when two start."""
    import contextlib
    import signal

    from core.presets import get_preset
    from core.processes import process_alive
    from core.runs import submit
    from core.worker import reap_dead_runs

    store = lab.store
    config = get_preset(SMALL_RUN["preset"]).config.with_changes(limit=SMALL_RUN["limit"], epochs=1)
    queued = [submit(store, config, start_worker=False) for _ in range(3)]
    go = time.time() + 4
    environment = {**os.environ, "DIGITLAB_HOME": str(lab.home), "DIGITLAB_WORKERS": "2"}
    starters = [
        subprocess.Popen(
            [sys.executable, "-c", STARTER, str(go)], cwd=REPO_DIR, env=environment, stdout=subprocess.PIPE
        )
        for _ in range(6)
    ]
    started = sum(int(starter.communicate(timeout=60)[0].split()[-1]) for starter in starters)
    workers = [row["pid"] for row in store.workers()]
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(process_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    reap_dead_runs(store)
    store.cancel_queued()
    for run_id in queued:
        store.delete_run(run_id)
    return started == len(workers) == 2, f"{started} workers started, {len(workers)} registered"


def leftover_temporary_model(lab: Lab) -> tuple[bool, str]:
    """A worker killed while saving left `.run-N.<pid>.tmp.keras`: held when
    `python -m core runs` removes it."""
    process = subprocess.Popen(["true"])
    process.wait()
    leftover = lab.store.models_dir / f".run-{lab.run_id + 1000}.{process.pid}.tmp.keras"
    leftover.write_bytes(os.urandom(65536))
    listed = lab.cli("runs")
    held = listed.returncode == 0 and not leftover.exists()
    leftover.unlink(missing_ok=True)
    return held, "removed by 'python -m core runs'" if held else "still there"


def zip_bomb_model(lab: Lab) -> tuple[bool, str]:
    """A run's .keras whose config.json unpacks to 3 GB: held when predict refuses it
    at once, within 1.5 GB of memory."""
    import zipfile

    import numpy as np
    from PIL import Image

    from core.datasets import load_dataset

    store = lab.store
    run_id = lab.raw_run(store.get_run(lab.run_id)["config"].to_json(), "zip bomb")
    bomb = store.model_path(run_id)
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("metadata.json", "{}")
        with archive.open("config.json", "w", force_zip64=True) as handle:
            zeros = bytes(2**24)
            for _ in range(3 * 64):
                handle.write(zeros)
    image = lab.home / "digit.png"
    Image.fromarray(255 - load_dataset("mnist").x_test[0].astype(np.uint8)).save(image)
    size = bomb.stat().st_size
    try:
        result = lab.cli("predict", "--run", run_id, image, timeout=60, memory_limit=1536 * 1024**2)
    finally:
        store.delete_run(run_id)
        image.unlink(missing_ok=True)
    held = result.returncode == 2 and "it was refused" in result.stderr
    return held, f"{size / 1e6:.0f} MB file: {first_line(result.stderr)}"


def huge_cnn(lab: Lab) -> tuple[bool, str]:
    """A CNN of 1024 and 1024 filters at batch 9000 (15 M parameters, about 66 GB
    to train): held when refused before it is queued."""
    from core.config import LayerSpec

    layers = (LayerSpec("conv", filters=1024), LayerSpec("conv", filters=1024))
    return refused({"family": "cnn", "layers": layers, "batch_size": 9000, "limit": 0})(lab)


def wide_dense_saved_lean(lab: Lab) -> tuple[bool, str]:
    """A Dense layer of 25,000 units (19.9 M parameters) with Adam's state built:
    held when its saved model holds the weights only."""
    from core.config import LayerSpec
    from core.models import build_model
    from core.presets import get_preset
    from core.training import save_atomically

    config = get_preset(SMALL_RUN["preset"]).config.with_changes(layers=(LayerSpec("dense", units=25_000),))
    model = build_model(config)
    model.optimizer.build(model.trainable_variables)  # Adam's two moments, as after a fit.
    folder = Path(tempfile.mkdtemp(prefix="digitlab-lean-", dir=lab.home))
    try:
        save_atomically(model, folder / "lean.keras")
        model.save(folder / "with-optimizer.keras")
        lean, fat = ((folder / name).stat().st_size for name in ("lean.keras", "with-optimizer.keras"))
    finally:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
    held = lean < model.count_params() * 4 * 1.05
    return held, f"{lean / 1e6:.1f} MB saved ({fat / 1e6:.1f} MB with the optimizer's state)"


ATTEMPTS: list[tuple[str, Callable[[Lab], tuple[bool, str]]]] = [
    ("train --time-limit nan", refused({"time_limit_minutes": math.nan})),
    ("train --learning-rate inf", refused({"learning_rate": math.inf})),
    ("time limit of 1e308 minutes", refused({"time_limit_minutes": 1e308})),
    ("stored config holding NaN", stored_config('{"time_limit_minutes": NaN}', readable=False)),
    ("stored config not an object", stored_config("[1, 2, 3]", readable=False)),
    ("stored config with a wrong type", stored_config('{"epochs": "five"}', readable=False)),
    ("stored config with an unknown key", stored_config('{"epochs": 2, "bogus": 1}', readable=True)),
    ("50 runs queued at once", queue_fifty),
    ("runs.sqlite truncated, models kept", damaged_store(lambda path: os.truncate(path, 0))),
    ("runs.sqlite overwritten with garbage", damaged_store(garbage)),
    ("store on a full disk", full_disk),
    ("predict a 3 GB sparse file", predict("huge.png", sparse)),
    ("predict a named pipe", predict("pipe.png", os.mkfifo)),
    (
        "predict a name with a newline",
        predict("x.png\nx.png: 7 (1.000)", lambda path: path.write_bytes(b"no")),
    ),
    ("run named =HYPERLINK(...) in the CSV", formula_name),
    ("worker SIGSTOPped, heartbeat 1 h old", stopped_worker),
    ("6 processes start workers (2 allowed)", workers_started_at_once),
    ("worker killed while saving: .tmp left", leftover_temporary_model),
    ("predict a .keras zip bomb (3 GB)", zip_bomb_model),
    ("CNN 1024+1024 filters at batch 9000", huge_cnn),
    ("Dense 25,000 units: saved model size", wide_dense_saved_lean),
]


def completed_run(home: Path) -> int:
    """Trains the small run for real, as the app would queue it; returns its id."""
    from core.presets import get_preset
    from core.runs import submit
    from core.store import RunStore
    from core.worker import run_worker

    store = RunStore(home)
    config = get_preset(SMALL_RUN["preset"]).config.with_changes(
        limit=SMALL_RUN["limit"], epochs=SMALL_RUN["epochs"]
    )
    run_id = submit(store, config, "the completed run", start_worker=False)
    run_worker(store, idle_exit_seconds=0)
    return run_id


def fingerprint(lab: Lab) -> tuple:
    """What must not change: the run's status, accuracy, model file and a reading."""
    import numpy as np

    from core.datasets import load_dataset
    from core.predict import load_predictor

    run = lab.store.get_run(lab.run_id)
    model = lab.store.model_path(lab.run_id)
    digits = load_dataset("mnist").x_test[:20].astype(np.float32) / 255.0
    readings = load_predictor(lab.store, lab.run_id).predict_images(digits).argmax(axis=1)
    return (
        run["status"],
        run["test_accuracy"],
        hashlib.sha256(model.read_bytes()).hexdigest(),
        tuple(readings),
    )


def main() -> None:
    """Prints one row per attempt, then whether the completed run survived them all."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    home = Path(tempfile.mkdtemp(prefix="digitlab-faults-"))
    os.environ["DIGITLAB_HOME"] = str(home)
    lab = Lab(home, completed_run(home))
    before = fingerprint(lab)
    print(f"home {home}: run {lab.run_id} completed, test_accuracy={before[1]:.4f}\n")
    print(f"| {'attempt':38} | held/broken | what the user sees")
    print(f"|{'-' * 40}|{'-' * 13}|{'-' * 60}")
    broken = 0
    for name, attempt in ATTEMPTS:
        try:
            held, seen = attempt(lab)
        except Exception as error:  # An attempt that crashes is a fault the user would meet.
            held, seen = False, f"{type(error).__name__}: {first_line(str(error))}"
        broken += not held
        seen = seen.replace(str(home), "<home>")
        print(f"| {name:38} | {'held' if held else 'BROKEN':11} | {seen[:170]}", flush=True)
    after = fingerprint(lab)
    intact = after == before and lab.store.model_path(lab.run_id).is_file()
    model = "unchanged" if after[2] == before[2] else "CHANGED"
    print(
        f"\nrun {lab.run_id} after all attempts: {after[0]}, test_accuracy={after[1]:.4f}, "
        f"model file {model}, the same 20 test digits read the same: {after[3] == before[3]}"
    )
    verdict = "intact" if intact else "DAMAGED"
    print(f"{len(ATTEMPTS) - broken} of {len(ATTEMPTS)} attempts held; the completed run is {verdict}")
    sys.exit(0 if intact and not broken else 1)


if __name__ == "__main__":
    main()
