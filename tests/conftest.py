"""Shared fixtures: every test gets its own data directory and never goes online."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

REPO_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_DIR))
os.environ["DIGITLAB_OFFLINE"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_configure(config):
    """Every Playwright `expect` waits as long as a rerun may take on a loaded machine
    (its own default, 5 s, is shorter than a Compare page with plots takes there)."""
    from playwright.sync_api import expect

    from devtools.browser import RERUN_TIMEOUT_MS

    expect.set_options(timeout=RERUN_TIMEOUT_MS)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh data directory for runs and models, also seen by spawned workers; a
    model reader the test started is stopped at the end."""
    monkeypatch.setenv("DIGITLAB_HOME", str(tmp_path))
    yield tmp_path
    from devtools.app_server import stop_reader

    stop_reader(tmp_path)


@pytest.fixture
def store(home):
    from core.store import RunStore

    return RunStore(home)


@pytest.fixture(scope="session")
def mnist():
    """The real offline MNIST file: (x_train, y_train, x_test, y_test)."""
    with np.load(REPO_DIR / "bundled_data" / "mnist-offline.npz") as data:
        return tuple(data[key] for key in ("x_train", "y_train", "x_test", "y_test"))


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 1 MB file system (tmpfs), unmounted afterwards; needs root."""
    mount_point = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1M", "tmpfs", str(mount_point)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {mounted.stderr.decode().strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=True)


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, for the browser tests of one module."""
    from playwright import sync_api

    from devtools.browser import CHROMIUM_ARGS, chromium_path

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
