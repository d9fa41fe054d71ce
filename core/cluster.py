"""A Ray cluster's settings, and what the app asks about it (without importing Ray).

With `DIGITLAB_RAY_ADDRESS` set (`auto`, `HOST:PORT`, `ray://HOST:10001`, or `local`
to start a Ray instance on this machine), `python -m core worker` is a dispatcher
(`core.dispatcher`) that trains runs on the cluster. A cluster that cannot be
reached leaves runs queued and says so through a small note in the data directory,
which the Train page and the CLI read (`cluster_problem`). Without Ray installed,
the app and the local worker work as ever.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import socket
import time
from functools import lru_cache
from pathlib import Path

from core.processes import REPO_DIR

ADDRESS_VARIABLE = "DIGITLAB_RAY_ADDRESS"
PROBLEM_FILE = "cluster-problem.json"
# The dispatcher rewrites it after every attempt (Ray Client gives up after 30 s).
PROBLEM_FRESH_SECONDS = 90.0
RETRY_SECONDS = 5.0  # How often the dispatcher tries again to reach the cluster.
PROBE_TIMEOUT_SECONDS = 3.0
# Passed to the tasks wherever they run; anything else a node needs is its own.
SHIPPED_VARIABLES = ("DIGITLAB_OFFLINE", "DIGITLAB_DOWNLOAD_TIMEOUT", "TF_CPP_MIN_LOG_LEVEL")
# The job's working directory is this checkout minus what .gitignore names and these.
NOT_SHIPPED = [".git", ".ci", "docs", "tests", "bench"]


def cluster_address() -> str:
    """Returns `DIGITLAB_RAY_ADDRESS` ("" when runs train on this machine)."""
    return os.environ.get(ADDRESS_VARIABLE, "").strip()


@lru_cache(maxsize=1)
def ray_installed() -> bool:
    """Returns True when Ray can be imported here (found without importing it)."""
    return importlib.util.find_spec("ray") is not None


def _number(variable: str, default: float | None) -> float | None:
    try:
        value = float(os.environ.get(variable, ""))
    except ValueError:
        return default
    return value if value >= 0 else default


def cpus_per_run() -> float:
    """Returns the CPUs each run asks Ray for (`DIGITLAB_RAY_CPUS`, default 1)."""
    return _number("DIGITLAB_RAY_CPUS", 1.0) or 1.0


def gpus_per_run(cluster_gpus: float) -> float:
    """Returns the GPUs each run asks Ray for: `DIGITLAB_RAY_GPUS` when set (0 keeps
    runs on CPUs, 0.5 lets two share one), else one when the cluster has a GPU."""
    chosen = _number("DIGITLAB_RAY_GPUS", None)
    if chosen is not None:
        return chosen
    return 1.0 if cluster_gpus >= 1 else 0.0


def missing_ray_message(address: str) -> str:
    return (
        f"{ADDRESS_VARIABLE} is set ({address}) but Ray is not installed here, so queued runs wait: "
        "install it with 'bash scripts/setup.sh requirements-extras.txt', or unset "
        f"{ADDRESS_VARIABLE} to train on this machine."
    )


def unreachable_message(address: str, reason: str) -> str:
    token = " or copy its token (~/.ray/auth_token) to this machine" if address.startswith("ray://") else ""
    return (
        f"The Ray cluster at {address} cannot be reached ({reason}), so runs wait in the queue: "
        f"none is lost, they train once it answers. Start it ('ray start --head'), correct "
        f"{ADDRESS_VARIABLE}{token}."
    )


def cluster_problem(home: Path) -> str | None:
    """Returns why queued runs cannot go to the configured cluster now (a sentence for
    the Train page), or None: no cluster configured, or nothing wrong known.

    Cheap and free of Ray: it reads the note the dispatcher keeps in the data
    directory while the cluster cannot be reached.
    """
    address = cluster_address()
    if not address:
        return None
    if not ray_installed():
        return missing_ray_message(address)
    try:
        note = json.loads((Path(home) / PROBLEM_FILE).read_text())
        fresh = time.time() - float(note["at"]) <= PROBLEM_FRESH_SECONDS
        problem = str(note["problem"])
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return problem if fresh and problem else None


def record_problem(home: Path, problem: str) -> None:
    """Writes (atomically) what keeps runs from the cluster, for `cluster_problem`."""
    path = Path(home) / PROBLEM_FILE
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(json.dumps({"problem": problem, "at": time.time()}))
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)


def clear_problem(home: Path) -> None:
    with contextlib.suppress(OSError):
        (Path(home) / PROBLEM_FILE).unlink(missing_ok=True)


def probe(address: str) -> str | None:
    """Returns why nothing answers at a `HOST:PORT` or `ray://HOST:PORT` address (a
    refused or timed-out TCP connection), or None (answered, or `auto`/`local`).

    Ray itself retries an unanswered GCS address for ever; this fails in seconds.
    """
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdecimal():
        return None
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT_SECONDS):
            return None
    except OSError as error:
        return error.strerror or str(error) or type(error).__name__


def use_token_if_any() -> None:
    """Has Ray send this machine's cluster token, when it has one (`~/.ray/auth_token`,
    `RAY_AUTH_TOKEN` or `RAY_AUTH_TOKEN_PATH`) and `RAY_AUTH_MODE` does not say
    otherwise: Ray Client (`ray://`) sends none unless told, and a cluster with token
    authentication then never answers it."""
    has_token = (
        "RAY_AUTH_TOKEN" in os.environ
        or "RAY_AUTH_TOKEN_PATH" in os.environ
        or (Path.home() / ".ray" / "auth_token").is_file()
    )
    if has_token:
        os.environ.setdefault("RAY_AUTH_MODE", "token")


def runtime_environment() -> dict:
    """The job's runtime environment: this checkout as the working directory (code
    and bundled data for every node) and the settings the tasks need."""
    variables = {name: os.environ[name] for name in SHIPPED_VARIABLES if name in os.environ}
    return {"working_dir": str(REPO_DIR), "excludes": NOT_SHIPPED, "env_vars": variables}
