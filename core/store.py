"""The run store: SQLite (WAL) holding runs, per-epoch metrics and results.

Every call opens its own short connection, so the store is safe to use from the
web server's threads and from several worker processes at once.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import time
from contextlib import closing, contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from core.config import ConfigUnreadable, RunConfig
from core.layers import ConfigError

SCHEMA_VERSION = 2
ACTIVE = ("queued", "running")
FINAL = ("completed", "failed", "cancelled", "pruned")
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
    model_file TEXT NOT NULL DEFAULT '',
    parent_run_id INTEGER,
    sweep_id INTEGER,
    tags TEXT NOT NULL DEFAULT '',
    user_note TEXT NOT NULL DEFAULT '',
    device TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS runs_status ON runs (status);
CREATE TABLE IF NOT EXISTS sweeps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'running',
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sweep_trials (
    run_id INTEGER PRIMARY KEY,
    sweep_id INTEGER NOT NULL,
    trial_number INTEGER NOT NULL,
    trial_id INTEGER NOT NULL,
    params TEXT NOT NULL DEFAULT '{}',
    told INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sweep_trials_sweep ON sweep_trials (sweep_id);
CREATE TABLE IF NOT EXISTS drawings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    label INTEGER NOT NULL,
    image BLOB NOT NULL,
    stroke_png BLOB,
    created_at REAL NOT NULL
);
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
SCHEMA_VERSION_QUERY = "SELECT value FROM meta WHERE key = 'schema_version'"
# Columns added after schema 1, added to older stores when they are opened for writing:
# parent_run_id (continued or fine-tuned from), sweep_id, tags (comma-separated), the
# user's note, and the device a run trained on.
ADDED_RUN_COLUMNS = {
    "parent_run_id": "INTEGER",
    "sweep_id": "INTEGER",
    "tags": "TEXT NOT NULL DEFAULT ''",
    "user_note": "TEXT NOT NULL DEFAULT ''",
    "device": "TEXT NOT NULL DEFAULT ''",
}
CONFIG_COLUMNS = ("epochs", "batch_size", "learning_rate", "augment")
# The config columns (epochs, batch size, learning rate, augment) are decoded in Python
# where `config_length` stands, so one unreadable config cannot break the whole table.
COMPARE_COLUMNS = """
    id, name, status, dataset, family, preset, params, epoch AS epochs_done, length(config) AS config_length,
    test_accuracy, best_val_accuracy, seconds_per_epoch, total_seconds, ms_per_prediction,
    data_source, error, note, created_at, sweep_id, tags, user_note, device
"""
MAX_TAGS_LENGTH = 200
MAX_USER_NOTE_LENGTH = 2000


@lru_cache(maxsize=4096)
def _read_config(text: str) -> tuple[RunConfig | None, str]:
    """Returns (config, "") or, for a config that cannot be read, (None, the reason).

    Cached by text: a run's config never changes, and pages decode every run's config
    on each poll (a frozen RunConfig is safe to share)."""
    try:
        return RunConfig.from_json(text), ""
    except ConfigUnreadable as error:
        return None, str(error)


# A run's config columns, by (id, created_at, length of its config): a run's config never
# changes, so a table of thousands of runs reads the config texts only of runs it has
# not seen before.
_SETTINGS: dict[tuple, tuple] = {}
_DELETED_MEANWHILE = (None, None, None, None, "")


def _settings_of(text: str) -> tuple:
    """Returns a config's (epochs, batch_size, learning_rate, augment, error): the
    settings empty and the reason given for a config that cannot be read."""
    config, error = _read_config(text)
    if config is None:
        return None, None, None, None, error
    return config.epochs, config.batch_size, config.learning_rate, int(config.augment), ""


def _json_object(text: str) -> dict:
    """Returns a stored JSON object, or {} when it cannot be read."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def _owned_by(worker_pid: int | None) -> tuple[str, tuple]:
    """Returns the SQL condition (and its parameter) that a run is running in the
    worker with that pid; no condition when `worker_pid` is None."""
    if worker_pid is None:
        return "", ()
    return " AND status = 'running' AND worker_pid = ?", (worker_pid,)


def default_home() -> Path:
    """Returns the data directory: `DIGITLAB_HOME`, or `.digitlab/` in the project."""
    configured = os.environ.get("DIGITLAB_HOME")
    return Path(configured) if configured else Path(__file__).resolve().parent.parent / ".digitlab"


class StoreError(RuntimeError):
    """The store cannot be opened or written; the message says why."""


class StoreReadOnly(StoreError):
    """A write to a store opened read-only; the message is `RunStore.read_only_reason`."""


class QueueFull(ConfigError):
    """As many runs wait as the queue may hold; nothing was queued. A ConfigError
    (field "queue"), so every caller that shows a refused run shows this too."""

    def __init__(self, message: str):
        super().__init__("queue", message)


