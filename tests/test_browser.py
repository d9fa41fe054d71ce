"""End to end in headless Chromium: the app as a user sees it, every page.

One app server and one data directory serve the whole module, so the models trained
here are reused: the digit model the Draw page needs is trained through the CLI while
the first tests run. Screenshots land in test-output/screenshots/ (one per test) and
docs/screenshots/ (one clean one per page, for the README).
"""

from __future__ import annotations

import functools
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools.app_server import (
    REPO_DIR,
    AppServer,
    kill_workers,
    start_cli_training,
    stop_process_group,
)
from devtools.browser import (
    RERUN_TIMEOUT_MS,
    TRAIN_TIMEOUT_MS,
    VIEWPORT,
    assert_no_app_errors,
    chromium_path,
    click_button,
    click_segment,
    dataframe,
    doc_screenshot,
    draw_stroke,
    fill_number,
    fresh,
    grid_text,
    key,
    open_page,
    plotly_points,
    screenshot,
    select_option,
    wait_until_idle,
)
from ui.format import field_key

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

if chromium_path() is None:
    pytest.skip("no Chromium at /usr/bin/chromium (apt-get install chromium)", allow_module_level=True)

LOGS = REPO_DIR / "test-output" / "browser-logs"
SMALL_EPOCHS = 8
STOP_TIMEOUT_MS = 20_000


@dataclass
class Lab:
    """The running app, its data directory and the digit model trained beside it."""

    home: Path
    server: AppServer
    quick_cnn: subprocess.Popen

    @property
    def url(self) -> str:
        return self.server.url

    def store(self):
        from core.store import RunStore

        return RunStore(self.home)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    home = tmp_path_factory.mktemp("digitlab-browser")
    LOGS.mkdir(parents=True, exist_ok=True)
    # The good digit model for the Draw page trains in the background from the start.
    quick_cnn = start_cli_training(home, "Quick CNN", LOGS / "quick-cnn.log")
    server = AppServer(home, LOGS / "streamlit.log")
    try:
        server.start()
        yield Lab(home, server, quick_cnn)
    finally:
        server.stop()
        stop_process_group(quick_cnn)
        kill_workers(home)


@pytest.fixture
def page(browser, request):
    """A fresh browser tab (a new Streamlit session); its screenshot is saved afterwards."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(RERUN_TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    try:
        screenshot(tab, request.node.name)
    except sync_api.Error as error:  # A page that broke must not hide the test's own failure.
        print(f"no screenshot of {request.node.name}: {error}")
    finally:
        context.close()


@pytest.fixture(scope="module")
def digit_model(lab) -> int:
    """The Quick CNN run the CLI trained on the full offline data: its id."""
    try:
        code = lab.quick_cnn.wait(TRAIN_TIMEOUT_MS / 1000)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the CLI did not finish training Quick CNN:\n{(LOGS / 'quick-cnn.log').read_text()}")
    assert code == 0, (LOGS / "quick-cnn.log").read_text()
    runs = lab.store().runs_table(status="completed")
    quick = runs[runs["name"] == "Quick CNN"]
    assert len(quick) == 1
    assert quick["test_accuracy"].iloc[0] > 0.9, "the digit model is too weak for the Draw tests"
    return int(quick["id"].iloc[0])


@pytest.fixture(scope="module")
def small_run(lab) -> int:
    """A completed 'MLP 32' run: the one the Train test made, else one trained by the CLI."""
    runs = lab.store().runs_table(status="completed")
    mlp = runs[runs["name"] == "MLP 32"]
    if len(mlp):
        return int(mlp["id"].iloc[0])
    cli = start_cli_training(lab.home, "MLP 32", LOGS / "mlp-32.log", "--epochs", "2", "--limit", "3000")
    assert cli.wait(TRAIN_TIMEOUT_MS / 1000) == 0, (LOGS / "mlp-32.log").read_text()
    runs = lab.store().runs_table(status="completed")
    return int(runs[runs["name"] == "MLP 32"]["id"].max())


@pytest.fixture(scope="module")
def recurrent_run(lab) -> int:
    """A small 'LSTM 50' digit run (one epoch on 3,000 digits) trained by the CLI: its id."""
    cli = start_cli_training(lab.home, "LSTM 50", LOGS / "lstm-50.log", "--epochs", "1", "--limit", "3000")
    assert cli.wait(TRAIN_TIMEOUT_MS / 1000) == 0, (LOGS / "lstm-50.log").read_text()
    runs = lab.store().runs_table(status="completed")
    return int(runs[runs["name"] == "LSTM 50"]["id"].max())


def run_heading(page, run_id: int):
    """The Train page's subheader of one run: 'NAME · run #ID · STATUS'."""
    return fresh(page, "h3").filter(has_text=f"run #{run_id} ")


