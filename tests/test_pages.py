"""Every page through Streamlit's AppTest: renders, widgets by key, messages shown."""

import json
import os
import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.presets import get_preset
from tests.conftest import REPO_DIR
from tests.page_helpers import readings_shown, stored_run
from tests.training_helpers import run_now
from ui.format import field_key

PAGES = ["home", "data", "train", "compare", "draw", "text"]


def open_page(name: str) -> AppTest:
    app = AppTest.from_file(str(REPO_DIR / "app.py"), default_timeout=120).run()
    assert not app.exception
    return app.switch_page(f"app_pages/{name}.py").run()


@pytest.fixture
def trained(store):
    """A store holding one small completed digit run."""
    run_id, _ = run_now(store, get_preset("Quick CNN").config.with_changes(limit=1500, epochs=1), "tiny cnn")
    return run_id


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_no_runs(home, page):
    app = open_page(page)
    assert not app.exception


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_a_trained_run(trained, page):
    app = open_page(page)
    assert not app.exception


def test_home_says_which_data_is_in_use(home):
    app = open_page("home")
    assert "MNIST, offline subset: 10,000 train / 10,000 test" in app.info[0].value


def test_train_shows_parameters_and_refuses_bad_values_beside_the_field(home):
    app = open_page("train")
    app.selectbox(key="preset").select("CNN 3-conv").run()
    assert app.metric[0].value == "93,322"
    app.number_input(key=field_key("epochs", "mnist", "CNN 3-conv")).set_value(0).run()
    assert "Epochs must be between 1 and 200; got 0." in [error.value for error in app.error]
    assert app.button(key="start").disabled
    app.number_input(key=field_key("epochs", "mnist", "CNN 3-conv")).set_value(3).run()
    app.number_input(key=field_key("learning_rate", "mnist", "CNN 3-conv")).set_value(0.0).run()
    assert any("Learning rate must be greater than 0" in error.value for error in app.error)


def test_custom_family_with_unreadable_sizes_says_how_to_write_them(home):
    app = open_page("train")
    app.selectbox(key="preset").select("Custom (choose a family)").run()
    app.selectbox(key="family").select("lstm").run()
    app.text_input(key="units").input("64, big").run()
    assert "Write whole numbers separated by commas" in app.error[0].value
    app.text_input(key="units").input("64, 32").run()
    assert not app.error and app.metric[0].value.replace(",", "").isdigit()


def test_start_queues_a_run_and_the_page_follows_it(home, store):
    app = open_page("train")
    app.selectbox(key="preset").select("MLP 32").run()
    app.number_input(key=field_key("epochs", "mnist", "MLP 32")).set_value(1).run()
    app.number_input(key=field_key("limit", "mnist", "MLP 32")).set_value(500).run()
    app.button(key="start").click().run()
    runs = store.runs_table()
    assert len(runs) == 1 and runs["name"][0] == "MLP 32"
    assert app.query_params["run"] == str(runs["id"][0])
    assert any("run #" in header.value for header in app.subheader)


def add_scored_run(store, name: str, test_accuracy: float) -> int:
    """A completed run row with the given score (no model file), for table tests."""
    run_id = store.create_run(get_preset("MLP 32").config, 25_450, name)
    assert store.claim_next(os.getpid()) == run_id
    results = {
        "test_loss": 1.0,
        "test_accuracy": test_accuracy,
        "seconds_per_epoch": 1.0,
        "total_seconds": 5.0,
    }
    results |= {"ms_per_prediction": 1.0, "evaluation": {}, "versions": {}, "model_file": ""}
    assert store.complete(run_id, results)
    return run_id


def test_compare_lists_runs_best_first_with_details(trained, store):
    add_scored_run(store, "weak", 0.11)
    add_scored_run(store, "strong", 0.999)
    app = open_page("compare")
    assert app.dataframe[0].value["name"].tolist() == ["strong", "tiny cnn", "weak"]
    app.selectbox(key="detail_run").set_value(trained).run()
    spec = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert {trace["name"] for trace in spec["data"]} >= {"#1 tiny cnn train", "#1 tiny cnn validation"}
    assert any("Misclassified test items" in markdown.value for markdown in app.markdown)


