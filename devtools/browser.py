"""Chromium and small Playwright recipes for Streamlit widgets (found by their
`st-key-<key>` class), for the browser tests and the start-up benchmark.

Everything here waits with Playwright's own timers (`page.wait_for_timeout`, `expect`):
`time.sleep` would stop Playwright's event delivery in the sync API.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from devtools.app_server import REPO_DIR

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


def click_segment(page, widget_key: str, label: str) -> None:
    """Clicks the option with that exact label in the segmented control or pills with that key."""
    page.locator(key(widget_key)).get_by_role("radio", name=label, exact=True).click()


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
    canvas = page.locator("canvas.digit-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box is not None, "the drawing canvas is not on the page"
    x0, y0 = box["x"], box["y"]
    page.mouse.move(x0 + points[0][0], y0 + points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x0 + x, y0 + y, steps=steps)
    page.mouse.up()