def alert(page, text: str):
    """The current st.info / st.warning / st.error box that says `text`."""
    return fresh(page, '[data-testid="stAlert"]').filter(has_text=text)


def start_training(page) -> int:
    """Presses Start training; returns the run id the page now watches (?run=N)."""
    click_button(page, "start")
    expect(page).to_have_url(re.compile(r"[?&]run=\d+"), timeout=RERUN_TIMEOUT_MS)
    return int(re.search(r"[?&]run=(\d+)", page.url).group(1))


# The page records the marker count of the curves chart whenever it changes, whatever
# Python is doing meanwhile. Charts left over from the previous run (data-stale) are
# left out; while Streamlit swaps an element, the old and the new chart can still both
# be in the page for a moment: each is counted separately.
RECORD_POINTS = """(chart) => {
    window.__pointCounts = [];
    let last = "";
    window.setInterval(() => {
        const charts = [...document.querySelectorAll(chart)].filter(
            (c) => !c.closest('[data-stale="true"]'),
        );
        const counts = charts.map((c) => c.querySelectorAll(".scatterlayer .trace .points path").length);
        const seen = JSON.stringify(counts);
        if (seen !== last) window.__pointCounts.push(counts);
        last = seen;
    }, 50);
}"""


@pytest.mark.browser
def test_data_page_shows_sample_digits(lab, page):
    open_page(page, lab.url, "data", "Data")  # The first visit of a fresh server goes here.
    expect(page.get_by_text("offline subset").first).to_be_visible()
    navigation = page.locator('[data-testid="stSidebarNav"]')
    expect(navigation.get_by_text("Compare", exact=True)).to_be_visible()
    expect(navigation.get_by_text("home", exact=True)).to_have_count(0)
    images = page.locator('[data-testid="stImage"] img')
    expect(images).to_have_count(30, timeout=RERUN_TIMEOUT_MS)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"stImage\"] img')]"
        ".every(img => img.complete && img.naturalWidth > 0)",
        timeout=RERUN_TIMEOUT_MS,
    )
    expect(page.locator(f"{key('class_counts')} .plot-container")).to_have_count(1)
    assert_no_app_errors(page)
    doc_screenshot(page, "data")


@pytest.mark.browser
def test_train_small_model_and_watch_the_curve_grow(lab, page):
    open_page(page, lab.url, "train", "Train")
    select_option(page, "preset", "MLP 32")
    mlp = functools.partial(field_key, dataset="mnist", model="MLP 32")
    expect(page.locator(f"{key(mlp('batch_size'))} input")).to_have_value("32")  # The preset's own values.
    expect(page.locator(f"{key(mlp('augment'))} input")).not_to_be_checked()
    fill_number(page, mlp("epochs"), SMALL_EPOCHS)
    fill_number(page, mlp("limit"), 6000)
    fill_number(page, mlp("batch_size"), 8)  # About a second an epoch: each poll sees the curve grow.

    run_id = start_training(page)
    heading = run_heading(page, run_id)
    expect(heading).to_be_visible()
    page.evaluate(RECORD_POINTS, key("curves"))
    expect(heading).to_contain_text("completed", timeout=TRAIN_TIMEOUT_MS)
    expect(fresh(page, '[data-testid="stMetric"]').filter(has_text="Test accuracy")).to_be_visible()
    wait_until_idle(page)

    # Four markers per epoch: train and validation accuracy, train and validation loss.
    final = 4 * SMALL_EPOCHS
    expect(page.locator(f"{key('curves')} .scatterlayer .trace .points path")).to_have_count(final)
    samples = page.evaluate("window.__pointCounts")
    print("curve marker counts seen:", samples)
    counts = [sample[0] for sample in samples if len(sample) == 1 and sample[0] > 0]
    assert counts == sorted(counts), f"the curve lost points while training: {counts}"
    assert len(set(counts)) >= 2 and counts[0] < final, f"the curve did not grow live: {counts}"
    assert counts[-1] == plotly_points(page, "curves") == final
    expect(dataframe(page, "validation accuracy")).to_be_visible()
    assert_no_app_errors(page)
    doc_screenshot(page, "train", focus=heading)


