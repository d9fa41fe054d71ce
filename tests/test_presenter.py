"""A presenter's view: presenter mode, the models' disagreement, the "CNN against MLP"
demo, the live run on the Train page, and the Draw page on a phone.

AppTest checks what the server sends (with stored run rows and a stand-in for the model
reader: no TensorFlow); Chromium checks what only a screen shows: sizes, positions,
touch. The browser tests share one app server, whose two digit models are trained by
the demo button itself. Screenshots go to test-output/screenshots/ (every page at
1400x1000, 1280x720 and 390x844) and docs/screenshots/ (presenter-draw.png,
phone-draw.png).
"""

from __future__ import annotations

import contextlib
import json
import os
import re

import pytest

from app_pages.train import remaining_seconds
from core.presets import get_preset
from devtools.app_server import AppServer, kill_workers, start_cli_training, stop_process_group
from devtools.browser import (
    DOC_SCREENSHOTS,
    RERUN_TIMEOUT_MS,
    SCREENSHOTS,
    TRAIN_TIMEOUT_MS,
    assert_no_app_errors,
    chromium_path,
    click_button,
    draw_stroke,
    fill_number,
    fresh,
    key,
    open_page,
    screenshot,
    select_option,
    wait_until_idle,
)
from tests.conftest import REPO_DIR
from tests.page_helpers import page_of, readings_shown, stored_run, stub_reader, stub_workers
from ui.charts import curves_figure
from ui.format import field_key


@pytest.fixture
def no_workers(monkeypatch):
    stub_workers(monkeypatch)


@pytest.fixture
def reader(monkeypatch):
    return stub_reader(monkeypatch)


# Presenter mode: a toggle kept in the address; big type and plots.


def test_presenter_mode_is_a_toggle_kept_in_the_address(home):
    app = page_of("home")
    assert app.toggle(key="presenter").value is False
    assert "presenter" not in app.query_params
    app.toggle(key="presenter").set_value(True).run()
    assert app.query_params["presenter"] == "1"
    app.switch_page("app_pages/train.py").run()
    assert app.toggle(key="presenter").value is True
    assert app.query_params["presenter"] == "1"
    app.toggle(key="presenter").set_value(False).run()
    assert "presenter" not in app.query_params

    opened = page_of("draw", presenter="1")
    assert opened.toggle(key="presenter").value is True


def probability_chart(app) -> str:
    """The HTML of the Draw page's probability bars."""
    return next(html.proto.body for html in app.get("html") if "probability-bars" in html.proto.body)


def test_presenter_mode_keeps_the_probabilities_and_readings_in_plain_html(store, reader):
    stored_run(store, "Quick CNN", "Quick CNN", 0.98)
    stored_run(store, "DNN 128-128", "MLP", 0.93)
    app = page_of("draw", presenter="1")
    app.radio(key="source").set_value("🎲 Test digit").run()
    assert probability_chart(app).count('class="bar"') == 10
    assert readings_shown(app)["model"].tolist() == ["Quick CNN", "MLP"]
    assert not app.dataframe and not app.table  # HTML, whose type the stylesheet makes 18 px.

    app.toggle(key="presenter").set_value(False).run()
    assert probability_chart(app).count('class="bar"') == 10
    assert readings_shown(app)["model"].tolist() == ["Quick CNN", "MLP"]


# Disagreement is the lesson.


def highlighted_rows(app) -> set[int]:
    """The runs whose rows in the readings table stand out."""
    shown = readings_shown(app)
    return set(shown.loc[shown["differs"], "run"])


def draw_a_test_digit(reader, digits: dict):
    """The Draw page reading test digit 0, each run reading the digit `digits` gives it."""
    reader["digits"] = digits
    app = page_of("draw")
    app.radio(key="source").set_value("🎲 Test digit").run()
    return app


def disagreement_banner(app) -> list[str]:
    """The "models disagree" banner as shown (the Markdown source escapes punctuation: 128\\-128)."""
    return [warning.value.replace("\\", "") for warning in app.warning if "disagree" in warning.value]