_MODEL_FILE = re.compile(r"run-(\d+)\.(?:keras|vocab\.json|map\.npz|optimizer\.npz)")
_DAMAGED = ("SQLITE_NOTADB", "SQLITE_CORRUPT")


def _error_name(error: BaseException) -> str:
    return getattr(error, "sqlite_errorname", "") or ""


def _cannot_open_message(home: Path, error: BaseException) -> str:
    """The message for a data directory that cannot be opened at all."""
    return (
        f"Cannot open the run store in {home}: {error}. Check that the folder exists and is "
        "writable, or set DIGITLAB_HOME to another folder."
    )


def _has_schema(db: sqlite3.Connection) -> bool:
    names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return {"meta", "runs"} <= names


def _backups_hint(home: Path) -> str:
    backups = list((home / "backups").glob("runs-*.sqlite"))
    if backups:
        return f"the newest backup is {max(backups, key=lambda path: path.stat().st_mtime)}"
    return f"'python -m core backup' keeps backups in {home / 'backups'}; there is none yet"


def _damaged_message(home: Path, error: BaseException) -> str:
    return (
        f"The run store {home / 'runs.sqlite'} is damaged ({error}). Restore a backup with "
        f"'python -m core restore FILE' ({_backups_hint(home)}), or start afresh: move runs.sqlite "
        f"and the models folder out of {home}."
    )


def _unwritable_reason(home: Path, error: BaseException) -> str | None:
    """Returns why nothing can be written to `home` (a sentence for a banner), or None
    when the failure has another cause."""
    browse = "so runs can be browsed but nothing can be trained, deleted or changed"
    try:
        read_only_fs = bool(os.statvfs(home).f_flag & os.ST_RDONLY)
        free = shutil.disk_usage(home).free
    except OSError:
        return None
    if read_only_fs or getattr(error, "errno", None) == 30:  # EROFS
        return (
            f"{home} is on a read-only file system, {browse}: make it writable (or set "
            "DIGITLAB_HOME to a writable folder), then reload."
        )
    full = getattr(error, "errno", None) in (28, 122) or _error_name(error) == "SQLITE_FULL"  # ENOSPC, EDQUOT
    if full or free < 1024 * 1024:
        return (
            f"The disk holding {home} is full, {browse}: free some space (or set DIGITLAB_HOME "
            "to a folder on another disk), then reload."
        )
    store_file = home / "runs.sqlite"
    if not os.access(home, os.W_OK) or not os.access(store_file, os.W_OK):
        return (
            f"This process may not write to {home}, {browse}: give it write permission (or set "
            "DIGITLAB_HOME to a writable folder), then reload."
        )
    return None


def _upgrade(db: sqlite3.Connection) -> None:
    """Brings an older store (its new tables are created already) to SCHEMA_VERSION."""
    db.execute("BEGIN IMMEDIATE")  # Two processes opening it at once upgrade one after the other.
    try:
        present = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
        for column, declaration in ADDED_RUN_COLUMNS.items():
            if column not in present:
                db.execute(f"ALTER TABLE runs ADD COLUMN {column} {declaration}")
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def check_store_file(path: Path | str) -> int:
    """Checks that a file is an intact Digit Lab run store; returns its schema version.

    Raises:
        StoreError: the file is missing, not a database, damaged, not a run store, or
            written by a newer Digit Lab.
    """
    path = Path(path)
    if not path.is_file():
        raise StoreError(f"{path} is not a file.")
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise StoreError(f"{path} is a damaged database: choose another backup.")
            if not _has_schema(db):
                raise StoreError(f"{path} is not a Digit Lab run store (it has no runs table).")
            version = int(db.execute(SCHEMA_VERSION_QUERY).fetchone()[0])
    except (sqlite3.Error, TypeError, ValueError) as error:
        raise StoreError(f"{path} is not a Digit Lab run store ({error}).") from error
    if version > SCHEMA_VERSION:
        raise StoreError(f"{path} was written by a newer Digit Lab (schema {version}): update the app first.")
    return version


def _copy_database(source: Path, target: Path) -> None:
    """Copies a live SQLite database with SQLite's online backup API (consistent even
    while others write to it) into a new file `target`."""
    partial = target.with_name(f"{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        with (
            closing(sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)) as source_db,
            closing(sqlite3.connect(partial)) as target_db,
        ):
            source_db.backup(target_db)
            target_db.execute("PRAGMA journal_mode=DELETE")  # One self-contained file.
        os.replace(partial, target)
    except sqlite3.Error as error:
        partial.unlink(missing_ok=True)
        if _error_name(error) in _DAMAGED:
            raise StoreError(f"{source} is damaged ({error}) and cannot be copied.") from error
        raise StoreError(f"Cannot copy {source} to {target}: {error}") from error