@pytest.mark.browser
def test_compare_lists_the_run_and_its_mistakes(lab, page, small_run):
    open_page(page, lab.url, "compare", "Compare")
    table = page.locator(f"{key('runs_table')} table")
    expect(table).to_contain_text("MLP 32", timeout=RERUN_TIMEOUT_MS)
    cells = grid_text(page.locator(key("runs_table")))
    assert "✅ completed" in cells, cells

    select_option(page, "detail_run", re.compile(rf"^MLP 32 \(#{small_run}, "))
    expect(page.get_by_text("Misclassified test items")).to_be_visible(timeout=RERUN_TIMEOUT_MS)
    expect(page.get_by_text("Confusion matrix")).to_be_visible()
    expect(page.locator(f"{key('confusion')} .plot-container")).to_have_count(1)
    expect(page.locator(f"{key('confusion')} .plot-container")).to_be_visible()
    wrong = page.locator('[data-testid="stImage"] img')
    expect(wrong.first).to_be_visible()
    assert wrong.count() > 1
    expect(page.get_by_text("Each caption reads true → predicted.")).to_be_visible()
    wait_until_idle(page)
    assert_no_app_errors(page)
    doc_screenshot(page, "compare")


@pytest.mark.browser
def test_stop_a_long_run(lab, page):
    open_page(page, lab.url, "train", "Train")
    select_option(page, "preset", "DNN 128-128")
    fill_number(page, field_key("epochs", "mnist", "DNN 128-128"), 50)
    run_id = start_training(page)
    heading = run_heading(page, run_id)

    progress = fresh(page, '[data-testid="stProgress"]')
    expect(progress).to_be_visible(timeout=TRAIN_TIMEOUT_MS)
    expect(progress).to_contain_text("of 50")
    expect(heading).to_contain_text("running")
    click_button(page, "stop")
    pressed = time.monotonic()
    expect(heading).to_contain_text("stopped", timeout=STOP_TIMEOUT_MS)
    print(f"stopped {time.monotonic() - pressed:.1f} s after Stop was pressed")
    expect(alert(page, "This run was stopped before it finished.")).to_be_visible()
    expect(page.locator('[data-testid="stProgress"]')).to_have_count(0)
    assert lab.store().get_run(run_id)["status"] == "cancelled"
    assert_no_app_errors(page)


def read_digit(page) -> tuple[int, str]:
    """Waits for the Draw page's verdict; returns the digit and the heading's text."""
    verdict = fresh(page, "h3").filter(has_text="It reads")
    expect(verdict).to_be_visible(timeout=RERUN_TIMEOUT_MS)
    wait_until_idle(page)
    text = verdict.inner_text()
    match = re.search(r"It reads\s+(\d)", text)
    assert match, text
    return int(match.group(1)), text


def clear_canvas(page) -> None:
    click_button(page, "clear")
    expect(page.locator("h3").filter(has_text="It reads")).to_have_count(0, timeout=RERUN_TIMEOUT_MS)
    expect(alert(page, "Draw a digit first")).to_be_visible(timeout=RERUN_TIMEOUT_MS)
    wait_until_idle(page)


def check_drawing(page, name: str, strokes, expected: int) -> None:
    """Draws the strokes on a clear canvas and asserts the verdict (screenshot if wrong)."""
    for points in strokes:
        draw_stroke(page, points)
    digit, text = read_digit(page)
    if digit != expected:
        screenshot(page, f"draw-wrong-{name}")
    assert digit == expected, f"{name}: expected {expected}, the page says {text!r}"
    assert_no_app_errors(page)


SEVEN = [[(60, 55), (220, 55), (115, 235)]]  # A top bar, then the diagonal down-left.
SMALL_SEVEN = [[(15, 15), (85, 15), (42, 100)]]  # Small, in the top-left corner.
LARGE_SEVEN = [[(12, 14), (266, 14), (95, 268)]]  # As large as the canvas allows.
ONE = [[(140, 35), (140, 250)]]  # A vertical line.


@pytest.mark.browser
def test_draw_digits_and_read_them(lab, page, digit_model):
    open_page(page, lab.url, "draw", "Draw")
    expect(page.locator(f"{key('draw_model')} input")).to_have_value(
        re.compile(rf"^Quick CNN \(#{digit_model}, ")
    )
    expect(page.locator("canvas.digit-canvas")).to_be_visible()
    expect(alert(page, "Draw a digit first")).to_be_visible()

    check_drawing(page, "seven", SEVEN, 7)
    expect(page.get_by_text("What the model sees")).to_be_visible()
    seen = fresh(page, 'img[alt="The 28x28 digit the model reads"]')  # Inline, in the page's HTML.
    expect(seen).to_be_visible()
    assert seen.evaluate("img => [img.naturalWidth, img.naturalHeight, img.width]") == [28, 28, 224]
    expect(page.locator("table.readings")).to_contain_text("Quick CNN")
    doc_screenshot(page, "draw")

    for name, strokes, digit in (
        ("small-seven", SMALL_SEVEN, 7),
        ("large-seven", LARGE_SEVEN, 7),
        ("one", ONE, 1),
    ):
        clear_canvas(page)
        check_drawing(page, name, strokes, digit)