def test_disagreeing_models_are_named_and_their_rows_highlighted(store, reader):
    cnn = stored_run(store, "Quick CNN", "Quick CNN", 0.98)
    mlp = stored_run(store, "DNN 128-128", "DNN 128-128", 0.93)
    app = draw_a_test_digit(reader, {cnn: 7, mlp: 1})
    banner = disagreement_banner(app)
    assert banner and "Quick CNN reads 7" in banner[0] and "DNN 128-128 reads 1" in banner[0], banner
    assert readings_shown(app)["run"].tolist() == [cnn, mlp]
    assert highlighted_rows(app) == {mlp}  # It reads otherwise than the chosen CNN.

    reader["digits"] = {cnn: 7, mlp: 7}
    app.number_input(key="test_index").set_value(1).run()
    assert not [warning for warning in app.warning if "disagree" in warning.value]
    assert highlighted_rows(app) == set()

    reader["digits"] = {cnn: 7, mlp: "The model file of run 2 is missing."}
    app.number_input(key="test_index").set_value(2).run()
    assert not [warning for warning in app.warning if "disagree" in warning.value]
    shown = readings_shown(app).set_index("model")
    assert shown.loc["DNN 128-128", "reads"] == "–" and shown.loc["Quick CNN", "reads"] == "7"
    assert shown.loc["DNN 128-128", "confidence"] == "–"
    assert "missing" in shown.loc["DNN 128-128", "note"] and shown.loc["Quick CNN", "note"] == ""
    visible = shown[["reads", "confidence", "test acc.", "note"]]  # Run and family are hidden.
    assert not visible.isin(["None", "nan", "NaN"]).any().any(), visible


def test_two_models_of_one_name_are_told_apart_by_their_run_number(store, reader):
    first = stored_run(store, "Quick CNN", "Quick CNN", 0.98)
    second = stored_run(store, "Quick CNN", "Quick CNN", 0.97)
    app = draw_a_test_digit(reader, {first: 7, second: 1})
    banner = disagreement_banner(app)
    assert f"Quick CNN #{first} reads 7" in banner[0] and f"Quick CNN #{second} reads 1" in banner[0]
    assert readings_shown(app)["model"].tolist() == [f"Quick CNN #{first}", f"Quick CNN #{second}"]


# The one-click demo: both quick models, then Draw with both.


def test_draw_offers_the_demo_when_no_model_is_trained(home):
    app = page_of("draw")
    assert app.button(key="quick_model_draw") and app.button(key="demo_draw")


def test_cnn_against_mlp_queues_both_and_opens_draw_on_them(store, no_workers, reader):
    app = page_of("home")
    app.button(key="demo_home").click().run()
    assert not app.exception
    runs = store.runs_table().sort_values("id")
    assert runs["name"].tolist() == ["Quick CNN", "DNN 128-128"]
    assert set(runs["status"]) == {"queued"}
    cnn, mlp = (int(i) for i in runs["id"])
    assert app.query_params["demo"] == f"{cnn},{mlp}"
    assert any("CNN against MLP" in header.value for header in app.subheader)
    assert len(app.progress) == 2

    for run_id in (cnn, mlp):
        assert store.claim_next(os.getpid()) == run_id
        results = {"test_loss": 0.1, "test_accuracy": 0.9, "seconds_per_epoch": 1.0, "total_seconds": 5.0}
        results |= {"ms_per_prediction": 1.0, "evaluation": {}, "versions": {}, "model_file": ""}
        assert store.complete(run_id, results)
    reader["digits"] = {cnn: 7, mlp: 9}
    app.switch_page("app_pages/draw.py").run()  # AppTest's next run would go back to Home.
    assert app.selectbox(key="draw_model").value == cnn
    app.radio(key="source").set_value("🎲 Test digit").run()
    assert set(readings_shown(app)["run"]) == {cnn, mlp}
    assert any("disagree" in warning.value for warning in app.warning)


# The live run: one progress bar, a sane remaining time, the kept epoch on the curves.


