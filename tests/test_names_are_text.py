"""A run's name is text on every page: never a link, never markup (in a real browser)."""

import pytest
from playwright import sync_api

from core.presets import get_preset
from devtools.app_server import AppServer
from devtools.browser import CHROMIUM_ARGS, chromium_path, open_page, screenshot
from tests.training_helpers import run_now

HOSTILE = "[click me](http://evil.example) https://evil.example www.evil.example <b>bold</b> **x**"
PAGES = ["train?run={run}", "compare", "draw", "draw?presenter=1", "home"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    home = tmp_path_factory.mktemp("names")
    from core.store import RunStore

    store = RunStore(home)
    config = get_preset("MLP 32").config.with_changes(epochs=1, limit=600)
    runs = [run_now(store, config, HOSTILE)[0], run_now(store, config.with_changes(seed=3), HOSTILE)[0]]
    server = AppServer(home, home / "server.log").start()
    yield server, runs
    server.stop()


@pytest.mark.browser
@pytest.mark.parametrize("path", PAGES)
def test_a_hostile_run_name_is_shown_as_typed_and_links_nowhere(lab, path):
    server, runs = lab
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        open_page(page, server.url, path.format(run=runs[0]))
        if path.startswith("draw"):  # A test digit, so that every model's reading is shown.
            page.get_by_text("Test digit").first.click()
            page.wait_for_timeout(3000)
        links = page.evaluate("() => Array.from(document.querySelectorAll('a')).map(a => a.href)")
        bold = page.evaluate(
            "() => Array.from(document.querySelectorAll('main b, main strong'))"
            ".map(e => e.textContent).filter(t => t === 'bold' || t === 'x')"
        )
        text = page.locator("[data-testid=stMain]").inner_text()
        screenshot(page, f"hostile-name-{path.split('?')[0]}")
        browser.close()
    assert not [link for link in links if "evil" in link and not link.startswith(server.url)], links
    assert not bold
    if path.startswith("train"):  # Elsewhere names sit in tables drawn on a canvas.
        assert "click me" in text
