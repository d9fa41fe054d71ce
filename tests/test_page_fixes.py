"""The smaller things a presenter trips over, each fixed and checked: through AppTest
where it can see the fix, in Chromium where only a browser can (the canvas, the
downloads, a number field's text, a table's width).

The AppTest tests use stored run rows without model files and a stand-in for the model
reader, so they load no TensorFlow. The browser tests share one app server and one
small digit model trained by the CLI.
"""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from devtools.app_server import AppServer, kill_workers, start_cli_training, stop_process_group
from devtools.browser import (
    RERUN_TIMEOUT_MS,
    TRAIN_TIMEOUT_MS,
    assert_no_app_errors,
    chromium_path,
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
from ui.format import field_key

CUSTOM = "Custom (choose a family)"
LOGS = REPO_DIR / "test-output" / "browser-logs"


@pytest.fixture
def no_workers(monkeypatch):
    stub_workers(monkeypatch)


@pytest.fixture
def reader(monkeypatch):
    return stub_reader(monkeypatch)


def errors_of(app) -> list[str]:
    return [error.value for error in app.error]


# 2. The Train page's parameter column shows every count in full.


def test_layer_table_shows_every_parameter_count_in_full(home):
    app = page_of("train")
    app.selectbox(key="preset").select("DNN 128-128").run()
    layers = app.table[0].value
    assert "100,480" in layers["params"].tolist()
    assert "784" in layers["output"].tolist()


# 3. A sentiment model trained from the Text page: the Train page follows it.


def test_training_from_the_text_page_opens_train_on_the_sentiment_model(home, store, no_workers):
    app = page_of("text")
    app.button(key="train_text").click().run()
    run_id = int(app.query_params["run"])
    assert store.get_run(run_id)["dataset"] == "sentiment"
    assert app.selectbox(key="dataset").value == "sentiment"
    assert app.selectbox(key="preset").value == "Bag-of-words sentiment"
    assert any(f"run #{run_id}" in header.value for header in app.subheader)


def test_a_completed_sentiment_run_offers_the_text_page_not_draw(store):
    run_id = stored_run(store, "Bag-of-words sentiment", "tiny sentiment", 0.77)
    app = page_of("train", run=str(run_id))
    links = [link.value for link in app.get("page_link")]
    assert "Try it on a review of your own" in links
    assert "Try it on your own drawing" not in links
    assert app.selectbox(key="dataset").value == "sentiment"


# 5. A blank picture is called blank, not an empty canvas.


def test_uploading_a_blank_picture_says_the_picture_is_blank(store, reader):
    stored_run(store, "MLP 32", "digits")
    app = page_of("draw")
    app.radio(key="source").set_value("📁 Upload").run()
    blank = io.BytesIO()
    Image.new("RGB", (200, 200), "white").save(blank, format="PNG")
    app.file_uploader(key="upload").set_value(("blank.png", blank.getvalue(), "image/png")).run()
    assert not app.exception
    messages = [info.value for info in app.info]
    assert any("picture is blank" in message for message in messages), messages
    assert not any("canvas" in message for message in messages), messages


# 6. A test-digit number out of range: the page says so and shows no other digit.


def test_out_of_range_test_digit_shows_no_digit_and_random_replaces_the_number(store, reader):
    stored_run(store, "MLP 32", "digits")
    app = page_of("draw")
    app.radio(key="source").set_value("🎲 Test digit").run()
    app.number_input(key="test_index").set_value(10000).run()
    assert any("choose a number from 0 to 9,999" in warning.value for warning in app.warning)
    assert not app.get("image") and not any("It reads" in markdown.value for markdown in app.markdown)
    app.button(key="random_digit").click().run()
    index = app.number_input(key="test_index").value
    assert 0 <= index < 10000
    captions = [image.proto.imgs[0].caption for image in app.get("image")]
    assert any(caption.startswith(f"Test digit {index}:") for caption in captions), (index, captions)


# 7. Hyperparameter edits survive a visit to Custom.


def test_hyperparameter_edits_survive_switching_to_custom_and_back(home):
    app = page_of("train")
    app.selectbox(key="preset").select("MLP 32").run()
    epochs, rate = field_key("epochs", "mnist", "MLP 32"), field_key("learning_rate", "mnist", "MLP 32")
    app.number_input(key=epochs).set_value(7).run()
    app.number_input(key=rate).set_value(0.005).run()
    app.selectbox(key="preset").select(CUSTOM).run()
    app.text_input(key="units").input("64, 32").run()
    app.selectbox(key="preset").select("MLP 32").run()
    assert app.number_input(key=epochs).value == 7
    assert app.number_input(key=rate).value == pytest.approx(0.005)
    app.selectbox(key="preset").select(CUSTOM).run()
    assert app.text_input(key="units").value == "64, 32"
    assert not app.exception


def test_the_form_is_as_the_user_left_it_after_a_view_without_it(home):
    """Streamlit forgets the state of a widget a run does not show: leaving the page (or
    the Race view, which has no form) used to reset the model and the name to Quick CNN's,
    and Start then trained the wrong model."""
    app = page_of("train")
    app.selectbox(key="preset").select("CNN 3-conv").run()
    epochs = field_key("epochs", "mnist", "CNN 3-conv")
    app.number_input(key=epochs).set_value(2).run()
    app.text_input(key="run_name").input("my experiment").run()
    app.segmented_control(key="train_mode").set_value("Race").run()
    assert not [box for box in app.selectbox if box.key == "preset"]  # No form in this view.
    app.segmented_control(key="train_mode").set_value("One run").run()
    assert app.selectbox(key="preset").value == "CNN 3-conv"
    assert app.number_input(key=epochs).value == 2
    assert app.text_input(key="run_name").value == "my experiment"
    assert not app.exception


def test_another_preset_still_starts_from_its_own_values(home):
    app = page_of("train")
    app.selectbox(key="preset").select("MLP 32").run()
    app.number_input(key=field_key("epochs", "mnist", "MLP 32")).set_value(7).run()
    app.selectbox(key="preset").select("CNN 3-conv").run()
    assert app.number_input(key=field_key("epochs", "mnist", "CNN 3-conv")).value == 10


# 8. A deleted run in the address is said to be gone, not replaced silently.


def test_a_deleted_run_in_the_address_is_said_to_be_gone(store):
    kept_run = stored_run(store, "MLP 32", "still here")
    deleted = stored_run(store, "MLP 32", "deleted one")
    store.delete_run(deleted)
    app = page_of("train", run=str(deleted))
    assert any(f"Run {deleted} no longer exists" in warning.value for warning in app.warning)
    assert not any(f"run #{kept_run}" in header.value for header in app.subheader)


# 9. A review with no known word: a warning, and the model's row marked.


def test_a_review_with_no_known_word_is_warned_about_and_the_row_marked(store, reader):
    run_id = stored_run(store, "Bag-of-words sentiment", "tiny sentiment", 0.77)
    store.models_dir.mkdir(parents=True, exist_ok=True)
    store.vocabulary_path(run_id).write_text(json.dumps(["the", "film", "good", "bad", "!", "1"]))
    app = page_of("text")
    app.text_area(key="review").input("12345 !!!").run()
    assert any("tiny sentiment" in warning.value and "guess" in warning.value for warning in app.warning)
    table = readings_shown(app).set_index("run")
    assert "knows none" in table.loc[run_id, "note"]
    assert table.loc[run_id, "differs"]  # The row stands out.
    app.text_area(key="review").input("a good film !").run()
    assert not app.warning
    assert "note" not in readings_shown(app)


# 10. Errors beside their field and Start; no "None" in Compare; Fashion-MNIST's caption.


def blocks_holding(node, widget_key: str) -> list:
    """The blocks from the page down to the widget with that key (innermost last)."""
    for child in getattr(node, "children", {}).values():
        if getattr(child, "key", None) == widget_key:
            return [node]
        path = blocks_holding(child, widget_key)
        if path:
            return [node, *path]
    return []


def test_a_hyperparameter_error_is_under_its_field_and_beside_start(home):
    app = page_of("train")
    app.selectbox(key="preset").select("MLP 32").run()
    app.number_input(key=field_key("epochs", "mnist", "MLP 32")).set_value(0).run()
    message = "Epochs must be between 1 and 200; got 0."
    field_column = blocks_holding(app._tree, field_key("epochs", "mnist", "MLP 32"))[-1]
    assert message in [error.value for error in field_column.error]
    start_column = blocks_holding(app._tree, "start")[-1]
    assert any("To start, fix: Epochs" in caption.value for caption in start_column.caption)
    assert errors_of(app).count(message) == 1
    assert app.button(key="start").disabled


def test_a_stopped_run_shows_dashes_not_none_in_compare(store):
    stored_run(store, "MLP 32", "finished", 0.95)
    stopped = stored_run(store, "MLP 32", "stopped early", status="cancelled")
    app = page_of("compare")
    table = app.dataframe[0]
    assert table.proto.placeholder == "–", "the browser writes a missing value as a dash"
    row = table.value[table.value["name"] == "stopped early"].iloc[0]
    assert pd.isna(row["test_accuracy"]) and pd.isna(row["ms_per_prediction"])
    assert not table.value.isin(["None", "nan", "NaN"]).any().any(), table.value
    assert table.value[table.value["name"] == "finished"].iloc[0]["test_accuracy"] == 95.0
    assert json.loads(table.proto.columns)["test_accuracy"]["type_config"]["format"] == "%.2f %%"
    assert stopped in table.value["id"].tolist()


def test_fashion_mnist_data_page_speaks_of_images_not_digits(home):
    from core.datasets import DatasetUnavailable, load_dataset

    try:
        load_dataset("fashion_mnist")
    except DatasetUnavailable:
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    app = page_of("data")
    app.selectbox(key="data_dataset").select("fashion_mnist").run()
    captions = " ".join(caption.value for caption in app.caption)
    assert "Each image is 28x28" in captions
    assert "digit" not in captions.lower()
    app.selectbox(key="data_dataset").select("mnist").run()
    assert "Each digit is 28x28" in " ".join(caption.value for caption in app.caption)


# In Chromium: the canvas's top edge, the layer table's width, the two downloads, the
# test-digit field.

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
FORMULA_NAME = '=HYPERLINK("http://example.com","x")'


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The app on a fresh store, with a small digit model trained by the CLI (its name
    is a spreadsheet formula, for the CSV test): (home, server, run id)."""
    if chromium_path() is None:
        pytest.skip("no Chromium at /usr/bin/chromium (apt-get install chromium)")
    home = tmp_path_factory.mktemp("digitlab-page-fixes")
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / "page-fixes-mlp.log"
    trainer = start_cli_training(
        home, "MLP 32", log, "--epochs", "2", "--limit", "3000", "--name", FORMULA_NAME
    )
    server = AppServer(home, LOGS / "page-fixes-streamlit.log")
    try:
        server.start()
        assert trainer.wait(TRAIN_TIMEOUT_MS / 1000) == 0, log.read_text()
        from core.store import RunStore

        yield home, server, int(RunStore(home).runs_table(status="completed")["id"].iloc[0])
    finally:
        server.stop()
        stop_process_group(trainer)
        kill_workers(home)


@pytest.fixture
def tab(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    context.set_default_timeout(RERUN_TIMEOUT_MS)
    page = context.new_page()
    yield page
    try:
        screenshot(page, request.node.name)
    except sync_api.Error as error:
        print(f"no screenshot of {request.node.name}: {error}")
    finally:
        context.close()


def verdict(page):
    return fresh(page, "h3").filter(has_text="It reads")


@pytest.mark.browser
def test_a_stroke_started_under_the_canvas_toolbar_draws(lab, tab):
    _, server, _ = lab
    open_page(tab, server.url, "draw", "Draw")
    expect(tab.locator("canvas.digit-canvas")).to_be_visible()
    expect(tab.locator(".dc-toolbar")).to_be_hidden()  # It floated, invisible, over the top 30 px.
    width = tab.locator("canvas.digit-canvas").bounding_box()["width"]
    # A short bar along the top edge of the canvas's right half: where strokes drew nothing.
    draw_stroke(tab, [(width * 0.55, 8), (width - 8, 8), (width - 10, 26)])
    expect(verdict(tab)).to_be_visible(timeout=RERUN_TIMEOUT_MS)
    ink = tab.locator("canvas.digit-canvas").last.evaluate(
        """(canvas) => {
            const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, 30).data;
            let lit = 0;
            for (let i = 0; i < data.length; i += 4) lit += data[i] > 128 ? 1 : 0;
            return lit;
        }"""
    )
    assert ink > 100, f"the stroke left {ink} lit pixels in the canvas's top 30 rows"
    assert_no_app_errors(tab)


@pytest.mark.browser
def test_layer_table_fits_the_train_page_at_1280x720(lab, tab):
    _, server, _ = lab
    tab.set_viewport_size({"width": 1280, "height": 720})
    open_page(tab, server.url, "train", "Train")
    select_option(tab, "preset", "DNN 128-128")
    table = fresh(tab, '[data-testid="stTable"]').first
    cell = table.locator("td", has_text="100,480")
    expect(cell).to_be_visible()
    cell_box, table_box = cell.bounding_box(), table.bounding_box()
    assert cell_box["x"] + cell_box["width"] <= table_box["x"] + table_box["width"] + 1
    assert table.evaluate("(t) => t.scrollWidth <= t.clientWidth + 1"), "the layer table scrolls sideways"
    assert_no_app_errors(tab)


RECORD_RERUNS = """() => {
    window.__reruns = 0;
    const app = document.querySelector('[data-testid="stApp"]');
    new MutationObserver(() => {
        if (app.getAttribute("data-test-script-state") === "running") window.__reruns += 1;
    }).observe(app, { attributes: true, attributeFilter: ["data-test-script-state"] });
}"""


@pytest.mark.browser
def test_csv_then_model_download_at_once_both_arrive_and_the_csv_is_safe(lab, tab, tmp_path):
    home, server, run_id = lab
    open_page(tab, server.url, "compare", "Compare")
    expect(tab.locator(key("download_model"))).to_be_visible()
    tab.evaluate(RECORD_RERUNS)
    downloads = []
    tab.on("download", lambda download: downloads.append(download))
    tab.locator(f"{key('csv')} button").click()
    tab.wait_for_timeout(200)
    tab.locator(f"{key('download_model')} button").click()
    deadline = time.monotonic() + 30
    while len(downloads) < 2 and time.monotonic() < deadline:
        tab.wait_for_timeout(200)
    names = sorted(download.suggested_filename for download in downloads)
    assert names == ["digit-lab-runs.csv", f"run-{run_id}.keras"], names
    for download in downloads:
        assert download.failure() is None, (download.suggested_filename, download.failure())
    csv_path = tmp_path / "runs.csv"
    next(d for d in downloads if d.suggested_filename.endswith(".csv")).save_as(csv_path)
    text = csv_path.read_text()
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text and '"=HYPERLINK' not in text
    model = next(d for d in downloads if d.suggested_filename.endswith(".keras")).path()
    assert Path(model).stat().st_size > 1000
    assert tab.evaluate("window.__reruns") == 0, "the CSV download reran the page"
    assert "MediaFileStorageError" not in server.log()
    assert_no_app_errors(tab)


@pytest.mark.browser
def test_random_test_digit_replaces_an_out_of_range_number_in_the_field(lab, tab):
    _, server, _ = lab
    open_page(tab, server.url, "draw", "Draw")
    tab.get_by_text("🎲 Test digit").click()
    wait_until_idle(tab)
    fill_number(tab, "test_index", 10000)
    expect(fresh(tab, '[data-testid="stAlert"]').filter(has_text="choose a number from 0")).to_be_visible()
    expect(fresh(tab, '[data-testid="stImageCaption"]').filter(has_text="Test digit")).to_have_count(0)
    tab.locator(f"{key('random_digit')} button").click()
    wait_until_idle(tab)
    caption = fresh(tab, '[data-testid="stImageCaption"]').filter(has_text="Test digit")
    expect(caption).to_be_visible()
    shown = int(re.search(r"Test digit (\d+)", caption.inner_text()).group(1))
    expect(tab.locator(f"{key('test_index')} input")).to_have_value(str(shown))
    assert shown < 10000
    assert_no_app_errors(tab)
