"""Local processes: starting the engine's own (`python -m core ...`), and facts read
from /proc: is a pid alive, since when, and how much CPU it used.

A pid alone does not name a process for long: once it exits, the kernel may give
the same number to a new one. A process's start time tells the two apart.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent

# A process start time is known to about a second (the boot time is whole seconds).
START_TIME_TOLERANCE_SECONDS = 2.0
# The web servers' environment (launch.py). Streamlit runs each session's script in a
# thread of its own, and glibc gives threads that allocate at once malloc arenas of
# their own, up to 8 per core, each keeping what was freed in it: with 8 sessions
# drawing at once the audience server grew from 213 to 268 MB over 5 rounds, with 2
# arenas it stayed at 218-225 MB. The engine's processes (TensorFlow) keep glibc's default.
WEB_SERVER_ENVIRONMENT = {"MALLOC_ARENA_MAX": "2"}


def web_server_environment() -> dict[str, str]:
    """This process's environment with WEB_SERVER_ENVIRONMENT added (what is already
    set is kept)."""
    return {**WEB_SERVER_ENVIRONMENT, **os.environ}


def _stat_fields(pid: int) -> list[str] | None:
    """Returns /proc/<pid>/stat from field 3 (the state) on, or None when unreadable."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_alive(pid: int | None) -> bool:
    """Returns True if a process with that pid runs or is stopped (not a zombie)."""
    if not pid or pid < 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    fields = _stat_fields(pid)
    return fields is None or fields[0] not in ("Z", "X")


def process_stopped(pid: int) -> bool:
    """Returns True if the process is stopped (SIGSTOP, or a terminal's Ctrl-Z)."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] in ("T", "t")


def parent_pid(pid: int) -> int | None:
    """Returns the pid of the process's parent, or None when it is gone."""
    fields = _stat_fields(pid)
    return int(fields[1]) if fields is not None else None


def process_started_at(pid: int) -> float | None:
    """Returns when the process started, in `time.time()` seconds, or None if unknown."""
    fields = _stat_fields(pid)
    try:
        ticks = int(fields[19])  # Field 22 of /proc/<pid>/stat: start time in clock ticks after boot.
        lines = Path("/proc/stat").read_text().splitlines()
        boot = next(float(line.split()[1]) for line in lines if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (TypeError, IndexError, ValueError, OSError, StopIteration):
        return None


def process_cpu_seconds(pid: int) -> float:
    """Returns the user and system CPU seconds a process has used so far (0 once gone)."""
    fields = _stat_fields(pid)
    return 0.0 if fields is None else (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def same_process_since(pid: int | None, since: float | None) -> bool:
    """Returns True if `pid` is alive and is the process that existed at time `since`
    (it started before then), not a later one that was given the same pid.

    Args:
        pid: the process id recorded at `since`.
        since: when the pid was recorded (`time.time()`); None skips the check.
    """
    if not process_alive(pid):
        return False
    if since is None:
        return True
    started = process_started_at(pid)
    return started is None or started <= since + START_TIME_TOLERANCE_SECONDS


def start_engine_process(home: Path, arguments: list[str], log_name: str) -> subprocess.Popen:
    """Starts `python -m core ARGUMENTS` for a data directory, in its own session (it
    outlives the caller), its output appended to `<home>/<log_name>`; without the web
    server's own settings (WEB_SERVER_ENVIRONMENT)."""
    environment = {key: value for key, value in os.environ.items() if key not in WEB_SERVER_ENVIRONMENT}
    environment["DIGITLAB_HOME"] = str(home)
    with open(Path(home) / log_name, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "core", *arguments],
            cwd=REPO_DIR,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
