"""The run store: SQLite (WAL) holding runs, per-epoch metrics and results.

Every call opens its own short connection, so the store is safe to use from the
web server's threads and from several worker processes at once.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from contextlib import closing, contextmanager
from pathlib import Path

import pandas as pd

from core.config import RunConfig

SCHEMA_VERSION = 1
ACTIVE = ("queued", "running")
FINAL = ("completed", "failed", "cancelled")
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    dataset TEXT NOT NULL,
    family TEXT NOT NULL,
    preset TEXT NOT NULL,
    config TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued',
    error TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    params INTEGER,
    data_source TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    heartbeat_at REAL,
    worker_pid INTEGER,
    stop_requested INTEGER NOT NULL DEFAULT 0,
    epoch INTEGER NOT NULL DEFAULT 0,
    batch INTEGER NOT NULL DEFAULT 0,
    batches INTEGER NOT NULL DEFAULT 0,
    test_loss REAL,
    test_accuracy REAL,
    best_val_accuracy REAL,
    seconds_per_epoch REAL,
    total_seconds REAL,
    ms_per_prediction REAL,
    evaluation TEXT NOT NULL DEFAULT '{}',
    versions TEXT NOT NULL DEFAULT '{}',
    model_file TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS runs_status ON runs (status);
CREATE TABLE IF NOT EXISTS epochs (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    loss REAL, accuracy REAL, val_loss REAL, val_accuracy REAL, seconds REAL,
    PRIMARY KEY (run_id, epoch)
);
CREATE TABLE IF NOT EXISTS workers (
    pid INTEGER PRIMARY KEY,
    started_at REAL NOT NULL,
    heartbeat_at REAL NOT NULL
);
"""
COMPARE_COLUMNS = """
    id, name, status, dataset, family, preset, params, epoch AS epochs_done,
    json_extract(config, '$.epochs') AS epochs, json_extract(config, '$.batch_size') AS batch_size,
    json_extract(config, '$.learning_rate') AS learning_rate,
    json_extract(config, '$.augment') AS augment,
    test_accuracy, best_val_accuracy, seconds_per_epoch, total_seconds, ms_per_prediction,
    data_source, error, note, created_at
"""


def default_home() -> Path:
    """Returns the data directory: `DIGITLAB_HOME`, or `.digitlab/` in the project."""
    configured = os.environ.get("DIGITLAB_HOME")
    return Path(configured) if configured else Path(__file__).resolve().parent.parent / ".digitlab"


class StoreError(RuntimeError):
    """The store cannot be opened or written; the message says why."""