def test_remaining_time_is_sane_from_the_first_batch():
    # A 10-epoch run of 30 s per epoch whose data took a minute to load: the page saw
    # its first finished batch at t=0 (0.01 epochs done) and 0.11 epochs at t=3.
    estimate = remaining_seconds((0.0, 0.01), 3.0, 0.11, 10, time_left=240.0)
    assert estimate == pytest.approx(240.0)  # Capped by the 5-minute limit, 60 s of it gone.
    assert remaining_seconds((0.0, 0.01), 3.0, 0.11, 10) == pytest.approx(296.7, abs=0.1)
    assert remaining_seconds(None, 3.0, 3.0, 10, epoch_seconds=[30.0, 32.0, 31.0]) == pytest.approx(217.0)
    assert remaining_seconds((3.0, 0.5), 3.0, 0.5, 10) is None  # Nothing to go by yet.


def running_run(store, epochs_done: int, batch: int, batches: int, seconds: float = 2.0) -> int:
    """A run of MLP 32 (20 epochs) running in this process, with epochs finished."""
    run_id = store.create_run(get_preset("MLP 32").config, 25_450, "live")
    assert store.claim_next(os.getpid()) == run_id
    for epoch in range(1, epochs_done + 1):
        metrics = {
            "loss": 1 / epoch,
            "accuracy": 0.8,
            "val_loss": 1 / epoch,
            "val_accuracy": 0.8,
            "seconds": seconds,
        }
        store.add_epoch(run_id, epoch, metrics)
    store.set_progress(run_id, epochs_done, batch, batches)
    return run_id


def test_the_progress_bar_is_the_whole_run_and_the_estimate_uses_finished_epochs(store, no_workers):
    run_id = running_run(store, epochs_done=5, batch=50, batches=100)
    app = page_of("train", run=str(run_id))
    bar = app.progress[0]
    assert bar.value == 27  # 5.5 of 20 epochs.
    assert "Epoch 6 of 20" in bar.proto.text and "27% of the run" in bar.proto.text
    remaining = next(metric for metric in app.metric if metric.label == "Remaining")
    assert remaining.value == "29 s"  # 14.5 epochs of 2 s.


def test_start_folds_the_form_and_opens_the_page_on_the_run(home, no_workers):
    app = page_of("train")
    app.selectbox(key="preset").select("MLP 32").run()
    app.button(key="start").click().run()
    run_id = int(app.query_params["run"])
    assert app.expander[0].label == "⚙️ Set up another run"
    assert not app.expander[0].proto.expanded
    assert app.expander[0].button(key="start")  # The form is inside the folded expander.
    headings = [header.value for header in app.subheader]
    assert any(f"run #{run_id}" in heading for heading in headings)


def with_epochs(
    store, val_accuracies: list[float], keep_best_epoch: bool = True, train_accuracy: float = 0.9
) -> int:
    config = get_preset("MLP 32").config.with_changes(
        epochs=len(val_accuracies), keep_best_epoch=keep_best_epoch
    )
    run_id = store.create_run(config, 25_450, "curves")
    assert store.claim_next(os.getpid()) == run_id
    for epoch, accuracy in enumerate(val_accuracies, start=1):
        metrics = {"loss": 0.5, "accuracy": train_accuracy, "val_loss": 0.5, "val_accuracy": accuracy}
        metrics["seconds"] = 1.0
        store.add_epoch(run_id, epoch, metrics)
    store.finish(run_id, "cancelled")
    return run_id


def annotations(app) -> list[str]:
    spec = json.loads(app.get("plotly_chart")[0].proto.spec)
    return [note["text"] for note in spec["layout"].get("annotations", [])]


def test_the_kept_epoch_is_marked_on_the_curves(store):
    run_id = with_epochs(store, [0.90, 0.95, 0.95, 0.93])
    app = page_of("train", run=str(run_id))
    assert "★ kept: epoch 3" in annotations(app)  # Of tied epochs, the later is kept.
    last_epoch = with_epochs(store, [0.90, 0.95], keep_best_epoch=False)
    app = page_of("train", run=str(last_epoch))
    assert not [text for text in annotations(app) if "kept" in text]


def test_curves_figure_marks_only_the_runs_that_keep_their_best_epoch(store):
    kept, last = with_epochs(store, [0.9, 0.97, 0.95]), with_epochs(store, [0.8, 0.7])
    figure = curves_figure(store.epochs([kept, last]), {kept: "kept", last: "last"}, kept={kept})
    marks = [(note.text, note.x, note.y) for note in figure.layout.annotations if "kept" in note.text]
    assert marks == [("★ kept: epoch 2", 2, 0.97)]


