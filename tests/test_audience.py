"""The audience: the lab's Draw and Compare pages read only, their per-session limit on
readings, the launcher that serves them to the network, and (in Chromium) what a
visitor sees and can do."""

from __future__ import annotations

import contextlib
import queue
import re
import socket
import subprocess
import threading

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import launch
import ui.audience
from core.processes import WEB_SERVER_ENVIRONMENT
from core.store import RunStore
from devtools.app_server import (
    PYTHON,
    REPO_DIR,
    AppServer,
    app_environment,
    free_port,
    stop_process_group,
    stop_reader,
)
from devtools.browser import (
    CHROMIUM_ARGS,
    RERUN_TIMEOUT_MS,
    VIEWPORT,
    assert_no_app_errors,
    chromium_path,
    draw_stroke,
    fresh,
    key,
    open_page,
    screenshot,
    wait_until_idle,
)
from devtools.network import listening_addresses, upload_status, websocket_status
from tests.helpers import QUICK, child_pids, environment_of
from tests.helpers import queue as queue_run
from tests.training_helpers import run_now
from ui.audience import READINGS_PER_MINUTE, RateLimit, readings_per_minute

# Every key of a widget that changes something in the lab or hands something out.
LAB_ACTION_KEYS = {
    "quick_model", "quick_model_draw", "upload", "csv", "download_model", "delete", "delete_yes",
    "delete_no", "start", "stop", "cancel", "demo", "demo_draw", "demo_home",
    "export_drawings", "import_drawings", "import_confirm", "teach", "save_as",
}  # fmt: skip
LOGS = REPO_DIR / "test-output" / "browser-logs"
LAB_ACTION_WORDS = re.compile(r"train|stop|delete|download|upload|cancel", re.IGNORECASE)


def audience_draw():
    from app_pages.draw import main

    main(audience=True)


def audience_compare():
    from app_pages.compare import main

    main(audience=True)


def lab_compare():
    from app_pages.compare import main

    main()


def page(function) -> AppTest:
    app = AppTest.from_function(function, default_timeout=120).run()
    assert not app.exception, app.exception
    return app


def widgets(app: AppTest) -> list:
    """Every widget on the page, inside columns and containers too."""
    found, blocks = [], [app._tree]
    while blocks:
        for child in blocks.pop().children.values():
            if hasattr(child, "children"):
                blocks.append(child)
            elif hasattr(child, "key") and hasattr(child, "id"):
                found.append(child)
    return found


def assert_read_only(app: AppTest) -> None:
    """No widget that acts on the lab: no lab key, no upload, no download, no page link."""
    keys = {widget.key for widget in widgets(app)}
    assert not keys & LAB_ACTION_KEYS, keys
    assert not app.get("file_uploader") and not app.get("download_button") and not app.get("page_link")
    for button in app.button:
        assert not LAB_ACTION_WORDS.search(button.label), button.label


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    """A data directory with one small completed digit run (trained here) and one failed run."""
    home = tmp_path_factory.mktemp("digitlab-room")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DIGITLAB_HOME", str(home))
        store = RunStore(home)
        # About 88 % in a few seconds: readings that look like readings in the screenshots.
        _, status = run_now(store, QUICK.with_changes(limit=3000, epochs=2, batch_size=64), "tiny cnn")
        assert status == "completed"
        failed = queue_run(store, QUICK, "broken run")
        store.finish(failed, "failed", "The disk failed to read /srv/secret/models/run-2.keras")
        yield home
        stop_reader(home)


# --- The per-session limit -------------------------------------------------------------


def test_rate_limit_allows_the_limit_then_refuses_until_the_window_moves_on():
    limit = RateLimit(3, 60.0)
    assert [limit.allow(now=t) for t in (0.0, 1.0, 2.0)] == [True, True, True]
    assert not limit.allow(now=30.0)
    assert limit.seconds_to_wait(now=30.0) == pytest.approx(30.0)
    assert limit.allow(now=60.0)  # The first event is a minute old.
    assert not limit.allow(now=60.5)
    assert limit.allow(now=61.0)


def test_refused_events_do_not_count():
    limit = RateLimit(1, 10.0)
    assert limit.allow(now=0.0)
    for moment in range(1, 10):
        assert not limit.allow(now=float(moment))
    assert limit.allow(now=10.0)
    assert limit.seconds_to_wait(now=10.0) == pytest.approx(10.0)


# --- The pages, for the audience --------------------------------------------------------


