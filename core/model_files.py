"""Model files on disk: how big one will be, whether it fits, whether a file is safe
to load, and the temporary files a killed worker left behind.

A `.keras` file is a zip archive (config.json, metadata.json, model.weights.h5).
Keras reads each member whole into memory, so a small archive that unpacks to
gigabytes (a zip bomb) would kill whatever loads it: every loader checks the
archive first with `check_model_archive`.
"""

from __future__ import annotations

import errno
import re
import shutil
import zipfile
from pathlib import Path

from core.layers import ConfigError
from core.processes import process_alive, process_started_at

BYTES_PER_PARAM = 4  # float32 weights; saved without optimizer state.
MODEL_FILE_OVERHEAD = 1.2  # HDF5 structure, config and metadata, generously.
MODEL_FILE_MARGIN_BYTES = 16 * 2**20
MAX_CONFIG_BYTES = 10 * 2**20
MAX_ARCHIVE_BYTES = 2**30  # Unpacked; the largest model allowed (20 M parameters) is about 80 MB.
MAX_COMPRESSION_RATIO = 50  # Keras stores members uncompressed; weights barely compress.
MAX_MEMBERS = 100
LEFTOVER = re.compile(r"\.run-\d+(?:\.optimizer)?\.(\d+)\.tmp\.(?:keras|npz)")


class DiskFull(OSError):
    """There is not enough free disk space for a model; the message says how much."""

    def __init__(self, message: str):
        super().__init__(errno.ENOSPC, message)

    def __str__(self) -> str:
        return self.strerror


class NoRoomForModel(ConfigError):
    """A run refused before it is queued: its model would not fit on the disk. A
    ConfigError (field "disk"), so every caller that shows a refused run shows it."""

    def __init__(self, message: str):
        super().__init__("disk", message)


class UnsafeModelFile(ValueError):
    """A model file that must not be loaded; the message says why."""


class UnreadableModelFile(ValueError):
    """A model file that is not a zip archive at all (damaged or something else)."""


def expected_model_bytes(params: int) -> int:
    """Returns about how many bytes the saved `.keras` of a model with `params`
    parameters takes, with room to spare."""
    return int(params * BYTES_PER_PARAM * MODEL_FILE_OVERHEAD)


def check_free_space(folder: Path, params: int) -> None:
    """Checks that a model with `params` parameters fits on the disk holding `folder`.

    Raises:
        DiskFull: not enough free space (the message gives both figures).
    """
    needed = expected_model_bytes(params) + MODEL_FILE_MARGIN_BYTES
    folder = Path(folder)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise DiskFull(
            f"The disk is full: {free / 1e6:,.0f} MB free in {folder}, the model needs "
            f"{needed / 1e6:,.0f} MB. Delete runs you no longer need or free space, then try again."
        )


def check_room_to_queue(folder: Path, params: int) -> None:
    """Checks, before a run is queued, that its model will fit on the disk.

    Raises:
        NoRoomForModel: not enough free space (the message gives both figures).
    """
    try:
        check_free_space(folder, params)
    except DiskFull as error:
        raise NoRoomForModel(str(error)) from error


def check_model_archive(path: Path, params: int | None = None) -> None:
    """Checks, without unpacking anything, that a `.keras` file is safe to load.

    Args:
        path: the model file.
        params: the model's parameter count when known; the archive may then unpack
            to at most four times the expected file size.

    Raises:
        UnreadableModelFile: not a zip archive.
        UnsafeModelFile: an archive that unpacks to too much (a zip bomb): a
            config.json over 10 MB, members compressed over 50 times, or a total
            over the limit.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise UnreadableModelFile(f"not a .keras archive: {error}") from error
    if len(members) > MAX_MEMBERS:
        raise UnsafeModelFile(f"{len(members)} files in the archive, a model has 3")
    names = {member.filename for member in members}
    if "config.json" not in names:
        raise UnsafeModelFile("no config.json in the archive")
    limit = MAX_ARCHIVE_BYTES
    if params is not None:
        limit = min(limit, 4 * expected_model_bytes(params) + MODEL_FILE_MARGIN_BYTES)
    total = 0
    for member in members:
        size = member.file_size
        total += size
        if member.filename == "config.json" and size > MAX_CONFIG_BYTES:
            raise UnsafeModelFile(f"its config.json unpacks to {size / 1e6:,.0f} MB")
        if size > 2**20 and size > MAX_COMPRESSION_RATIO * max(member.compress_size, 1):
            raise UnsafeModelFile(
                f"{member.filename} unpacks {size / max(member.compress_size, 1):,.0f} times larger"
            )
    if total > limit:
        raise UnsafeModelFile(f"it unpacks to {total / 1e6:,.0f} MB, over the {limit / 1e6:,.0f} MB allowed")


def remove_leftover_temporaries(models_dir: Path) -> list[Path]:
    """Deletes the temporary model and optimizer files (`.run-N.<pid>.tmp.keras`,
    `.run-N.optimizer.<pid>.tmp.npz`) whose writer is gone: a worker killed while
    saving; returns the files deleted.

    A file whose pid is alive is kept, unless that process started after the file
    was last written (the pid was given to a new process).
    """
    removed = []
    try:
        candidates = list(Path(models_dir).glob(".run-*.tmp.*"))
    except OSError:
        return removed
    for path in candidates:
        match = LEFTOVER.fullmatch(path.name)
        if not match:
            continue
        pid = int(match[1])
        try:
            written = path.lstat().st_mtime
        except OSError:
            continue
        if process_alive(pid):
            started = process_started_at(pid)
            if started is None or started <= written:
                continue  # Its writer may still be saving it.
        try:
            path.unlink(missing_ok=True)
        except OSError:
            continue  # A read-only folder: the file stays, harmless.
        removed.append(path)
    return removed