def test_the_kept_note_sits_away_from_the_training_line(store):
    """Above the kept point where training lies below it (dropout, augmentation), below
    it where training lies above."""
    for train_accuracy, note_above in ((0.90, True), (0.99, False)):
        run = with_epochs(store, [0.9, 0.97, 0.95], train_accuracy=train_accuracy)
        figure = curves_figure(store.epochs([run]), {run: "run"}, kept={run})
        [note] = [note for note in figure.layout.annotations if "kept" in note.text]
        assert (note.ay < 0) == note_above, (train_accuracy, note.ay)


def test_curves_name_a_run_as_typed_with_quotes_and_no_markup(store):
    """Plotly reads its text as HTML: tags are escaped, but quotes stay quotes (an
    escaped &quot; was shown as it is written)."""
    run = with_epochs(store, [0.9])
    figure = curves_figure(store.epochs([run]), {run: 'the "best" <b>one</b>'})
    named = 'the "best" &lt;b&gt;one&lt;/b&gt;'
    assert {trace.name for trace in figure.data} == {f"{named} train", f"{named} validation"}


# In Chromium.

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
LOGS = REPO_DIR / "test-output" / "browser-logs"
PRESENTER = {"width": 1280, "height": 720}
PHONE = {"width": 390, "height": 844}
SIZES = {"1400x1000": {"width": 1400, "height": 1000}, "1280x720": PRESENTER, "390x844": PHONE}
PAGES = {
    "": "Digit Lab",
    "data": "Data",
    "train": "Train",
    "compare": "Compare",
    "draw": "Draw",
    "my_drawings": "My drawings",
    "text": "Text",
}
SEVEN = [[(60, 55), (220, 55), (115, 235)]]
# A seven whose strokes start at the canvas's top right, where the toolbar used to be.
TOP_SEVEN = [[(262, 16), (45, 16)], [(262, 16), (110, 255)]]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The app on a fresh store; a small sentiment model trains beside it (the CLI), so
    the Text page has a reading in the screenshots."""
    if chromium_path() is None:
        pytest.skip("no Chromium at /usr/bin/chromium (apt-get install chromium)")
    home = tmp_path_factory.mktemp("digitlab-presenter")
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / "presenter-sentiment.log"
    sentiment = start_cli_training(home, "Bag-of-words sentiment", log, "--epochs", "1", "--limit", "2000")
    server = AppServer(home, LOGS / "presenter-streamlit.log")
    try:
        server.start()
        yield home, server, sentiment
    finally:
        server.stop()
        stop_process_group(sentiment)
        kill_workers(home)


def new_tab(browser, viewport=PRESENTER, phone: bool = False):
    options = {"is_mobile": True, "has_touch": True, "device_scale_factor": 3} if phone else {}
    context = browser.new_context(viewport=viewport, **options)
    context.set_default_timeout(RERUN_TIMEOUT_MS)
    return context, context.new_page()


@pytest.fixture(scope="module")
def demo(lab, browser) -> tuple[int, int]:
    """Presses "CNN against MLP" on Home and waits until Draw opens with both models:
    (the CNN's run id, the MLP's)."""
    home, server, _ = lab
    context, page = new_tab(browser, {"width": 1400, "height": 1000})
    try:
        open_page(page, server.url, "", "Digit Lab")
        click_button(page, "demo_home")
        expect(page).to_have_url(re.compile(r"/draw\?(.*&)?demo=\d+%2C\d+|/draw\?(.*&)?demo=\d+,\d+"))
        expect(fresh(page, "h3").filter(has_text="CNN against MLP")).to_be_visible()
        screenshot(page, "demo-training")
        expect(page.locator("canvas.digit-canvas")).to_be_visible(timeout=TRAIN_TIMEOUT_MS)
        wait_until_idle(page)
        ids = re.search(r"demo=(\d+)(?:%2C|,)(\d+)", page.url).groups()
        for stroke in SEVEN:
            draw_stroke(page, stroke)
        # The first reading may wait for the reader to load both new models.
        expect(fresh(page, "h3").filter(has_text="It reads")).to_be_visible(timeout=RERUN_TIMEOUT_MS)
        wait_until_idle(page)
        screenshot(page, "demo-draw")
        return int(ids[0]), int(ids[1])
    finally:
        context.close()


@pytest.mark.browser
def test_cnn_against_mlp_trains_both_and_draw_reads_with_both(lab, browser, demo):
    home, server, _ = lab
    from core.store import RunStore

    runs = RunStore(home).runs_table(status="completed").set_index("id")
    assert runs.loc[demo[0], "name"] == "Quick CNN" and runs.loc[demo[1], "name"] == "DNN 128-128"
    context, page = new_tab(browser, {"width": 1400, "height": 1000})
    try:
        open_page(page, server.url, f"draw?demo={demo[0]},{demo[1]}", "Draw")
        expect(page.locator(f"{key('draw_model')} input")).to_have_value(re.compile(r"^Quick CNN "))
        for stroke in SEVEN:
            draw_stroke(page, stroke)
        expect(fresh(page, "h3").filter(has_text="It reads")).to_be_visible()
        wait_until_idle(page)
        table = page.locator("table.readings")
        expect(table).to_contain_text("Quick CNN")
        expect(table).to_contain_text("DNN 128-128")
        assert_no_app_errors(page)
    finally:
        context.close()


SMALL_TEXT = """() => {
    const small = [];
    const roots = document.querySelectorAll('[data-testid="stMain"], [data-testid="stSidebar"]');
    for (const root of roots) for (const element of root.querySelectorAll("*")) {
        if (element.closest("svg, canvas, .stBidiComponent")) continue;
        const text = [...element.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
        const box = element.getBoundingClientRect();
        if (!text || !box.width || !box.height) continue;
        const size = parseFloat(getComputedStyle(element).fontSize);
        if (size < 18) small.push(`${size}px ${element.tagName}: ${element.textContent.trim().slice(0, 40)}`);
    }
    return small;
}"""
SMALL_PLOT_TEXT = """() => [...document.querySelectorAll('.js-plotly-plot svg text')]
    .filter((t) => t.textContent.trim() && t.getBoundingClientRect().width > 0)
    .map((t) => parseFloat(getComputedStyle(t).fontSize))
    .filter((size) => size < 16)"""


def inside(box, viewport) -> bool:
    """True when the box is on the screen (to a pixel: layouts round)."""
    return (
        box is not None
        and box["x"] >= -1
        and box["y"] >= -1
        and box["x"] + box["width"] <= viewport["width"] + 1
        and box["y"] + box["height"] <= viewport["height"] + 1
    )


CANVAS_AT_LEAST_400 = """() => {
  const box = document.querySelector('canvas.digit-canvas').getBoundingClientRect();
  return box.width >= 400 && box.height >= 400;
}"""


@pytest.mark.browser
def test_presenter_mode_fits_canvas_verdict_and_readings_on_one_1280x720_screen(lab, browser, demo):
    _, server, _ = lab
    context, page = new_tab(browser, PRESENTER)
    try:
        open_page(page, server.url, "draw?presenter=1", "Draw")
        expect(page.locator(f"{key('presenter')} input")).to_be_checked()
        canvas = page.locator("canvas.digit-canvas")
        expect(canvas).to_be_visible()
        # The presenter stylesheet widens the page a moment after the canvas shows.
        page.wait_for_function(CANVAS_AT_LEAST_400, timeout=10_000)
        for stroke in SEVEN:
            draw_stroke(page, [(x * 400 / 280, y * 400 / 280) for x, y in stroke])
        verdict = fresh(page, "h3").filter(has_text="It reads")
        expect(verdict).to_be_visible()
        wait_until_idle(page)
        readings = fresh(page, "table.readings").filter(has_text="Quick CNN")
        expect(readings).to_contain_text("DNN 128-128")
        page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollTo(0, 0)")
        page.mouse.move(1, 719)  # No hover effects in the picture.
        page.wait_for_timeout(300)
        for name, element in (("canvas", canvas), ("verdict", verdict), ("readings", readings)):
            assert inside(element.bounding_box(), PRESENTER), (
                f"the {name} is not on the screen: {element.bounding_box()}"
            )
        assert page.evaluate(SMALL_TEXT) == []
        assert page.evaluate(SMALL_PLOT_TEXT) == []
        assert "presenter=1" in page.url
        DOC_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOC_SCREENSHOTS / "presenter-draw.png"))

        page.locator('[data-testid="stSidebarNav"]').get_by_text("Compare", exact=True).click()
        expect(page.locator("h1").filter(has_text="Compare")).to_be_visible()
        wait_until_idle(page)
        expect(page).to_have_url(re.compile(r"/compare\?(.*&)?presenter=1"))
        assert page.evaluate(SMALL_PLOT_TEXT) == []
        assert_no_app_errors(page)

        page.locator('[data-testid="stSidebarNav"]').get_by_text("Home", exact=True).click()
        expect(page.locator("h1").filter(has_text="Digit Lab")).to_be_visible()
        wait_until_idle(page)
        expect(page.get_by_test_id("stMetricValue").first).to_be_visible()  # Drawn after the title.
        assert min(page.evaluate(METRIC_VALUE_SIZES)) >= 36, "the big numbers stay big"
        assert page.evaluate(CUT_LABELS) == [], "every button's label shows in full"

        page.locator('[data-testid="stSidebarNav"]').get_by_text("Draw", exact=True).click()
        expect(fresh(page, "h3").filter(has_text="It reads")).to_be_visible()  # The drawing is back,
        wait_until_idle(page)
        assert page.evaluate(INKED), "and drawn on the canvas again"
    finally:
        context.close()


INKED = """() => {
    const canvas = document.querySelector('canvas.digit-canvas');
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    return pixels.some((value, index) => index % 4 === 0 && value > 128);
}"""
METRIC_VALUE_SIZES = """() => [...document.querySelectorAll('[data-testid="stMetricValue"]')]
    .map(value => parseFloat(getComputedStyle(value.querySelector('*') || value).fontSize))"""
# Buttons and widget labels whose text is cut short (Streamlit ends them with "…").
CUT_LABELS = """() => [...document.querySelectorAll(
        '[data-testid="stMain"] button, [data-testid="stMain"] label')]
    .filter(element => [element, ...element.querySelectorAll('*')]
        .some(part => getComputedStyle(part).textOverflow === 'ellipsis'
            && part.scrollWidth > part.clientWidth + 1))
    .map(element => element.innerText)"""


def scroll_top(page) -> float:
    return page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollTop")


@contextlib.contextmanager
def drawing_on_a_phone(browser, url: str, path: str):
    """A phone's tab on a Draw page, its canvas in the middle of the screen; yields a
    CDP session for touch events, the page and the canvas."""
    context, page = new_tab(browser, PHONE, phone=True)
    try:
        open_page(page, url, path, "Draw")
        canvas = page.locator("canvas.digit-canvas")
        expect(canvas).to_be_visible()
        canvas.evaluate("(c) => c.scrollIntoView({block: 'center'})")
        yield context.new_cdp_session(page), page, canvas
    finally:
        context.close()


def touch_stroke(cdp, page, points, origin) -> None:
    """One finger stroke through `points` (pixels from `origin`), sent as touch events."""

    def touch(kind, x, y):
        point = {"x": origin["x"] + x, "y": origin["y"] + y}
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [point]})

    touch("touchStart", *points[0])
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        for step in range(1, 13):
            touch("touchMove", x0 + (x1 - x0) * step / 12, y0 + (y1 - y0) * step / 12)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    page.wait_for_timeout(400)


@pytest.mark.browser
def test_phone_draws_by_touch_without_scrolling_and_reads_under_the_canvas(lab, browser, demo):
    _, server, _ = lab
    with drawing_on_a_phone(browser, server.url, "draw") as (cdp, page, canvas):
        touch_stroke(cdp, page, SEVEN[0], canvas.bounding_box())
        expect(fresh(page, "h3").filter(has_text="It reads")).to_be_visible()
        wait_until_idle(page)
        click_button(page, "clear")
        expect(fresh(page, "h3").filter(has_text="It reads")).to_have_count(0)
        wait_until_idle(page)

        # Make the page scrollable both ways, then check that a finger dragged beside the
        # canvas scrolls it (the check can see scrolling) and one on the canvas does not.
        page.evaluate(
            "() => { document.querySelector('[data-testid=\"stMain\"]').style.paddingBottom = '1500px'; }"
        )
        canvas.evaluate("(c) => c.scrollIntoView({block: 'center'})")
        page.wait_for_timeout(300)
        before = scroll_top(page)
        box = canvas.bounding_box()
        touch_stroke(cdp, page, [(box["width"] + 40, 250), (box["width"] + 40, 50)], box)
        assert scroll_top(page) > before + 50, "a drag beside the canvas should scroll the page"
        canvas.evaluate("(c) => c.scrollIntoView({block: 'center'})")
        page.wait_for_timeout(300)
        before, box = scroll_top(page), canvas.bounding_box()
        for stroke in TOP_SEVEN:
            touch_stroke(cdp, page, stroke, box)
            assert scroll_top(page) == before, "drawing on the canvas scrolled the page"
        page.evaluate(
            "() => { document.querySelector('[data-testid=\"stMain\"]').style.paddingBottom = ''; }"
        )

        verdict = fresh(page, "h3").filter(has_text="It reads")
        expect(verdict).to_be_visible()
        wait_until_idle(page)
        canvas_box, verdict_box = canvas.bounding_box(), verdict.bounding_box()
        gap = verdict_box["y"] - (canvas_box["y"] + canvas_box["height"])
        assert 0 <= gap < 80, f"the verdict is {gap:.0f} px under the canvas"
        table = page.locator("table.readings")
        expect(table).to_contain_text("DNN 128-128")
        table_box = table.bounding_box()
        assert table_box["x"] >= 0 and table_box["x"] + table_box["width"] <= PHONE["width"]
        digits = page.locator(key("save_as")).get_by_role("radio")
        expect(digits).to_have_count(10)
        rows = {round(digit.bounding_box()["y"]) for digit in digits.all()}
        assert len(rows) == 1, "the ten digits to save the drawing as wrap onto a second row"
        top = page.locator(key("clear")).bounding_box()["y"]
        page.evaluate(f"() => document.querySelector('[data-testid=\"stMain\"]').scrollBy(0, {top - 110})")
        page.wait_for_timeout(300)
        DOC_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOC_SCREENSHOTS / "phone-draw.png"))
        assert_no_app_errors(page)


@pytest.mark.browser
def test_the_presenters_canvas_fits_a_phone_and_still_reads(lab, browser, demo):
    _, server, _ = lab
    with drawing_on_a_phone(browser, server.url, "draw?presenter=1") as (cdp, page, canvas):
        box = canvas.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], f"the canvas is clipped: {box}"
        assert abs(box["width"] - box["height"]) < 1 and box["width"] > 280, f"not a large square: {box}"
        touch_stroke(cdp, page, [(x * 1.15, y * 1.15) for x, y in SEVEN[0]], box)
        expect(fresh(page, "h3").filter(has_text="It reads 7")).to_be_visible()


@pytest.mark.browser
def test_start_brings_the_running_run_to_the_top_at_1280x720(lab, browser, demo):
    _, server, _ = lab
    context, page = new_tab(browser, PRESENTER)
    try:
        open_page(page, server.url, "train", "Train")
        select_option(page, "preset", "MLP 32")
        fill_number(page, field_key("epochs", "mnist", "MLP 32"), 4)
        fill_number(page, field_key("limit", "mnist", "MLP 32"), 2000)
        click_button(page, "start")
        expect(page).to_have_url(re.compile(r"[?&]run=\d+"))
        run_id = int(re.search(r"[?&]run=(\d+)", page.url).group(1))
        heading = fresh(page, "h3").filter(has_text=f"run #{run_id} ")
        expect(heading).to_be_visible()
        assert inside(heading.bounding_box(), PRESENTER), heading.bounding_box()
        expect(page.locator(key("start"))).to_be_hidden()  # The form is folded away.
        progress = fresh(page, '[data-testid="stProgress"]')
        expect(progress).to_contain_text("of the run", timeout=TRAIN_TIMEOUT_MS)
        screenshot(page, "train-live-1280x720")
        expect(heading).to_contain_text("completed", timeout=TRAIN_TIMEOUT_MS)
        wait_until_idle(page)
        expect(
            page.locator(f"{key('curves')} .annotation-text").filter(has_text="kept: epoch")
        ).to_have_count(1)
        curves = page.locator(key("curves"))
        curves.evaluate("(chart) => chart.scrollIntoView({block: 'end'})")
        page.wait_for_timeout(300)
        assert inside(curves.bounding_box(), PRESENTER), (
            f"the curves do not fit the screen: {curves.bounding_box()}"
        )
        assert_no_app_errors(page)
    finally:
        context.close()


def assert_toolbar_clear_of_titles(chart) -> None:
    """Plotly's toolbar (shown on hover, or on a tap on a phone) sits above the
    chart's titles, not over them."""
    chart.hover()
    toolbar = chart.locator(".modebar").bounding_box()
    titles = chart.locator(".annotation-text").all()
    assert titles and toolbar, "the curves have no titles or no toolbar"
    for title in titles:
        box = title.bounding_box()
        across = box["x"] < toolbar["x"] + toolbar["width"] and toolbar["x"] < box["x"] + box["width"]
        assert not across or toolbar["y"] + toolbar["height"] <= box["y"], (
            f"the toolbar {toolbar} covers the title {title.text_content()!r} {box}"
        )


def assert_toolbar_clear_of_plot(chart) -> None:
    """Plotly's toolbar sits above the plot area (a confusion matrix's top row), not over it."""
    chart.hover()
    toolbar = chart.locator(".modebar").bounding_box()
    plot = chart.locator(".draglayer .nsewdrag").first.bounding_box()
    assert toolbar and plot, "the chart has no toolbar or no plot area"
    assert toolbar["y"] + toolbar["height"] <= plot["y"], f"the toolbar {toolbar} covers the plot {plot}"


def assert_legend_clear_of_axis_titles(chart) -> None:
    """The legend sits below the axis titles ("epoch"), not over them."""
    legend = chart.locator(".legend").first.bounding_box()
    titles = chart.locator(".xtitle").all()
    assert titles and legend, "the curves have no axis titles or no legend"
    for title in titles:
        box = title.bounding_box()
        assert box["y"] + box["height"] <= legend["y"], f"the legend {legend} covers the axis title {box}"


@pytest.mark.browser
@pytest.mark.parametrize("size", SIZES)
def test_every_page_at_every_size(lab, browser, demo, size):
    _, server, sentiment = lab
    assert sentiment.wait(TRAIN_TIMEOUT_MS / 1000) == 0, (LOGS / "presenter-sentiment.log").read_text()
    context, page = new_tab(browser, SIZES[size], phone=size == "390x844")
    try:
        for path, heading in PAGES.items():
            open_page(page, server.url, path, heading)
            if path == "draw":
                expect(page.locator("canvas.digit-canvas")).to_be_visible()
            wait_until_idle(page)
            if path == "compare":
                assert_toolbar_clear_of_titles(page.locator(key("compare_curves")))
                assert_legend_clear_of_axis_titles(page.locator(key("compare_curves")))
                for chart in ("confusion", "per_class"):
                    assert_toolbar_clear_of_plot(page.locator(key(chart)))
            assert_no_app_errors(page)
            wide = page.evaluate("() => document.documentElement.scrollWidth")
            assert wide <= SIZES[size]["width"], f"{path or 'home'} is {wide} px wide at {size}"
            if path in ("", "train"):  # Their buttons and the form's fields.
                assert page.evaluate(CUT_LABELS) == [], f"labels cut short on {path or 'home'} at {size}"
            screenshot(page, f"{path or 'home'}-{size}")
        review = page.locator(f"{key('review')} textarea")
        review.fill("12345 !!!")
        review.press("Control+Enter")
        expect(fresh(page, '[data-testid="stAlert"]').filter(has_text="is a guess")).to_be_visible()
        wait_until_idle(page)
        screenshot(page, f"text-no-known-word-{size}")
    finally:
        context.close()
    assert (SCREENSHOTS / f"draw-{size}.png").is_file()