def test_audience_pages_with_no_runs_offer_nothing_to_start(home):
    draw = page(audience_draw)
    assert "No digit model is trained yet" in draw.info[0].value
    assert not draw.button
    assert_read_only(draw)
    compare = page(audience_compare)
    assert "No runs yet" in compare.info[0].value
    assert_read_only(compare)


def test_audience_draw_reads_test_digits_and_offers_no_upload(room, monkeypatch):
    monkeypatch.setenv("DIGITLAB_HOME", str(room))
    draw = page(audience_draw)
    assert draw.radio(key="source").options == ["✏️ Draw", "🎲 Test digit"]
    assert_read_only(draw)
    draw.radio(key="source").set_value("🎲 Test digit").run()
    assert not draw.exception
    assert any("It reads" in markdown.value for markdown in draw.markdown)
    assert_read_only(draw)


def test_audience_compare_shows_everything_read_only(room, monkeypatch):
    monkeypatch.setenv("DIGITLAB_HOME", str(room))
    compare = page(audience_compare)
    assert len(compare.dataframe[0].value) == 2  # The table of runs.
    assert "my_drawings" not in compare.dataframe[0].value.columns  # The presenter's own.
    charts = {chart.proto.id for chart in compare.get("plotly_chart")}
    assert len(charts) >= 3  # Curves, confusion matrix, accuracy per class.
    assert any("Misclassified test items" in markdown.value for markdown in compare.markdown)
    assert compare.get("image"), "the misclassified digits are shown"
    assert_read_only(compare)
    failed = int(compare.dataframe[0].value["id"].iloc[1])  # Best first: the failed run is last.
    compare.selectbox(key="detail_run").set_value(failed).run()
    assert [error.value for error in compare.error] == ["This run failed."]  # No server path.
    assert_read_only(compare)


def test_the_lab_compare_page_has_the_actions_the_audience_lacks(room, monkeypatch):
    """The check above would see them: the same page function for the lab offers them."""
    monkeypatch.setenv("DIGITLAB_HOME", str(room))
    compare = page(lab_compare)
    keys = {widget.key for widget in widgets(compare)}
    assert {"csv", "download_model", "delete"} <= keys


@pytest.fixture(autouse=True)
def fresh_visitors(monkeypatch):
    """Every test starts with no visitor's readings counted (AppTest has no address, so
    all its sessions are one visitor)."""
    monkeypatch.setattr(ui.audience, "_visitors", {})


def test_a_visitor_s_limit_ends_idle_and_is_dropped_only_when_idle():
    limit = RateLimit(2, 60.0)
    assert limit.idle(now=0.0) and limit.allow(now=0.0)
    assert not limit.idle(now=59.0) and limit.idle(now=60.0)


def test_audience_readings_are_limited_per_visitor(room, monkeypatch):
    monkeypatch.setenv("DIGITLAB_HOME", str(room))
    draw = page(audience_draw)
    draw.radio(key="source").set_value("🎲 Test digit").run()  # Reading 1: test digit 0.
    for _ in range(3):  # The same digit again is answered without a new reading.
        draw.run()
    for index in range(1, READINGS_PER_MINUTE):
        draw.number_input(key="test_index").set_value(index).run()
        assert not draw.exception and not draw.info, f"reading {index + 1} was refused"
    draw.number_input(key="test_index").set_value(READINGS_PER_MINUTE).run()
    assert not draw.exception
    assert "30 a minute is the most each visitor gets" in draw.info[0].value
    assert not any("It reads" in markdown.value for markdown in draw.markdown)
    draw.number_input(key="test_index").set_value(READINGS_PER_MINUTE - 1).run()  # The last one read.
    assert any("It reads" in markdown.value for markdown in draw.markdown)
    again = page(audience_draw)  # A new session (a new tab, a reconnection): the same visitor.
    again.radio(key="source").set_value("🎲 Test digit").run()
    assert "30 a minute is the most each visitor gets" in again.info[0].value


def test_a_presenter_sets_the_readings_a_minute_in_the_environment(room, monkeypatch):
    """Behind one address (a proxy, a school's NAT) a room needs a higher limit; a wrong
    value keeps the default rather than stopping the server."""
    monkeypatch.setenv("DIGITLAB_HOME", str(room))
    monkeypatch.setenv("DIGITLAB_READINGS_PER_MINUTE", "2")
    draw = page(audience_draw)
    draw.radio(key="source").set_value("🎲 Test digit").run()
    draw.number_input(key="test_index").set_value(1).run()
    assert not draw.info
    draw.number_input(key="test_index").set_value(2).run()
    assert "2 a minute is the most each visitor gets" in draw.info[0].value
    for value, limit in (("0", 1), ("-5", 1), ("many", READINGS_PER_MINUTE), ("", READINGS_PER_MINUTE)):
        monkeypatch.setenv("DIGITLAB_READINGS_PER_MINUTE", value)
        assert readings_per_minute() == limit