def backup_store(home: Path | str | None = None, target: Path | str | None = None) -> Path:
    """Copies the run store into a backup file while the app may keep running.

    Args:
        home: the data directory (default: `default_home()`).
        target: the backup file; default `<home>/backups/runs-YYYYmmdd-HHMMSS.sqlite`.

    Returns:
        The backup file.

    Raises:
        StoreError: there is no store, it is damaged, or the target exists or cannot
            be written.
    """
    home = Path(home) if home else default_home()
    source = home / "runs.sqlite"
    if not source.is_file():
        raise StoreError(f"There is no run store to back up in {home}.")
    if target is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = home / "backups" / f"runs-{stamp}.sqlite"
        for count in range(2, 100):  # Two backups in one second get -2, -3, ...
            if not target.exists():
                break
            target = home / "backups" / f"runs-{stamp}-{count}.sqlite"
    target = Path(target)
    if target.exists():
        raise StoreError(f"{target} already exists: choose another file name.")
    target.parent.mkdir(parents=True, exist_ok=True)
    _copy_database(source, target)
    check_store_file(target)
    return target


def restore_store(home: Path | str | None, source: Path | str) -> Path | None:
    """Replaces the run store with a backup; the current store is kept aside.

    Works when the current store cannot be opened (damaged, truncated). Stop training
    first: a run that is training while the store is replaced loses its results.

    Args:
        home: the data directory (default: `default_home()`).
        source: a backup made by `backup_store` (or any Digit Lab run store).

    Returns:
        Where the previous store was kept (`runs.sqlite.before-restore`, or that name
        with a time stamp when it is taken), or None when there was none.

    Raises:
        StoreError: the source is not an intact Digit Lab run store, or the files
            cannot be written.
    """
    home = Path(home) if home else default_home()
    source = Path(source)
    check_store_file(source)
    current = home / "runs.sqlite"
    try:
        home.mkdir(parents=True, exist_ok=True)
        incoming = home / "runs.sqlite.restoring"
        _copy_database(source, incoming)
        check_store_file(incoming)
        kept = None
        if current.exists():
            kept = home / "runs.sqlite.before-restore"
            if kept.exists():
                kept = home / time.strftime("runs.sqlite.before-restore-%Y%m%d-%H%M%S")
        # The -wal and -shm files belong to the store they sit beside: they move with it.
        for suffix in ("", "-wal", "-shm"):
            companion = Path(f"{current}{suffix}")
            if companion.exists():
                if kept is not None:
                    os.replace(companion, Path(f"{kept}{suffix}"))
                else:
                    companion.unlink()
        os.replace(incoming, current)
    except OSError as error:
        raise StoreError(f"Cannot restore into {home}: {error}") from error
    return kept


