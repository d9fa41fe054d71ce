"""Compare: filters, a run's note and tags, and a sweep's runs at a glance; the Sweep
form without Optuna (AppTest)."""

import json
import os
import sys

import pandas as pd

from core.presets import get_preset
from core.sweep_spec import SweepParameter, SweepSpec
from tests.page_helpers import page_of, stored_run
from ui.charts import pareto_front


def sweep_runs(store, accuracies: list[float]) -> int:
    """A sweep whose trials (batch sizes 32, 64, ...) completed with those accuracies."""
    base = get_preset("Quick CNN").config
    spec = SweepSpec(base, (SweepParameter("batch_size", choices=(32, 64)),))
    sweep_id = store.create_sweep("batch <sweep>", spec.to_json())
    store.set_sweep_status(sweep_id, "completed")  # Recorded as finished: no Optuna study to drive.
    for number, accuracy in enumerate(accuracies):
        run_id = store.create_run(
            base.with_changes(batch_size=32 * 2**number), 1000 * (number + 1), sweep_id=sweep_id
        )
        assert store.claim_next(os.getpid()) == run_id
        results = {
            "test_loss": 1.0,
            "test_accuracy": accuracy,
            "seconds_per_epoch": 1.0,
            "total_seconds": 5.0,
        }
        store.complete(
            run_id, results | {"ms_per_prediction": 1.0, "evaluation": {}, "versions": {}, "model_file": ""}
        )
    return sweep_id


def shown_names(app) -> list[str]:
    return app.dataframe[0].value["name"].tolist()


def test_tags_and_a_note_are_saved_and_the_filters_find_runs_by_them(store):
    tagged = stored_run(store, "DNN 128-128", "dense one", accuracy=0.97)
    stored_run(store, "Small CNN", "conv one", accuracy=0.98)
    stored_run(store, "MLP 32", "broken one", status="failed")
    app = page_of("compare")
    app.selectbox(key="detail_run").set_value(tagged).run()
    app.text_input(key=f"run_tags_{tagged}").set_value(" baseline, <b>bold</b>,baseline ")
    app.text_area(key=f"run_note_{tagged}").set_value("Try a wider layer next.")
    app.button(key=f"save_labels_{tagged}").click().run()
    assert not app.exception
    run = store.get_run(tagged)
    assert (run["tags"], run["user_note"]) == ("baseline, <b>bold</b>", "Try a wider layer next.")

    app.multiselect(key="filter_tags").set_value(["<b>bold</b>"]).run()
    assert shown_names(app) == ["dense one"]
    app.multiselect(key="filter_tags").set_value([]).run()
    app.text_input(key="filter_text").set_value("WIDER").run()
    assert shown_names(app) == ["dense one"], "the note is searched, in any case"
    app.text_input(key="filter_text").set_value("").run()
    app.multiselect(key="filter_status").set_value(["failed"]).run()
    assert shown_names(app) == ["broken one"]
    app.multiselect(key="filter_status").set_value([]).run()
    app.multiselect(key="filter_families").set_value(["cnn"]).run()
    assert shown_names(app) == ["conv one"]


def test_a_sweep_chosen_in_compare_shows_its_runs_at_a_glance(store):
    stored_run(store, "DNN 128-128", "not in the sweep")
    sweep_id = sweep_runs(store, [0.91, 0.95, 0.93])
    app = page_of("compare")
    app.selectbox(key="filter_sweep").set_value(sweep_id).run()
    assert not app.exception
    assert len(app.dataframe[0].value) == 3 and "not in the sweep" not in shown_names(app)
    charts = [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]
    parallel = next(chart for chart in charts if chart["data"][0]["type"] == "parcoords")
    labels = [dimension["label"] for dimension in parallel["data"][0]["dimensions"]]
    assert labels == ["batch", "parameters (log)", "test accuracy"], (
        "only the settings that vary, then the score"
    )
    fronts = [trace for chart in charts for trace in chart["data"] if trace.get("name") == "Pareto front"]
    assert len(fronts) == 2, "accuracy against parameters and against seconds"
    settings = app.dataframe[1].value
    assert list(settings.index) == ["batch_size"], "only what differs"
    app.toggle(key="only_differences").set_value(False).run()
    assert "learning_rate" in app.dataframe[1].value.index


def test_the_pareto_front_keeps_the_runs_no_other_beats_on_both_counts():
    cost = pd.Series([1000, 2000, 3000, 1500, 5000])
    score = pd.Series([0.90, 0.95, 0.94, 0.89, 0.97])
    assert pareto_front(cost, score).tolist() == [True, True, False, False, True]


def test_without_optuna_the_sweep_form_says_how_to_install_it_and_runs_still_train(home, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # Importing it now fails, as where it is not installed.
    app = page_of("train")
    app.segmented_control(key="train_mode").set_value("Sweep").run()
    assert not app.exception
    assert any("pip install -r requirements-extras.txt" in info.value for info in app.info)
    app.segmented_control(key="train_mode").set_value("One run").run()
    assert not app.exception and app.button(key="start").disabled is False