def open_tab(page, name: str):
    """Clicks the tab with that name and returns its panel."""
    tab = page.get_by_role("tab", name=name)
    tab.click()
    expect(tab).to_have_attribute("aria-selected", "true")
    return page.locator('[role="tabpanel"]:not([hidden])')


@pytest.mark.browser
def test_look_inside_the_model_at_a_drawing(lab, page, digit_model, recurrent_run):
    open_page(page, lab.url, "draw", "Draw")
    check_drawing(page, "seven-inside", SEVEN, 7)
    page.locator(f"{key('inside')} label").click()
    looked = open_tab(page, "Where it looked")
    expect(looked.get_by_text("integrated gradients: for 7")).to_be_visible(timeout=RERUN_TIMEOUT_MS)
    expect(looked.locator('[data-testid="stImage"] img')).to_have_count(3)  # IG, Grad-CAM, HiResCAM.
    wait_until_idle(page)
    doc_screenshot(page, "inside", focus=page.locator(key("inside")))
    open_tab(page, "Among the digits")
    digit_map = page.locator(key("digit_map"))
    expect(digit_map.locator(".scatterlayer .textpoint").filter(has_text="your digit")).to_be_visible()
    expect(digit_map.locator(".legendtext").filter(has_text="9")).to_have_count(1)  # Every class.
    assert_no_app_errors(page)

    select_option(page, "draw_model", re.compile(rf"^LSTM 50 \(#{recurrent_run}, "))
    wait_until_idle(page)
    open_tab(page, "Row by row")
    chart = page.locator(key("row_reading"))
    expect(chart).to_be_visible(timeout=RERUN_TIMEOUT_MS)
    expect(chart.locator(".scatterlayer .trace")).not_to_have_count(0)
    expect(page.locator(key("hidden_state"))).to_be_visible()
    assert_no_app_errors(page)


@pytest.mark.browser
def test_text_trains_a_sentiment_model_and_reads_a_review(lab, page):
    open_page(page, lab.url, "text", "Text")
    expect(alert(page, "No sentiment model is trained yet.")).to_be_visible()
    click_button(page, "train_text")
    expect(page).to_have_url(re.compile(r"/train\?run=\d+"), timeout=RERUN_TIMEOUT_MS)
    run_id = int(re.search(r"run=(\d+)", page.url).group(1))
    heading = run_heading(page, run_id)
    expect(heading).to_contain_text("completed", timeout=TRAIN_TIMEOUT_MS)
    expect(fresh(page, '[data-testid="stMetric"]').filter(has_text="Test accuracy")).to_be_visible()
    assert_no_app_errors(page)

    open_page(page, lab.url, "text", "Text")
    sentiments = page.locator("table.readings")
    expect(sentiments).to_contain_text(re.compile("positive|negative"), timeout=RERUN_TIMEOUT_MS)
    before = sentiments.inner_text()

    review = page.locator(f"{key('review')} textarea")
    review.fill("a dull , tedious and badly acted mess . the worst film of the year , boring to the end")
    review.press("Control+Enter")
    wait_until_idle(page)
    expect(sentiments).not_to_have_text(before, timeout=RERUN_TIMEOUT_MS)
    after = sentiments.inner_text()
    assert "Bag-of-words sentiment" in after, after
    assert re.search("positive|negative", after), after
    assert_no_app_errors(page)
    doc_screenshot(page, "text")


@pytest.mark.browser
def test_home_page_says_which_data_it_uses(lab, page):
    open_page(page, lab.url, "", "Digit Lab")
    expect(page.get_by_text("offline subset").first).to_be_visible()
    expect(page.locator('[data-testid="stMetric"]').filter(has_text="Best digit model")).to_contain_text("%")
    expect(page.locator(key("quick_model"))).to_be_visible()
    assert_no_app_errors(page)
    doc_screenshot(page, "home")


