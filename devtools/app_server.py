"""The app and the engine as subprocesses, pointed at a temporary store: the Streamlit
server, the CLI trainer, and the workers they start (ended only if they train for that
store)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from core.processes import WEB_SERVER_ENVIRONMENT

REPO_DIR = Path(__file__).resolve().parent.parent
PYTHON = str(REPO_DIR / ".venv" / "bin" / "python") if (REPO_DIR / ".venv").is_dir() else sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_environment(home: Path) -> dict[str, str]:
    """The environment of the app and the CLI: the temporary store, offline data."""
    return {
        **os.environ,
        "DIGITLAB_HOME": str(home),
        "DIGITLAB_OFFLINE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONUNBUFFERED": "1",
    }


class AppServer:
    """`streamlit run app.py` in its own session, pointed at a temporary store.

    Args:
        home: the data directory.
        log_path: where the server's output goes.
        script: the entry point (`audience.py` for the audience server).
        address: passed as `--server.address`; None keeps what .streamlit/config.toml says.
        extra_args: more `streamlit run` options.
    """

    def __init__(
        self,
        home: Path,
        log_path: Path,
        script: str = "app.py",
        address: str | None = "127.0.0.1",
        extra_args: tuple[str, ...] = (),
    ):
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.script = script
        self.address = address
        self.extra_args = extra_args
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 90.0) -> AppServer:
        command = [
            PYTHON, "-m", "streamlit", "run", self.script,
            "--server.headless", "true",
            "--server.port", str(self.port),
            "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none",
            *(["--server.address", self.address] if self.address else []),
            *self.extra_args,
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=REPO_DIR,
                env={**WEB_SERVER_ENVIRONMENT, **app_environment(self.home)},  # As launch.py starts it.
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)  # Not inside Playwright: no browser is open yet.
        self.stop()
        raise RuntimeError(f"streamlit did not answer /_stcore/health in {timeout:.0f} s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Stops the server and the model reader it started."""
        if self.process is not None:
            stop_process_group(self.process)
        stop_reader(self.home)


def stop_process_group(process: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM to the process's session group, SIGKILL if it outlives `grace` seconds."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(grace)


def kill_workers(home: Path) -> None:
    """Ends the `python -m core worker` processes that train for this store.

    They run in their own sessions (they outlive the app), so the app's process group
    does not include them. Only processes whose command line and DIGITLAB_HOME match
    are signalled, never a worker of another store.
    """
    from core.store import RunStore

    pids = {int(worker["pid"]) for worker in RunStore(home).workers()}
    pids |= {int(run["worker_pid"]) for run in RunStore(home).running_runs() if run["worker_pid"]}
    for pid in pids:
        if not _is_worker_of(pid, home):
            continue
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
            for _ in range(50):
                if not _is_worker_of(pid, home):
                    break
                time.sleep(0.1)
            else:
                continue
            break


def _is_worker_of(pid: int, home: Path) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return (
        state not in ("Z", "X")
        and b"core" in command
        and b"worker" in command
        and f"DIGITLAB_HOME={home}".encode() in environment
    )


def start_cli_training(home: Path, preset: str, log_path: Path, *extra: str) -> subprocess.Popen:
    """Starts `python -m core train --preset NAME ...` (it queues, spawns a worker, follows)."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [PYTHON, "-m", "core", "train", "--preset", preset, *extra],
            cwd=REPO_DIR,
            env=app_environment(home),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_reader(home: Path) -> None:
    """Kills the model reader process of a data directory, if one was started."""
    with contextlib.suppress(OSError, ValueError):
        os.kill(int((home / "reader.pid").read_text()), signal.SIGKILL)