def test_compare_table_starts_with_the_columns_a_laptop_screen_holds(store):
    stored_run(store, "Quick CNN", "digits")
    table = open_page("compare").dataframe[0]
    shown = list(table.proto.column_order)
    assert {"name", "test_accuracy", "my_drawings", "seconds_per_epoch", "ms_per_prediction"} <= set(shown)
    hidden = {"batch_size", "learning_rate", "total_seconds", "dataset", "device"}
    assert not hidden & set(shown), "these start hidden (every run has the same dataset and device)"
    assert hidden <= set(table.value.columns), "the table's column menu can still show them"
    stored_run(store, "Bag-of-words sentiment", "reviews")
    assert "dataset" in open_page("compare").dataframe[0].proto.column_order, "two datasets: the column shows"


def test_compare_deletes_only_after_confirmation(trained, store):
    app = open_page("compare")
    app.button(key="delete").click().run()
    assert store.get_run(trained) is not None
    app.button(key="delete_yes").click().run()
    assert store.get_run(trained) is None
    assert not store.model_path(trained).exists()
    assert not app.exception


def test_failed_run_shows_its_error(store):
    run_id = store.create_run(get_preset("MLP 32").config, 25_450, "broken")
    store.finish(run_id, "failed", "Ran out of memory: use a smaller model or batch size.")
    app = open_page("compare")
    assert "Ran out of memory" in app.error[0].value


def test_draw_offers_the_quick_model_when_nothing_is_trained(home):
    app = open_page("draw")
    assert app.button(key="quick_model_draw")


def test_draw_reads_a_test_digit(trained):
    app = open_page("draw")
    app.radio(key="source").set_value("🎲 Test digit").run()
    app.number_input(key="test_index").set_value(0).run()
    assert any("It reads" in markdown.value for markdown in app.markdown)
    assert readings_shown(app)["reads"].str.fullmatch(r"\d").all()


def test_draw_looks_inside_the_model_and_asks_why_not_another_digit(trained):
    app = open_page("draw")
    app.radio(key="source").set_value("🎲 Test digit").run()
    app.number_input(key="test_index").set_value(0).run()  # A 7.
    app.toggle(key="inside").set_value(True).run()
    assert not app.exception
    tabs = [tab.label for tab in app.tabs]
    assert tabs == ["🎯 Where it looked", "🧱 Layers", "🗺️ Among the digits"]
    verdict = next(m.value for m in app.markdown if "It reads" in m.value)
    read = re.search(r"It reads \*\*(\d)\*\*", verdict).group(1)  # Explained first.
    assert any(m.value.startswith(f"**integrated gradients**: for {read}") for m in app.markdown)
    assert any(m.value.startswith(f"**Grad-CAM**: for {read}") for m in app.markdown)
    other = "9" if read != "9" else "4"
    app.pills(key="explain_target").set_value(other).run()
    assert any(m.value.startswith(f"**integrated gradients**: for {other}") for m in app.markdown)
    assert not app.exception


def test_compare_opens_a_mistake_inside_the_model_on_draw(trained):
    app = open_page("compare")
    mistakes = app.selectbox(key="mistake")
    index = mistakes.options[0].split(" → ")[0].removeprefix("test digit ")
    mistakes.set_value(int(index)).run()
    app.button(key="look_inside").click().run()
    assert not app.exception
    assert app.radio(key="source").value == "🎲 Test digit"
    assert app.number_input(key="test_index").value == int(index)
    assert app.toggle(key="inside").value
    assert app.tabs[0].label == "🎯 Where it looked"


def test_text_reads_a_review_with_every_sentiment_model(store):
    config = get_preset("Bag-of-words sentiment").config.with_changes(limit=1500, epochs=1)
    run_now(store, config, "tiny sentiment")
    app = open_page("text")
    app.text_area(key="review").input("a dull and lifeless film").run()
    table = readings_shown(app)
    assert table["model"].tolist() == ["tiny sentiment"]
    assert table["sentiment"][0] in ("😊 positive", "🙁 negative")
    app.toggle(key="inside_text").set_value(True).run()
    coloured = next(m.value for m in app.markdown if "lifeless" in m.value)
    assert "-background[**" in coloured  # The word that moved the verdict most stands out.
    assert any("As it reads the review" in m.value for m in app.markdown)
    app.text_area(key="review").input("   ").run()
    assert "Type a review first." in app.warning[0].value
    app.text_area(key="review").input("отличный фильм 🎬").run()
    assert "no English words" in app.warning[0].value
    assert not app.exception