def test_the_audience_app_has_no_my_drawings_page(home, store):
    """The personal set is the lab's: the room cannot see, export, import or delete it."""
    store.add_drawing(3, np.zeros((28, 28), np.uint8))
    app = AppTest.from_file(str(REPO_DIR / "audience.py"), default_timeout=60).run()
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        app.switch_page("app_pages/my_drawings.py")
    lab = AppTest.from_file(str(REPO_DIR / "app.py"), default_timeout=60).run()
    assert not lab.switch_page("app_pages/my_drawings.py").run().exception  # The lab has it.
    assert lab.title[0].value == "📒 My drawings"


def test_the_audience_app_never_starts_a_worker(home, store):
    run_id = queue_run(store, QUICK, "waiting run")
    app = AppTest.from_file(str(REPO_DIR / "audience.py"), default_timeout=60).run()
    assert not app.exception
    assert app.title[0].value == "✏️ Draw"
    assert store.workers() == [] and store.get_run(run_id)["status"] == "queued"


# --- The launcher ----------------------------------------------------------------------


def test_launcher_options_default_to_lab_8501_and_audience_one_port_above():
    options, lab_args = launch.parse_arguments(["--audience"])
    assert (options.audience, options.lab_port, options.audience_port, lab_args) == (True, 8501, 8502, [])
    options, lab_args = launch.parse_arguments(["--server.port", "8600", "--audience", "--theme.base=dark"])
    assert (options.lab_port, options.audience_port) == (8600, 8601)
    assert lab_args == ["--server.port", "8600", "--theme.base=dark"]
    options, _ = launch.parse_arguments(["--audience", "--audience-port", "9000"])
    assert options.audience_port == 9000
    with pytest.raises(SystemExit):
        launch.parse_arguments(["--audience", "--server.port=9000", "--audience-port", "9000"])


def test_lan_addresses_drop_loopback_and_link_local_and_put_private_first():
    candidates = ["127.0.0.1", "93.184.216.34", "169.254.3.3", "192.168.1.5", "0.0.0.0", "192.168.1.5"]
    candidates.append("fe80::1")
    assert launch.lan_addresses(candidates) == ["192.168.1.5", "93.184.216.34"]


def test_audience_accepts_this_machines_names_and_addresses_only():
    hosts = launch.allowed_hosts("podium", ["192.168.1.5", "10.0.0.2"])
    assert hosts == ["localhost", "127.0.0.1", "podium", "podium.local", "192.168.1.5", "10.0.0.2"]
    command = launch.audience_command("python", 8502, hosts, "192.168.1.5")
    assert command[1:4] == ["-m", "streamlit", "run"] and command[4].endswith("audience.py")
    listen = "--server.address 0.0.0.0 --server.port 8502 --browser.serverAddress 192.168.1.5"
    assert listen in " ".join(command)
    assert [command[i + 1] for i, arg in enumerate(command) if arg == "--server.allowedHosts"] == hosts
    assert "--client.disableDataExport" in command
    assert launch.audience_urls("podium", ["192.168.1.5"], 8502) == [
        "http://192.168.1.5:8502",
        "http://podium:8502",
    ]
    assert launch.audience_urls("", [], 8502) == ["http://localhost:8502"]


def test_banner_shows_the_url_with_or_without_a_qr_code():
    urls = ["http://192.168.1.5:8502"]
    qr = launch.qr_code(urls[0])
    assert qr is not None and "█" in qr  # segno is pinned in requirements.txt.
    with_qr = launch.banner(8501, None, urls, qr)
    assert "http://localhost:8501" in with_qr and "on this machine only" in with_qr
    assert "http://192.168.1.5:8502" in with_qr and qr.strip() in with_qr
    without = launch.banner(8501, "0.0.0.0", urls, None)
    assert "http://192.168.1.5:8502" in without and "install segno" in without
    assert "listening on 0.0.0.0" in without


