"""Safe by default: the lab listens on this machine only, refuses foreign Host names
(DNS rebinding), and shows visitors our own messages but never a traceback."""

from __future__ import annotations

import tomllib

import pytest

from devtools.app_server import REPO_DIR, AppServer
from devtools.browser import CHROMIUM_ARGS, RERUN_TIMEOUT_MS, VIEWPORT, chromium_path, open_page, screenshot
from devtools.network import listening_addresses, websocket_status

LOGS = REPO_DIR / "test-output" / "browser-logs"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The lab as `bash scripts/run.sh --server.port PORT` starts it: the repo's config,
    no --server.address."""
    LOGS.mkdir(parents=True, exist_ok=True)
    server = AppServer(tmp_path_factory.mktemp("digitlab-lab"), LOGS / "security-lab.log", address=None)
    server.start()
    yield server
    server.stop()


def test_the_repos_config_keeps_the_lab_local_and_errors_short():
    config = tomllib.loads((REPO_DIR / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert config["server"]["allowedHosts"] == ["localhost", "127.0.0.1"]
    assert config["client"]["showErrorDetails"] in ("none", "type")


def test_the_lab_listens_on_localhost_only(lab):
    assert listening_addresses(lab.port) == {"127.0.0.1"}


@pytest.mark.parametrize(
    "host, origin",
    [
        ("evil.example", "http://evil.example"),
        ("evil.example:{port}", "http://evil.example:{port}"),  # Same-origin, foreign name.
        ("evil.example", None),
        ("192.0.2.2:{port}", "http://192.0.2.2:{port}"),  # A LAN address is not the lab's name.
        ("localhost.evil.example", "http://localhost.evil.example"),
    ],
)
def test_a_foreign_host_name_cannot_open_the_labs_websocket(lab, host, origin):
    host = host.format(port=lab.port)
    origin = origin.format(port=lab.port) if origin else None
    assert websocket_status(lab.port, host, origin) != 101


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_the_labs_own_names_open_its_websocket(lab, host):
    address = f"{host}:{lab.port}"
    assert websocket_status(lab.port, address, f"http://{address}") == 101


# --- What a visitor sees of an error, in Chromium ----------------------------------------

FAILING_PAGE = """
import streamlit as st

st.error("Our own message: the folder is full. Free some space, then try again.")
raise RuntimeError("SELECT secret FROM runs WHERE path = '/srv/secret/runs.sqlite'")
"""


@pytest.mark.browser
def test_visitors_see_our_messages_in_full_and_no_traceback(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    if chromium_path() is None:
        pytest.skip("no Chromium at /usr/bin/chromium (apt-get install chromium)")
    script = tmp_path / "failing_page.py"
    script.write_text(FAILING_PAGE)
    unwritable = tmp_path / "not-a-folder"
    unwritable.write_text("a file where the data directory should be")
    failing = AppServer(tmp_path, LOGS / "security-failing.log", script=str(script), address=None)
    broken_store = AppServer(unwritable, LOGS / "security-store.log", address=None)
    try:
        failing.start()
        broken_store.start()
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(RERUN_TIMEOUT_MS)

            open_page(page, failing.url)
            alerts = page.locator('[data-testid="stAlert"]').all_inner_texts()
            assert any("Our own message: the folder is full." in alert for alert in alerts), alerts
            exception = page.locator('[data-testid="stException"]')
            sync_api.expect(exception).to_contain_text("RuntimeError")
            body = page.locator("body").inner_text()
            screenshot(page, "security_unexpected_error")
            for secret in ("SELECT secret", "/srv/secret", "failing_page.py", "Traceback", "line 5"):
                assert secret not in body, f"a visitor sees {secret!r}:\n{body}"

            open_page(page, broken_store.url)  # The lab's own message when its store cannot open.
            sync_api.expect(page.locator('[data-testid="stAlert"]')).to_contain_text(
                "Check that the folder exists and is writable"
            )
            assert page.locator('[data-testid="stException"]').count() == 0
            screenshot(page, "security_store_message")
            browser.close()
    finally:
        failing.stop()
        broken_store.stop()