def test_unwritable_data_directory_gives_a_clear_message_not_a_traceback(tmp_path, monkeypatch):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("a file where the data directory should be")
    monkeypatch.setenv("DIGITLAB_HOME", str(blocked))
    app = AppTest.from_file(str(REPO_DIR / "app.py"), default_timeout=60).run()
    assert not app.exception
    assert "Cannot open the run store" in app.error[0].value


def test_run_names_are_shown_as_text_not_markup(store):
    run_id = store.create_run(get_preset("MLP 32").config, 25_450, "**bold** <b>tag</b> [link](http://x)")
    app = open_page("train")
    app.query_params["run"] = str(run_id)
    app.run()
    header = app.subheader[-1].value
    assert "\\*\\*bold\\*\\*" in header and "\\[link\\]" in header


def test_no_page_imports_tensorflow_even_while_reading(trained, store):
    import subprocess
    import sys

    store.add_drawing(1, np.eye(28, dtype=np.uint8) * 255)  # Compare and My drawings score it.

    script = (
        "import sys\n"
        "from streamlit.testing.v1 import AppTest\n"
        "app = AppTest.from_file('app.py', default_timeout=120).run()\n"
        "for page in ('home', 'data', 'train', 'compare', 'my_drawings', 'text', 'draw'):\n"
        "    app.switch_page(f'app_pages/{page}.py').run()\n"
        "    assert not app.exception, page\n"
        "app.radio(key='source').set_value('🎲 Test digit').run()\n"
        "table = next(h.proto.body for h in app.get('html') if 'class=\"readings\"' in h.proto.body)\n"
        "assert 'data-run' in table and '<th>note</th>' not in table, table\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_DIR, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "False False"


def test_choosing_another_preset_takes_its_hyperparameters(home):
    app = open_page("train")
    app.selectbox(key="preset").select("Quick CNN").run()
    app.number_input(key=field_key("batch_size", "mnist", "Quick CNN")).set_value(256).run()
    assert app.checkbox(key=field_key("augment", "mnist", "Quick CNN")).value is True
    app.selectbox(key="preset").select("MLP 32").run()
    assert app.checkbox(key=field_key("augment", "mnist", "MLP 32")).value is False
    assert app.number_input(key=field_key("epochs", "mnist", "MLP 32")).value == 20
    assert app.number_input(key=field_key("batch_size", "mnist", "MLP 32")).value == 32
    assert app.checkbox(key=field_key("keep_best_epoch", "mnist", "MLP 32")).value is True
    app.selectbox(key="preset").select("Best CNN").run()  # It keeps its schedule's end (README).
    assert app.checkbox(key=field_key("keep_best_epoch", "mnist", "Best CNN")).value is False


def test_augmentation_is_offered_for_digits_only(home):
    app = open_page("train")
    app.selectbox(key="preset").select("Best CNN").run()
    assert not app.checkbox(key=field_key("augment", "mnist", "Best CNN")).disabled
    app.selectbox(key="dataset").select("fashion_mnist").run()
    app.selectbox(key="preset").select("Best CNN").run()
    augment = app.checkbox(key=field_key("augment", "fashion_mnist", "Best CNN"))
    assert augment.disabled and "Digits only" in augment.help
    assert augment.value is False, "a disabled box shows no tick the run will not get"


def test_missing_model_file_shows_a_clear_error_and_other_runs_still_read(store):
    config = get_preset("Quick CNN").config.with_changes(limit=1500, epochs=1)
    broken, _ = run_now(store, config, "lost model")
    working, _ = run_now(store, config, "kept model")
    store.model_path(broken).unlink()
    app = open_page("draw")
    app.radio(key="source").set_value("🎲 Test digit").run()
    app.selectbox(key="draw_model").set_value(broken).run()
    assert not app.exception
    assert "model file of run" in app.error[0].value and "missing" in app.error[0].value
    app.selectbox(key="draw_model").set_value(working).run()
    table = readings_shown(app).set_index("run")
    assert table.loc[working, "reads"].isdecimal()
    assert "missing" in table.loc[broken, "note"]


def test_user_text_never_becomes_part_of_a_file_path(store):
    run_id = store.create_run(get_preset("MLP 32").config, 25_450, "../../../etc/passwd")
    assert store.model_path(run_id).parent == store.models_dir
    assert store.model_path(run_id).name == f"run-{run_id}.keras"