class RunStore:
    """Runs, their per-epoch metrics and results, in `<home>/runs.sqlite`.

    Attributes:
        read_only_reason: None normally. When nothing can be written (a full disk, a
            read-only file system, no permission) but the store exists, it is opened
            read-only and this is a sentence for a banner (why, and what to do);
            every write then raises StoreReadOnly with it. A new RunStore looks again.

    Raises:
        StoreError: the store cannot be opened: damaged (the message says where the
            backups are and how to start afresh), empty while `models/` holds models
            of earlier runs (truncated or lost), written by a newer Digit Lab, or
            not readable at all.
    """

    def __init__(self, home: Path | str | None = None):
        self.home = Path(home) if home else default_home()
        self.models_dir = self.home / "models"
        self.path = self.home / "runs.sqlite"
        self.read_only_reason: str | None = None
        self._read_only_uri = ""
        try:
            version = self._open_for_writing()
        except (OSError, sqlite3.Error) as error:
            version = self._open_read_only(error)
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"The run store in {self.home} was written by a newer Digit Lab "
                f"(schema {version}); update the app or set DIGITLAB_HOME to another folder."
            )

    def _open_for_writing(self) -> int:
        """Opens (creating when new) the store for writing; returns its schema version."""
        self.models_dir.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db:
            if not _has_schema(db):
                self._refuse_to_reuse_model_ids()
            db.execute("PRAGMA journal_mode=WAL")  # Persistent: set once, kept by the file.
            db.executescript(SCHEMA)
            db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            version = int(db.execute(SCHEMA_VERSION_QUERY).fetchone()[0])
            if version < SCHEMA_VERSION:
                _upgrade(db)
                version = SCHEMA_VERSION
            return version

    def _refuse_to_reuse_model_ids(self) -> None:
        """Raises StoreError when a store without schema (new, or truncated to 0 bytes)
        would start ids at 1 again while `models/` holds the models of earlier runs."""
        models = sorted(path.name for path in self.models_dir.glob("run-*.keras"))
        if models:
            examples = ", ".join(models[:3]) + (", ..." if len(models) > 3 else "")
            count = "1 model" if len(models) == 1 else f"{len(models)} models"
            raise StoreError(
                f"The run store {self.path} is empty (new, or truncated) but {self.models_dir} holds "
                f"{count} of earlier runs ({examples}), "
                "whose ids new runs would take and whose files they would overwrite. Restore a backup "
                f"with 'python -m core restore FILE' ({_backups_hint(self.home)}), or move the models "
                "folder away to start afresh."
            )

    def _open_read_only(self, error: BaseException) -> int:
        """After opening for writing failed: opens an existing store read-only when
        nothing can be written; returns its schema version, or raises StoreError."""
        if _error_name(error) in _DAMAGED:
            raise StoreError(_damaged_message(self.home, error)) from error
        reason = _unwritable_reason(self.home, error) if self.path.is_file() else None
        if reason is None:
            raise StoreError(_cannot_open_message(self.home, error)) from error
        uri = self.path.resolve().as_uri()
        # A WAL store needs its -shm file to be read; where that cannot be created
        # either, read the file as it is (immutable: no locks, no WAL).
        for self._read_only_uri in (f"{uri}?mode=ro", f"{uri}?immutable=1"):
            try:
                with closing(self._connect()) as db:
                    if _has_schema(db):
                        self.read_only_reason = reason
                        return int(db.execute(SCHEMA_VERSION_QUERY).fetchone()[0])
            except sqlite3.Error as read_error:
                if _error_name(read_error) in _DAMAGED:
                    raise StoreError(_damaged_message(self.home, read_error)) from read_error
        raise StoreError(_cannot_open_message(self.home, error)) from error

    def _connect(self) -> sqlite3.Connection:
        if self._read_only_uri:
            db = sqlite3.connect(self._read_only_uri, uri=True, timeout=30, isolation_level=None)
        else:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout=30000")
        db.execute("PRAGMA foreign_keys=ON")
        return db

    @contextmanager
    def _connection(self):
        """A short-lived connection; any SQLite failure becomes a StoreError that says
        what happened (damaged file, full disk, read-only store)."""
        try:
            with closing(self._connect()) as db:
                yield db
        except sqlite3.Error as error:
            name = _error_name(error)
            if name in _DAMAGED:
                raise StoreError(_damaged_message(self.home, error)) from error
            if self.read_only_reason and name.startswith("SQLITE_READONLY"):
                raise StoreReadOnly(self.read_only_reason) from error
            if name.startswith(("SQLITE_FULL", "SQLITE_IOERR", "SQLITE_READONLY", "SQLITE_CANTOPEN")):
                reason = _unwritable_reason(self.home, error)  # The disk filled up since opening.
                if reason:
                    raise StoreError(reason) from error
            raise StoreError(f"The run store in {self.home} failed: {error}") from error

    def _check_writable(self) -> None:
        """Raises StoreReadOnly when the store was opened read-only."""
        if self.read_only_reason:
            raise StoreReadOnly(self.read_only_reason)

    def _write(self, sql: str, parameters: tuple = ()) -> sqlite3.Cursor:
        self._check_writable()
        with self._connection() as db:
            return db.execute(sql, parameters)

    def _rows(self, sql: str, parameters: tuple = ()) -> list[dict]:
        with self._connection() as db:
            return [dict(row) for row in db.execute(sql, parameters)]

    # Runs: create, read, list.

    def create_run(
        self,
        config: RunConfig,
        params: int,
        name: str = "",
        max_queued: int | None = None,
        sweep_id: int | None = None,
        parent_run_id: int | None = None,
    ) -> int:
        """Queues a run and returns its id.

        A new run never takes the id of a model file already in `models/` (left by a
        store that was lost or restored from an older backup), so it cannot overwrite
        that model.

        Args:
            config: the run's config.
            params: its parameter count.
            name: a name for the run (defaults to the preset or family).
            max_queued: refuse when this many runs already wait (None: no limit);
                counted and inserted in one transaction.
            sweep_id: the sweep this run is a trial of, if any.
            parent_run_id: the run this one continues or fine-tunes, if any.

        Raises:
            QueueFull: `max_queued` runs already wait; nothing is queued.
            StoreReadOnly: the store was opened read-only.
        """
        self._check_writable()
        label = name.strip() or config.preset or f"Custom {config.family}"
        config_json = config.to_json()
        with self._connection() as db:
            db.execute("BEGIN IMMEDIATE")
            if max_queued is not None:
                queued = db.execute("SELECT COUNT(*) FROM runs WHERE status = 'queued'").fetchone()[0]
                if queued >= max_queued:
                    db.execute("ROLLBACK")
                    raise QueueFull(
                        f"{queued} runs already wait in the queue, the most it holds "
                        f"(DIGITLAB_MAX_QUEUED={max_queued}): wait for them to train, or cancel them "
                        "('python -m core cancel --all')."
                    )
            self._skip_model_file_ids(db)
            cursor = db.execute(
                "INSERT INTO runs (name, dataset, family, preset, config, params, created_at, sweep_id,"
                " parent_run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    label[:80],
                    config.dataset,
                    config.family,
                    config.preset,
                    config_json,
                    params,
                    time.time(),
                    sweep_id,
                    parent_run_id,
                ),
            )
            db.execute("COMMIT")
        return int(cursor.lastrowid)

    def _model_file_ids(self) -> set[int]:
        """Returns the run ids that have a model or vocabulary file in `models/`."""
        try:
            names = [path.name for path in self.models_dir.iterdir()]
        except OSError:
            return set()
        return {int(match[1]) for name in names if (match := _MODEL_FILE.fullmatch(name))}

    def _skip_model_file_ids(self, db: sqlite3.Connection) -> None:
        """Moves AUTOINCREMENT past the highest model file id when the next id has a file."""
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'runs'").fetchone()
        highest_id = db.execute("SELECT COALESCE(MAX(id), 0) FROM runs").fetchone()[0]
        next_id = max(row[0] if row else 0, highest_id) + 1
        if not (self.model_path(next_id).exists() or self.vocabulary_path(next_id).exists()):
            return
        highest_file = max(self._model_file_ids() | {next_id})
        if row:
            db.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'runs'", (highest_file,))
        else:
            db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('runs', ?)", (highest_file,))

    def get_run(self, run_id: int) -> dict | None:
        """Returns one run as a dict (config, evaluation and versions decoded), or None.

        A run whose stored config cannot be read (damaged, or written in a shape this
        version cannot take) comes back with `config` None and `config_error` saying
        why; otherwise `config_error` is "". Such a run can still be deleted.
        """
        rows = self._rows("SELECT * FROM runs WHERE id = ?", (int(run_id),))
        if not rows:
            return None
        run = rows[0]
        run["config"], run["config_error"] = _read_config(run["config"])
        run["evaluation"] = _json_object(run["evaluation"])
        run["versions"] = _json_object(run["versions"])
        return run

    def runs_table(self, dataset: str | None = None, status: str | None = None) -> pd.DataFrame:
        """Returns every run for the comparison table, best test accuracy first.

        A run whose stored config cannot be read is one row like any other, with its
        config columns (epochs, batch_size, learning_rate, augment) empty and the
        reason in `config_error` ("" for every readable run).
        """
        where, parameters = [], []
        if dataset:
            where.append("dataset = ?")
            parameters.append(dataset)
        if status:
            where.append("status = ?")
            parameters.append(status)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._connection() as db:
            cursor = db.execute(
                f"SELECT {COMPARE_COLUMNS} FROM runs {clause}"
                " ORDER BY test_accuracy IS NULL, test_accuracy DESC, id DESC",
                parameters,
            )
            names = [description[0] for description in cursor.description]
            rows = cursor.fetchall()
        position = names.index("config_length")
        created = names.index("created_at")
        keys = [(row[0], row[created], row[position]) for row in rows]
        self._read_settings([key for key in keys if key not in _SETTINGS])
        records = []
        for row, key in zip(rows, keys, strict=True):
            *settings, error = _SETTINGS.get(key, _DELETED_MEANWHILE)
            records.append((*row[:position], *settings, *row[position + 1 :], error))
        columns = [*names[:position], *CONFIG_COLUMNS, *names[position + 1 :], "config_error"]
        return pd.DataFrame.from_records(records, columns=columns, coerce_float=True)

    def _read_settings(self, keys: list[tuple]) -> None:
        """Decodes the configs of runs not seen before into `_SETTINGS`."""
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._rows(
                f"SELECT id, created_at, length(config) AS length, config FROM runs WHERE id IN ({marks})",
                tuple(key[0] for key in chunk),
            )
            for row in rows:
                _SETTINGS[(row["id"], row["created_at"], row["length"])] = _settings_of(row["config"])

    def active_runs(self) -> list[dict]:
        """Returns the queued and running runs, oldest first (`epochs` is None for a run
        whose config cannot be read)."""
        runs = self._rows(
            "SELECT id, name, status, epoch, batch, batches, started_at, created_at, config FROM runs"
            " WHERE status IN ('queued', 'running') ORDER BY id"
        )
        for run in runs:
            config, _ = _read_config(run.pop("config"))
            run["epochs"] = config.epochs if config else None
        return runs

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

    def optimizer_path(self, run_id: int) -> Path:
        """Returns where a run's optimizer state lives (`core.continuation`), so it can
        be continued from where it ended."""
        return self.models_dir / f"run-{int(run_id)}.optimizer.npz"

    def digit_map_path(self, run_id: int) -> Path:
        """Returns where a digit run's 2-D map is cached (`core.explain.digit_map`)."""
        return self.models_dir / f"run-{int(run_id)}.map.npz"

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

    def set_progress(
        self, run_id: int, epoch: int, batch: int, batches: int, worker_pid: int | None = None
    ) -> bool:
        """Records batch progress (epochs done, batch within the next) and a heartbeat.

        With `worker_pid`, writes only while the run is running in that worker and
        returns False (writing nothing) once it is not: reaped, finished or deleted.
        """
        owned, owner = _owned_by(worker_pid)
        cursor = self._write(
            f"UPDATE runs SET epoch = ?, batch = ?, batches = ?, heartbeat_at = ? WHERE id = ?{owned}",
            (epoch, batch, batches, time.time(), run_id, *owner),
        )
        return cursor.rowcount == 1

    def is_running_in(self, run_id: int, worker_pid: int) -> bool:
        """Returns True while the run is running in the worker with that pid."""
        owned, owner = _owned_by(worker_pid)
        return bool(self._rows(f"SELECT 1 FROM runs WHERE id = ?{owned}", (run_id, *owner)))

    def stop_requested(self, run_id: int) -> bool:
        """Returns True when a user asked the run to stop."""
        rows = self._rows("SELECT stop_requested FROM runs WHERE id = ?", (run_id,))
        return bool(rows and rows[0]["stop_requested"])

    def add_epoch(self, run_id: int, epoch: int, metrics: dict, worker_pid: int | None = None) -> bool:
        """Stores one finished epoch's loss, accuracy, val_loss, val_accuracy, seconds.

        With `worker_pid`, stores it only while the run is running in that worker
        (checked and written in one transaction) and returns False otherwise.
        """
        keys = ("loss", "accuracy", "val_loss", "val_accuracy", "seconds")
        values = tuple(float(metrics[key]) if key in metrics else None for key in keys)
        owned, owner = _owned_by(worker_pid)
        self._check_writable()
        with self._connection() as db:
            db.execute("BEGIN IMMEDIATE")
            if not db.execute(f"SELECT 1 FROM runs WHERE id = ?{owned}", (run_id, *owner)).fetchone():
                db.execute("ROLLBACK")
                return False
            db.execute(
                "INSERT OR REPLACE INTO epochs (run_id, epoch, loss, accuracy, val_loss, val_accuracy,"
                " seconds) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_id, epoch, *values),
            )
            db.execute(
                "UPDATE runs SET epoch = ?, heartbeat_at = ?, best_val_accuracy ="
                " (SELECT MAX(val_accuracy) FROM epochs WHERE run_id = ?) WHERE id = ?",
                (epoch, time.time(), run_id, run_id),
            )
            db.execute("COMMIT")
        return True

    def set_data_source(self, run_id: int, source: str, worker_pid: int | None = None) -> bool:
        """Records which data the run trains on (with `worker_pid`: only while the run
        runs in that worker; returns whether it was written)."""
        owned, owner = _owned_by(worker_pid)
        cursor = self._write(f"UPDATE runs SET data_source = ? WHERE id = ?{owned}", (source, run_id, *owner))
        return cursor.rowcount == 1

    def set_device(self, run_id: int, device: str, worker_pid: int | None = None) -> bool:
        """Records the device the run trains on ("CPU" or the GPU's name; with
        `worker_pid`: only while the run runs in that worker; returns whether it was written)."""
        owned, owner = _owned_by(worker_pid)
        cursor = self._write(f"UPDATE runs SET device = ? WHERE id = ?{owned}", (device[:80], run_id, *owner))
        return cursor.rowcount == 1

    def complete(self, run_id: int, results: dict, worker_pid: int | None = None) -> bool:
        """Marks a running run completed with its results; returns False if the run
        was no longer running (reaped or deleted meanwhile) or, with `worker_pid`, no
        longer running in that worker, and then changes nothing."""
        owned, owner = _owned_by(worker_pid)
        cursor = self._write(
            "UPDATE runs SET status = 'completed', finished_at = ?, test_loss = ?, test_accuracy = ?,"
            " seconds_per_epoch = ?, total_seconds = ?, ms_per_prediction = ?, evaluation = ?,"
            f" versions = ?, model_file = ?, note = ? WHERE id = ? AND status = 'running'{owned}",
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
                *owner,
            ),
        )
        return cursor.rowcount == 1

    def finish(self, run_id: int, status: str, error: str = "", worker_pid: int | None = None) -> bool:
        """Ends a run as failed or cancelled (with the reason for a failure); with
        `worker_pid`, only while it runs in that worker. Returns whether it changed."""
        owned, owner = _owned_by(worker_pid)
        cursor = self._write(
            "UPDATE runs SET status = ?, error = ?, finished_at = ?"
            f" WHERE id = ? AND status IN (?, ?){owned}",
            (status, error[:2000], time.time(), run_id, *ACTIVE, *owner),
        )
        return cursor.rowcount == 1

    def prune(self, run_id: int, epoch: int, worker_pid: int | None = None) -> bool:
        """Ends a sweep trial that its sweep pruned after `epoch` (its epochs are kept);
        with `worker_pid`, only while it runs in that worker. Returns whether it changed."""
        owned, owner = _owned_by(worker_pid)
        cursor = self._write(
            "UPDATE runs SET status = 'pruned', finished_at = ?, note = ?"
            f" WHERE id = ? AND status = 'running'{owned}",
            (time.time(), f"Pruned by its sweep after epoch {epoch}.", run_id, *owner),
        )
        return cursor.rowcount == 1

    def set_labels(self, run_id: int, tags: str, user_note: str) -> None:
        """Sets a run's tags (comma-separated; blanks and repeats dropped) and the
        user's note about it."""
        cleaned = list(dict.fromkeys(tag.strip() for tag in str(tags).split(",") if tag.strip()))
        self._write(
            "UPDATE runs SET tags = ?, user_note = ? WHERE id = ?",
            (", ".join(cleaned)[:MAX_TAGS_LENGTH], str(user_note)[:MAX_USER_NOTE_LENGTH], int(run_id)),
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
        for path in (
            self.model_path(run_id),
            self.vocabulary_path(run_id),
            self.digit_map_path(run_id),
            self.optimizer_path(run_id),
        ):
            path.unlink(missing_ok=True)

    def cancel_queued(self) -> int:
        """Cancels every queued run at once (running runs go on); returns how many."""
        cursor = self._write(
            "UPDATE runs SET status = 'cancelled', stop_requested = 1, finished_at = ?"
            " WHERE status = 'queued'",
            (time.time(),),
        )
        return cursor.rowcount

    def orphaned_model_files(self) -> list[Path]:
        """Returns the model and vocabulary files in `models/` whose run is not in the
        store (left by a lost or restored store), sorted by run id."""
        known = {row["id"] for row in self._rows("SELECT id FROM runs")}
        orphans = [
            path
            for path in self.models_dir.glob("run-*")
            if (match := _MODEL_FILE.fullmatch(path.name)) and int(match[1]) not in known
        ]
        return sorted(orphans, key=lambda path: (int(_MODEL_FILE.fullmatch(path.name)[1]), path.name))

    # Sweeps: a sweep row holds its spec; its trials are ordinary runs with its sweep_id,
    # and `sweep_trials` ties each run to its Optuna trial.

    def create_sweep(self, name: str, spec_json: str) -> int:
        """Records a new running sweep; returns its id."""
        cursor = self._write(
            "INSERT INTO sweeps (name, spec, status, created_at) VALUES (?, ?, 'running', ?)",
            (name[:80], spec_json, time.time()),
        )
        return int(cursor.lastrowid)

    def get_sweep(self, sweep_id: int) -> dict | None:
        """Returns a sweep (id, name, spec as JSON text, status, created_at), or None."""
        rows = self._rows("SELECT * FROM sweeps WHERE id = ?", (int(sweep_id),))
        return rows[0] if rows else None

    def sweeps(self, status: str | None = None) -> list[dict]:
        """Returns the sweeps (all, or those with `status`), newest first."""
        if status:
            return self._rows("SELECT * FROM sweeps WHERE status = ? ORDER BY id DESC", (status,))
        return self._rows("SELECT * FROM sweeps ORDER BY id DESC")

    def set_sweep_status(self, sweep_id: int, status: str) -> None:
        """Marks a sweep running, completed, stopped or failed."""
        self._write("UPDATE sweeps SET status = ? WHERE id = ?", (status, int(sweep_id)))

    def add_sweep_trial(
        self, run_id: int, sweep_id: int, trial_number: int, trial_id: int, params: str
    ) -> None:
        """Ties a queued run to the Optuna trial it trains (`params`: the trial's values as JSON)."""
        self._write(
            "INSERT INTO sweep_trials (run_id, sweep_id, trial_number, trial_id, params)"
            " VALUES (?, ?, ?, ?, ?)",
            (run_id, sweep_id, trial_number, trial_id, params),
        )

    def sweep_trial_of(self, run_id: int) -> dict | None:
        """Returns the sweep trial a run trains (sweep_id, trial_number, trial_id), or None."""
        rows = self._rows("SELECT * FROM sweep_trials WHERE run_id = ?", (int(run_id),))
        return rows[0] if rows else None

    def sweep_trial_rows(self, sweep_id: int) -> list[dict]:
        """Returns a sweep's trials in order, each with its run's status and results
        (status None when the run was deleted)."""
        return self._rows(
            "SELECT t.run_id, t.trial_number, t.trial_id, t.params, t.told, r.status, r.epoch,"
            " r.test_accuracy, r.best_val_accuracy, r.total_seconds, r.config"
            " FROM sweep_trials t LEFT JOIN runs r ON r.id = t.run_id"
            " WHERE t.sweep_id = ? ORDER BY t.trial_number",
            (int(sweep_id),),
        )

    def mark_trial_told(self, run_id: int) -> None:
        """Records that the trial's outcome was told to its study."""
        self._write("UPDATE sweep_trials SET told = 1 WHERE run_id = ?", (int(run_id),))

    # Workers: registration and heartbeats, so dead ones can be found.

    def register_worker(self, pid: int) -> None:
        """Records a live worker process."""
        now = time.time()
        self._write("INSERT OR REPLACE INTO workers VALUES (?, ?, ?)", (pid, now, now))

    def worker_heartbeat(self, pid: int, run_id: int | None) -> None:
        """Marks a worker (and the run it executes, while that run is still its own)
        as alive now."""
        now = time.time()
        self._write("UPDATE workers SET heartbeat_at = ? WHERE pid = ?", (now, pid))
        if run_id is not None:
            owned, owner = _owned_by(pid)
            self._write(f"UPDATE runs SET heartbeat_at = ? WHERE id = ?{owned}", (now, run_id, *owner))

    def unregister_worker(self, pid: int) -> None:
        """Forgets a worker that has exited."""
        self._write("DELETE FROM workers WHERE pid = ?", (pid,))

    def workers(self) -> list[dict]:
        """Returns the registered workers."""
        return self._rows("SELECT * FROM workers")

    def running_runs(self) -> list[dict]:
        """Returns the running runs with their worker pid, start and heartbeat."""
        return self._rows(
            "SELECT id, worker_pid, started_at, heartbeat_at, epoch FROM runs WHERE status = 'running'"
        )

    def models_folder_bytes(self) -> int:
        """Returns how many bytes the files in `models/` take on disk."""
        total = 0
        try:
            paths = list(self.models_dir.iterdir())
        except OSError:
            return 0
        for path in paths:
            try:
                total += path.stat().st_size if path.is_file() else 0
            except OSError:
                continue  # Deleted meanwhile.
        return total

    # The user's own drawings (the personal test set): a label and the 28x28 the model saw.

    def add_drawing(self, label: int, image: np.ndarray, stroke_png: bytes | None = None) -> int:
        """Saves one labelled drawing (a 28x28 uint8 image, and optionally the PNG of
        the strokes as drawn); returns its id."""
        image = np.asarray(image)
        if image.shape != (28, 28) or image.dtype != np.uint8:
            raise ValueError(f"A drawing is a 28x28 uint8 image, not {image.shape} {image.dtype}.")
        if not 0 <= int(label) <= 9:
            raise ValueError(f"A drawing's label is a digit 0-9, not {label!r}.")
        cursor = self._write(
            "INSERT INTO drawings (label, image, stroke_png, created_at) VALUES (?, ?, ?, ?)",
            (int(label), image.tobytes(), stroke_png, time.time()),
        )
        return int(cursor.lastrowid)

    def add_drawings(self, drawings: list) -> list[int]:
        """Saves several labelled drawings (objects with `label`, `image` and
        `stroke_png`, as `core.handwriting.read_zip` returns them) in one transaction:
        all of them or, on any fault, none; returns their ids."""
        rows = []
        for drawing in drawings:
            image = np.asarray(drawing.image)
            if image.shape != (28, 28) or image.dtype != np.uint8 or not 0 <= int(drawing.label) <= 9:
                raise ValueError("Each drawing is a 28x28 uint8 image labelled with a digit 0-9.")
            rows.append((int(drawing.label), image.tobytes(), drawing.stroke_png, time.time()))
        self._check_writable()
        ids = []
        with self._connection() as db:
            db.execute("BEGIN IMMEDIATE")
            for row in rows:
                sql = "INSERT INTO drawings (label, image, stroke_png, created_at) VALUES (?, ?, ?, ?)"
                ids.append(int(db.execute(sql, row).lastrowid))
            db.execute("COMMIT")
        return ids

    def drawings(self) -> list[dict]:
        """Returns every saved drawing, oldest first: id, label, image (28x28 uint8),
        stroke_png (bytes or None), created_at."""
        rows = self._rows("SELECT id, label, image, stroke_png, created_at FROM drawings ORDER BY id")
        for row in rows:
            row["image"] = np.frombuffer(row["image"], dtype=np.uint8).reshape(28, 28)
        return rows

    def relabel_drawing(self, drawing_id: int, label: int) -> None:
        """Gives a saved drawing another label."""
        if not 0 <= int(label) <= 9:
            raise ValueError(f"A drawing's label is a digit 0-9, not {label!r}.")
        self._write("UPDATE drawings SET label = ? WHERE id = ?", (int(label), drawing_id))

    def delete_drawing(self, drawing_id: int) -> None:
        self._write("DELETE FROM drawings WHERE id = ?", (drawing_id,))

    def count_queued(self) -> int:
        """Returns how many runs wait for a worker."""
        return self._rows("SELECT COUNT(*) AS n FROM runs WHERE status = 'queued'")[0]["n"]
