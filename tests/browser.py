"""Helpers for the end-to-end browser tests: the app as a subprocess, Chromium, and
small Playwright recipes for Streamlit widgets (found by their `st-key-<key>` class).

Everything here waits with Playwright's own timers (`page.wait_for_timeout`, `expect`):
`time.sleep` would stop Playwright's event delivery in the sync API.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.conftest import REPO_DIR

PYTHON = str(REPO_DIR / ".venv" / "bin" / "python") if (REPO_DIR / ".venv").is_dir() else sys.executable
SCREENSHOTS = REPO_DIR / "test-output" / "screenshots"
DOC_SCREENSHOTS = REPO_DIR / "docs" / "screenshots"
VIEWPORT = {"width": 1400, "height": 1000}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Generous: another process may be training a model on the same two cores.
TRAIN_TIMEOUT_MS = 240_000
RERUN_TIMEOUT_MS = 60_000


def chromium_path() -> str | None:
    """Returns the system Chromium (`DIGITLAB_CHROMIUM`, else Debian's), or None."""
    configured = os.environ.get("DIGITLAB_CHROMIUM")
    candidates = [configured] if configured else ["/usr/bin/chromium", shutil.which("chromium") or ""]
    return next((path for path in candidates if path and os.access(path, os.X_OK)), None)


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
    """`streamlit run app.py` in its own session, pointed at a temporary store."""

    def __init__(self, home: Path, log_path: Path):
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 90.0) -> AppServer:
        command = [
            PYTHON, "-m", "streamlit", "run", "app.py",
            "--server.headless", "true",
            "--server.port", str(self.port),
            "--server.address", "127.0.0.1",
            "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none",
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=REPO_DIR,
                env=app_environment(self.home),
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
        if self.process is not None:
            stop_process_group(self.process)


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


# Playwright recipes.


# While a script or fragment reruns, Streamlit keeps the previous run's elements on the
# page, faded, marked data-stale, and may show an element's old and new copy for a
# moment; selectors skip the stale ones so that a locator never matches both.
FRESH = '.stElementContainer:not([data-stale="true"])'


def key(name: str) -> str:
    """The CSS selector of the (current) element container of the widget with that key."""
    return f'.st-key-{name}:not([data-stale="true"])'


def fresh(page, selector: str):
    """A locator for `selector` inside element containers of the current run only."""
    return page.locator(f"{FRESH} {selector}")


IDLE = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    return app !== null
        && app.getAttribute("data-test-connection-state") === "CONNECTED"
        && app.getAttribute("data-test-script-state") === "notRunning"
        && !document.querySelector('[data-testid="stStatusWidget"]')
        && !document.querySelector('[data-stale="true"]');
}"""


def wait_until_idle(page, timeout: float = RERUN_TIMEOUT_MS) -> None:
    """Waits until the script run an interaction started is over and its page drawn.

    A rerun starts a moment after the click that asks for it, so this first gives it
    that moment; then it waits for Streamlit's script state to be back to 'notRunning'
    with no element left over from the previous run.
    """
    page.wait_for_timeout(300)
    page.wait_for_function(IDLE, timeout=timeout, polling=100)


def open_page(page, base_url: str, path: str = "", heading: str | None = None) -> None:
    """Opens a page of the app and waits until its title is shown and the script is done."""
    from playwright.sync_api import expect

    page.goto(f"{base_url}/{path.lstrip('/')}", wait_until="domcontentloaded")
    expect(page.locator('[data-testid="stApp"]')).to_be_visible(timeout=RERUN_TIMEOUT_MS)
    if heading:
        expect(page.locator("h1").filter(has_text=heading)).to_be_visible(timeout=RERUN_TIMEOUT_MS)
    wait_until_idle(page)


def select_option(page, widget_key: str, option, timeout: float = RERUN_TIMEOUT_MS) -> None:
    """Chooses `option` (its exact text, or a compiled pattern) in the selectbox with that key."""
    from playwright.sync_api import expect

    box = page.locator(key(widget_key))
    field = box.locator("input")
    name = option if isinstance(option, re.Pattern) else re.compile(f"^{re.escape(option)}$")
    choice = page.get_by_role("option", name=name)
    # The chevron opens the list whatever the input holds (a click into the input
    # sometimes only focuses it).
    for attempt in range(3):
        box.get_by_role("button", name="Open").click()
        try:
            expect(choice).to_be_visible(timeout=5_000 if attempt < 2 else timeout)
            break
        except AssertionError:
            if attempt == 2:
                raise
            page.keyboard.press("Escape")
    choice.click()
    expect(field).to_have_value(name, timeout=timeout)
    wait_until_idle(page)


def fill_number(page, widget_key: str, value) -> None:
    """Types a value into the number input with that key and commits it with Enter."""
    from playwright.sync_api import expect

    field = page.locator(f"{key(widget_key)} input")
    field.fill(str(value))
    field.press("Enter")
    expect(field).to_have_value(str(value))
    wait_until_idle(page)


def click_button(page, widget_key: str) -> None:
    page.locator(f"{key(widget_key)} button").first.click()


def plotly_points(page, chart_key: str) -> int:
    """How many markers the plotly chart with that key draws now."""
    return page.locator(f"{key(chart_key)} .scatterlayer .trace .points path").count()


def dataframe(page, column: str):
    """The st.dataframe that has a column with that header (display-only dataframes
    get no `st-key-` class, so they are found by their header)."""
    return page.locator('[data-testid="stDataFrame"]').filter(
        has=page.locator("th[role='columnheader']", has_text=column)
    )


def grid_text(grid) -> str:
    """The text of a st.dataframe's visible cells (grid: a locator holding it), read from
    the accessibility table the grid keeps inside its canvas: that table is not rendered,
    so textContent rather than innerText."""
    return " | ".join(grid.locator("table [role='gridcell']").all_text_contents())


def assert_no_app_errors(page) -> None:
    """No Streamlit exception box and no traceback text anywhere on the page."""
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, f"the page shows an exception: {exceptions.first.inner_text()[:2000]}"
    body = page.locator("body").inner_text()
    assert "Traceback" not in body, f"the page shows a traceback:\n{body[:3000]}"


def _content_height(page) -> int:
    return page.evaluate(
        """() => {
            const block = document.querySelector('[data-testid="stMainBlockContainer"]');
            return block ? Math.ceil(block.getBoundingClientRect().height) : 0;
        }"""
    )


def screenshot(page, name: str) -> Path:
    """Saves the whole page into test-output/screenshots/<name>.png.

    Streamlit scrolls inside its main container, so Playwright's `full_page` would only
    capture the viewport: the viewport is made as tall as the content for the shot.
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{safe_name(name)}.png"
    size = page.viewport_size or VIEWPORT
    height = min(max(size["height"], _content_height(page)), 12_000)
    try:
        if height > size["height"]:
            page.set_viewport_size({"width": size["width"], "height": height})
            page.wait_for_timeout(500)
        page.screenshot(path=str(path), full_page=True)
    finally:
        if height > size["height"]:
            page.set_viewport_size(size)
    return path


def doc_screenshot(page, name: str, focus=None) -> Path:
    """Saves what a visitor sees in the 1400x1000 window into docs/screenshots/<name>.png:
    the top of the page, or the window scrolled so that `focus` (a locator) is at the top."""
    DOC_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = DOC_SCREENSHOTS / f"{name}.png"
    page.set_viewport_size(VIEWPORT)
    if focus is None:
        page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]')?.scrollTo(0, 0)")
    else:
        focus.evaluate("element => element.scrollIntoView({block: 'start'})")
    page.mouse.move(0, VIEWPORT["height"] - 1)  # No hover effects in the picture.
    page.wait_for_timeout(500)
    page.screenshot(path=str(path))
    return path


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")


def draw_stroke(page, points: list[tuple[float, float]], steps: int = 12) -> None:
    """One mouse stroke through `points`, given in pixels from the canvas's top-left."""
    canvas = page.locator("canvas.upper-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box is not None, "the drawing canvas is not on the page"
    x0, y0 = box["x"], box["y"]
    page.mouse.move(x0 + points[0][0], y0 + points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x0 + x, y0 + y, steps=steps)
    page.mouse.up()