@pytest.mark.browser
def test_bad_uploads_get_one_line_and_the_page_keeps_working(lab, page, digit_model, tmp_path, mnist):
    import numpy as np
    from PIL import Image

    from tests.test_preprocess import png_bytes, png_with_header_size

    open_page(page, lab.url, "draw", "Draw")
    page.get_by_text("📁 Upload").click()
    uploader = page.locator(f"{key('upload')} input[type=file]")
    expect(uploader).to_have_count(1)
    noisy = np.random.default_rng(0).integers(0, 256, size=(280, 280, 3), dtype=np.uint8)
    bad_files = {
        "notes.png": (b"hello, this is a text file and not a picture\n" * 10, "not a supported image"),
        "cut.png": (png_bytes(noisy)[:20_000], "damaged"),
        "bomb.png": (png_with_header_size(20_000, 20_000), "megapixels"),
    }
    for name, (data, message) in bad_files.items():
        path = tmp_path / name
        path.write_bytes(data)
        uploader.set_input_files(path)
        error = alert(page, message)
        expect(error).to_be_visible(timeout=RERUN_TIMEOUT_MS)
        assert len(error.inner_text().strip().splitlines()) == 1, error.inner_text()
        assert_no_app_errors(page)
    digit = tmp_path / "seven.png"
    seven = mnist[2][np.flatnonzero(mnist[3] == 7)[0]]
    Image.fromarray(255 - np.kron(seven, np.ones((8, 8), dtype=np.uint8))).save(digit)  # Dark ink on paper.
    uploader.set_input_files(digit)
    expect(fresh(page, "h3").filter(has_text="It reads 7")).to_be_visible(timeout=RERUN_TIMEOUT_MS)
    assert_no_app_errors(page)


def grid_cell(grid, row: str, column: str) -> str | None:
    """The text of a st.dataframe's cell: in the row that has a cell `row`, under the
    header `column`, as the grid's accessibility table holds it: the value unformatted,
    "98" for a cell shown as "98.00 %"."""
    return grid.locator("table").first.evaluate(
        """(table, [row, column]) => {
            const index = [...table.querySelectorAll("th")].findIndex((th) => th.textContent === column);
            const cells = [...table.querySelectorAll("tbody tr")]
                .map((tr) => [...tr.children].map((cell) => cell.textContent))
                .find((cells) => cells.includes(row));
            return cells && index >= 0 ? cells[index] : null;
        }""",
        [row, column],
    )


@pytest.mark.browser
def test_save_a_drawing_correct_its_label_and_see_it_in_my_drawings_and_compare(lab, page, digit_model):
    open_page(page, lab.url, "draw", "Draw")
    select_option(page, "draw_model", re.compile(rf"^Quick CNN \(#{digit_model}, "))
    draw_stroke(page, SEVEN[0])
    read, _ = read_digit(page)
    click_segment(page, "save_as", str(read))  # "That's right": one click saves it.
    expect(page.get_by_text(f"Saved in My drawings as a {read}.")).to_be_visible()
    wait_until_idle(page)
    meant = (read + 1) % 10
    click_segment(page, "save_as", str(meant))  # No, it was meant as another digit: one click.
    expect(page.get_by_text(f"Saved in My drawings as a {meant}.")).to_be_visible()
    wait_until_idle(page)
    [drawing] = lab.store().drawings()
    assert drawing["label"] == meant and drawing["image"].max() > 200
    assert drawing["stroke_png"].startswith(b"\x89PNG")
    expect(page.locator(key("save_as")).get_by_role("radio", checked=True)).to_have_text(str(meant))
    draw_stroke(page, [(90, 140), (190, 140)])  # Another stroke: a new drawing, nothing picked or saved.
    read_digit(page)
    expect(page.get_by_text("Right or wrong? Click the digit it is")).to_be_visible()
    expect(page.locator(key("save_as")).get_by_role("radio", checked=True)).to_have_count(0)
    assert len(lab.store().drawings()) == 1
    assert_no_app_errors(page)

    open_page(page, lab.url, "my_drawings", "My drawings")
    relabel = key(f"relabel_{drawing['id']}")
    expect(page.locator(f"{relabel} input")).to_have_value(str(meant))
    expect(fresh(page, '[data-testid="stImage"] img')).to_have_count(2)  # Gallery, and its mistake.
    expect(page.locator(key("gallery_digit"))).to_contain_text(f"{meant} · 1")
    expect(dataframe(page, "my drawings")).to_contain_text("Quick CNN")
    assert_no_app_errors(page)
    screenshot(page, "my_drawings")

    open_page(page, lab.url, "compare", "Compare")
    grid = page.locator(key("runs_table"))
    header = grid.locator("th[role='columnheader']", has_text="my drawings")
    expect(header).to_have_count(1, timeout=RERUN_TIMEOUT_MS)
    # The model reads the drawing as it did on Draw; its label is now another digit: 0 %.
    assert grid_cell(grid, "Quick CNN", "my drawings") == "0"
    assert_no_app_errors(page)