class RunStore:
    """Runs, their per-epoch metrics and results, in `<home>/runs.sqlite`."""

    def __init__(self, home: Path | str | None = None):
        self.home = Path(home) if home else default_home()
        self.models_dir = self.home / "models"
        try:
            self.models_dir.mkdir(parents=True, exist_ok=True)
            with closing(self._connect()) as db:
                db.execute("PRAGMA journal_mode=WAL")  # Persistent: set once, kept by the file.
                db.executescript(SCHEMA)
                db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                version = int(db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])
        except (OSError, sqlite3.Error) as error:
            raise StoreError(f"Cannot open the run store in {self.home}: {error}") from error
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"The run store in {self.home} was written by a newer Digit Lab "
                f"(schema {version}); update the app or set DIGITLAB_HOME to another folder."
            )

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.home / "runs.sqlite", timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout=30000")
        db.execute("PRAGMA foreign_keys=ON")
        return db

    @contextmanager
    def _connection(self):
        """A short-lived connection; any SQLite failure becomes a StoreError."""
        try:
            with closing(self._connect()) as db:
                yield db
        except sqlite3.Error as error:
            raise StoreError(f"The run store in {self.home} failed: {error}") from error

    def _write(self, sql: str, parameters: tuple = ()) -> sqlite3.Cursor:
        with self._connection() as db:
            return db.execute(sql, parameters)

    def _rows(self, sql: str, parameters: tuple = ()) -> list[dict]:
        with self._connection() as db:
            return [dict(row) for row in db.execute(sql, parameters)]

    # Runs: create, read, list.

    def create_run(self, config: RunConfig, params: int, name: str = "") -> int:
        """Queues a run and returns its id."""
        label = name.strip() or config.preset or f"Custom {config.family}"
        cursor = self._write(
            "INSERT INTO runs (name, dataset, family, preset, config, params, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (label[:80], config.dataset, config.family, config.preset, config.to_json(), params, time.time()),
        )
        return int(cursor.lastrowid)

    def get_run(self, run_id: int) -> dict | None:
        """Returns one run as a dict (config, evaluation and versions decoded), or None."""
        rows = self._rows("SELECT * FROM runs WHERE id = ?", (int(run_id),))
        if not rows:
            return None
        run = rows[0]
        run["config"] = RunConfig.from_json(run["config"])
        run["evaluation"] = json.loads(run["evaluation"])
        run["versions"] = json.loads(run["versions"])
        return run

    def runs_table(self, dataset: str | None = None, status: str | None = None) -> pd.DataFrame:
        """Returns every run for the comparison table, best test accuracy first."""
        where, parameters = [], []
        if dataset:
            where.append("dataset = ?")
            parameters.append(dataset)
        if status:
            where.append("status = ?")
            parameters.append(status)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._connection() as db:
            return pd.read_sql_query(
                f"SELECT {COMPARE_COLUMNS} FROM runs {clause}"
                " ORDER BY test_accuracy IS NULL, test_accuracy DESC, id DESC",
                db,
                params=parameters,
            )

    def active_runs(self) -> list[dict]:
        """Returns the queued and running runs, oldest first."""
        return self._rows(
            "SELECT id, name, status, epoch, batch, batches, started_at, created_at,"
            " json_extract(config, '$.epochs') AS epochs FROM runs"
            " WHERE status IN ('queued', 'running') ORDER BY id"
        )

    def epochs(self, run_ids: list[int]) -> pd.DataFrame:
        """Returns the per-epoch metrics of the given runs (epoch counts from 1)."""
        marks = ",".join("?" * len(run_ids)) or "NULL"
        with self._connection() as db:
            return pd.read_sql_query(
                f"SELECT * FROM epochs WHERE run_id IN ({marks}) ORDER BY run_id, epoch",
                db,
                params=[int(i) for i in run_ids],
            )

    def model_path(self, run_id: int) -> Path:
        """Returns where the run's `.keras` model lives (built from the id alone)."""
        return self.models_dir / f"run-{int(run_id)}.keras"

    def vocabulary_path(self, run_id: int) -> Path:
        """Returns where a text run's vocabulary lives."""
        return self.models_dir / f"run-{int(run_id)}.vocab.json"

    # The worker's side: claim, progress, results.

    def claim_next(self, worker_pid: int, max_running: int = 1) -> int | None:
        """Atomically marks the oldest queued run as running, unless `max_running`
        runs already run; returns its id or None."""
        with self._connection() as db:
            db.execute("BEGIN IMMEDIATE")
            running = db.execute("SELECT COUNT(*) FROM runs WHERE status = 'running'").fetchone()[0]
            row = db.execute("SELECT id FROM runs WHERE status = 'queued' ORDER BY id LIMIT 1").fetchone()
            if row is None or running >= max_running:
                db.execute("COMMIT")
                return None
            now = time.time()
            db.execute(
                "UPDATE runs SET status = 'running', worker_pid = ?, started_at = ?, heartbeat_at = ?"
                " WHERE id = ?",
                (worker_pid, now, now, row["id"]),
            )
            db.execute("COMMIT")
            return int(row["id"])

    def set_progress(self, run_id: int, epoch: int, batch: int, batches: int) -> None:
        """Records batch progress (epochs done, batch within the next) and a heartbeat."""
        self._write(
            "UPDATE runs SET epoch = ?, batch = ?, batches = ?, heartbeat_at = ? WHERE id = ?",
            (epoch, batch, batches, time.time(), run_id),
        )

    def stop_requested(self, run_id: int) -> bool:
        """Returns True when a user asked the run to stop."""
        rows = self._rows("SELECT stop_requested FROM runs WHERE id = ?", (run_id,))
        return bool(rows and rows[0]["stop_requested"])

    def add_epoch(self, run_id: int, epoch: int, metrics: dict) -> None:
        """Stores one finished epoch's loss, accuracy, val_loss, val_accuracy, seconds."""
        keys = ("loss", "accuracy", "val_loss", "val_accuracy", "seconds")
        values = tuple(float(metrics[key]) if key in metrics else None for key in keys)
        self._write(
            "INSERT OR REPLACE INTO epochs (run_id, epoch, loss, accuracy, val_loss, val_accuracy, seconds)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (run_id, epoch, *values),
        )
        self._write(
            "UPDATE runs SET epoch = ?, heartbeat_at = ?, best_val_accuracy ="
            " (SELECT MAX(val_accuracy) FROM epochs WHERE run_id = ?) WHERE id = ?",
            (epoch, time.time(), run_id, run_id),
        )

    def set_data_source(self, run_id: int, source: str) -> None:
        """Records which data the run trains on."""
        self._write("UPDATE runs SET data_source = ? WHERE id = ?", (source, run_id))

    def complete(self, run_id: int, results: dict) -> bool:
        """Marks a running run completed with its results; returns False if the run
        was no longer running (reaped or deleted meanwhile), and then changes nothing."""
        cursor = self._write(
            "UPDATE runs SET status = 'completed', finished_at = ?, test_loss = ?, test_accuracy = ?,"
            " seconds_per_epoch = ?, total_seconds = ?, ms_per_prediction = ?, evaluation = ?,"
            " versions = ?, model_file = ?, note = ? WHERE id = ? AND status = 'running'",
            (
                time.time(),
                results["test_loss"],
                results["test_accuracy"],
                results["seconds_per_epoch"],
                results["total_seconds"],
                results["ms_per_prediction"],
                json.dumps(results["evaluation"]),
                json.dumps(results["versions"]),
                results["model_file"],
                results.get("note", ""),
                run_id,
            ),
        )
        return cursor.rowcount == 1

    def finish(self, run_id: int, status: str, error: str = "") -> None:
        """Ends a run as failed or cancelled (with the reason for a failure)."""
        self._write(
            "UPDATE runs SET status = ?, error = ?, finished_at = ? WHERE id = ? AND status IN (?, ?)",
            (status, error[:2000], time.time(), run_id, *ACTIVE),
        )

    def request_stop(self, run_id: int) -> None:
        """Asks a running run to stop after its current batch; cancels a queued one."""
        self._write("UPDATE runs SET stop_requested = 1 WHERE id = ?", (run_id,))
        self._write(
            "UPDATE runs SET status = 'cancelled', finished_at = ? WHERE id = ? AND status = 'queued'",
            (time.time(), run_id),
        )

    def delete_run(self, run_id: int) -> None:
        """Deletes a run, its metrics and its files."""
        self._write("DELETE FROM runs WHERE id = ?", (run_id,))
        for path in (self.model_path(run_id), self.vocabulary_path(run_id)):
            path.unlink(missing_ok=True)

    # Workers: registration and heartbeats, so dead ones can be found.

    def register_worker(self, pid: int) -> None:
        """Records a live worker process."""
        now = time.time()
        self._write("INSERT OR REPLACE INTO workers VALUES (?, ?, ?)", (pid, now, now))

    def worker_heartbeat(self, pid: int, run_id: int | None) -> None:
        """Marks a worker (and the run it executes) as alive now."""
        now = time.time()
        self._write("UPDATE workers SET heartbeat_at = ? WHERE pid = ?", (now, pid))
        if run_id is not None:
            self._write("UPDATE runs SET heartbeat_at = ? WHERE id = ?", (now, run_id))

    def unregister_worker(self, pid: int) -> None:
        """Forgets a worker that has exited."""
        self._write("DELETE FROM workers WHERE pid = ?", (pid,))

    def workers(self) -> list[dict]:
        """Returns the registered workers."""
        return self._rows("SELECT * FROM workers")

    def running_runs(self) -> list[dict]:
        """Returns the running runs with their worker pid and heartbeat."""
        return self._rows("SELECT id, worker_pid, heartbeat_at, epoch FROM runs WHERE status = 'running'")

    def count_queued(self) -> int:
        """Returns how many runs wait for a worker."""
        return self._rows("SELECT COUNT(*) AS n FROM runs WHERE status = 'queued'")[0]["n"]