def test_run_with_audience_serves_the_lab_locally_and_the_audience_on_the_network(tmp_path):
    lab_port, audience_port = free_port(), free_port()
    process = subprocess.Popen(
        [
            PYTHON,
            "launch.py",
            "--audience",
            "--server.port",
            str(lab_port),
            "--audience-port",
            f"{audience_port}",
        ],
        cwd=REPO_DIR,
        env=app_environment(tmp_path),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    printed = []
    try:
        with contextlib.suppress(queue.Empty):
            while "Draw and Compare" not in "".join(printed) or not printed[-1].startswith("    http"):
                printed.append(lines.get(timeout=90))
            while True:  # The other URLs and the QR code.
                printed.append(lines.get(timeout=2))
        output = "".join(printed)
        assert f"http://localhost:{lab_port}" in output, output
        audience_urls = re.findall(rf"^    (http://\S+:{audience_port})$", output, re.MULTILINE)
        assert audience_urls, output
        assert "█" in output  # The QR code.

        assert listening_addresses(lab_port) == {"127.0.0.1"}
        assert listening_addresses(audience_port) <= {"0.0.0.0", "*", "[::]"}
        for url in audience_urls:  # Each URL shown is a Host the audience server accepts.
            host = url.removeprefix("http://")
            assert websocket_status(audience_port, host, f"http://{host}") == 101, host
        assert websocket_status(audience_port, "evil.example", "http://evil.example") != 101
        # The audience has nothing to upload: a script's upload of a kilobyte is refused
        # before the server keeps it (it used to keep 10 MB a file, without end).
        assert upload_status(audience_port, audience_urls[0].removeprefix("http://"), 1000) == 413
        assert websocket_status(lab_port, f"{socket.gethostname()}:{lab_port}") != 101
        assert websocket_status(lab_port, f"localhost:{lab_port}", f"http://localhost:{lab_port}") == 101
        for server in child_pids(process.pid):  # Few malloc arenas: the servers stay small.
            assert environment_of(server).items() >= WEB_SERVER_ENVIRONMENT.items()
    finally:
        stop_process_group(process)
    assert not listening_addresses(lab_port) and not listening_addresses(audience_port)


# --- In Chromium, as a visitor sees it ---------------------------------------------------

SEVEN = [(60, 55), (220, 55), (115, 235)]  # A top bar, then the diagonal down-left.
FORBIDDEN_ELEMENTS = ", ".join(
    f'[data-testid="{test_id}"]' for test_id in ("stFileUploader", "stDownloadButton", "stPageLink")
)

# The text and label of every button of the page itself. Left out: the drawing canvas's
# own toolbar (in its shadow root: "Delete selected" deletes a stroke of your drawing)
# and plotly's ("Download plot as a PNG" draws what is on the screen).
BUTTON_LABELS = """buttons => buttons
    .filter(button => button.getRootNode() === document && !button.closest('.modebar'))
    .map(button => `${button.innerText} ${button.getAttribute('aria-label') || ''}`)"""


@pytest.fixture(scope="module")
def audience_url(room):
    """The audience server (audience.py as launch.py starts it, but on 127.0.0.1 only)."""
    LOGS.mkdir(parents=True, exist_ok=True)
    server = AppServer(room, LOGS / "audience.log", script="audience.py", extra_args=launch.AUDIENCE_OPTIONS)
    server.start()
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def chromium(audience_url):
    sync_api = pytest.importorskip("playwright.sync_api")
    if chromium_path() is None:
        pytest.skip("no Chromium at /usr/bin/chromium (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def assert_nothing_of_the_lab(page) -> None:
    """Only Draw and Compare in the navigation, no link to another page, no upload,
    download or lab button, no table download."""
    from playwright.sync_api import expect

    navigation = page.locator('[data-testid="stSidebarNav"] a, [data-testid="stTopNavLinkContainer"] a')
    names = sorted(re.sub(r"[^A-Za-z ]", "", text).strip() for text in navigation.all_text_contents())
    assert names in (["Compare", "Draw"], []), names  # A phone may not render the closed sidebar.
    for href in page.locator("a[href]").evaluate_all("links => links.map(link => link.href)"):
        assert not re.search(r"/(train|data|text|home)\b", href), href
    expect(page.locator(FORBIDDEN_ELEMENTS)).to_have_count(0)
    expect(page.locator('[class*="st-key-save_as"]')).to_have_count(0)  # No saving to My drawings.
    for label in page.locator("button").evaluate_all(BUTTON_LABELS):
        assert not LAB_ACTION_WORDS.search(label), f"a button says {label!r}"
    assert_no_app_errors(page)


def read_drawing(page) -> str:
    """Waits for the reading of what was drawn; returns the verdict line."""
    from playwright.sync_api import expect

    verdict = fresh(page, "h3").filter(has_text="It reads")
    expect(verdict).to_be_visible(timeout=RERUN_TIMEOUT_MS)
    expect(page.locator("table.readings")).to_contain_text("tiny cnn", timeout=RERUN_TIMEOUT_MS)
    wait_until_idle(page)
    return verdict.inner_text()


def touch_stroke(context, page, points: list[tuple[float, float]]) -> None:
    """One finger stroke through `points`, in pixels from the canvas's top-left."""
    canvas = page.locator("canvas.digit-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    touch = context.new_cdp_session(page)
    path = [(box["x"] + x, box["y"] + y) for x, y in points]

    def send(kind: str, points: list[dict]) -> None:
        touch.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    send("touchStart", [{"x": path[0][0], "y": path[0][1]}])
    for (x0, y0), (x1, y1) in zip(path, path[1:], strict=False):
        for step in range(1, 13):
            send("touchMove", [{"x": x0 + (x1 - x0) * step / 12, "y": y0 + (y1 - y0) * step / 12}])
    send("touchEnd", [])


@pytest.mark.browser
def test_a_visitor_draws_and_compares_and_reaches_nothing_of_the_lab(chromium, audience_url):
    from playwright.sync_api import expect

    context = chromium.new_context(viewport=VIEWPORT)
    context.set_default_timeout(RERUN_TIMEOUT_MS)
    page = context.new_page()
    open_page(page, audience_url, "", "Draw")
    expect(page.locator('[data-testid="stRadio"]')).not_to_contain_text("Upload")
    assert_nothing_of_the_lab(page)
    draw_stroke(page, SEVEN)
    assert re.search(r"It reads \d", read_drawing(page))
    assert_nothing_of_the_lab(page)
    screenshot(page, "audience_draw")

    page.locator('[data-testid="stSidebarNav"]').get_by_text("Compare", exact=True).click()
    expect(page.locator("h1").filter(has_text="Compare")).to_be_visible()
    wait_until_idle(page)
    expect(page.locator(key("runs_table"))).to_contain_text("tiny cnn", timeout=RERUN_TIMEOUT_MS)
    expect(page.locator(f"{key('confusion')} .plot-container")).to_have_count(1)
    expect(page.locator(f"{key('compare_curves')} .plot-container")).to_have_count(1)
    expect(page.get_by_text("Misclassified test items")).to_be_visible()
    page.locator(f"{key('runs_table')}").hover()  # The table's toolbar shows on hover.
    assert_nothing_of_the_lab(page)
    screenshot(page, "audience_compare")

    for path in ("train", "data", "text", "home", "my_drawings"):  # The lab's pages do not exist here.
        page.goto(f"{audience_url}/{path}", wait_until="domcontentloaded")
        expect(page.locator("h1").filter(has_text="Draw")).to_be_visible()
        wait_until_idle(page)
        expect(page.locator("h1").filter(has_text=re.compile("Train|Data|Text|Digit Lab"))).to_have_count(0)
    page.goto(f"{audience_url}/draw", wait_until="domcontentloaded")  # The lab's address for Draw.
    expect(page.locator("canvas.digit-canvas")).to_be_visible()
    wait_until_idle(page)
    expect(page.get_by_text("Page not found")).to_have_count(0)
    context.close()


@pytest.mark.browser
def test_a_visitor_on_a_phone_draws_with_a_finger(chromium, audience_url):
    from playwright.sync_api import expect

    context = chromium.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, device_scale_factor=3
    )
    context.set_default_timeout(RERUN_TIMEOUT_MS)
    page = context.new_page()
    open_page(page, audience_url, "", "Draw")
    touch_stroke(context, page, SEVEN)
    assert re.search(r"It reads \d", read_drawing(page))
    assert_nothing_of_the_lab(page)
    screenshot(page, "audience_draw_phone")
    open_page(page, audience_url, "compare", "Compare")
    expect(page.locator(key("runs_table"))).to_contain_text("tiny cnn", timeout=RERUN_TIMEOUT_MS)
    assert_nothing_of_the_lab(page)
    mistakes = page.locator('[data-testid="stImage"] img')
    expect(mistakes.first).to_be_visible()
    tops = {round(box["y"]) for box in (image.bounding_box() for image in mistakes.all()) if box}
    assert mistakes.count() >= 20 and len(tops) <= mistakes.count() / 4, "several mistakes to a row"
    screenshot(page, "audience_compare_phone")
    context.close()
