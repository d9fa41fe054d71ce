"""The Train page's Race mode and the Continue training control, through AppTest."""

import base64
import json
import os

import numpy as np

from core.presets import get_preset
from tests.page_helpers import page_of, stored_run, stub_workers


def plotted(values) -> list[float]:
    """A Plotly array as sent to the browser: a list, or typed bytes (`bdata`)."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).tolist()
    return list(values)


def test_a_race_queues_every_model_with_one_budget_and_shows_them_against_seconds(store, monkeypatch):
    stub_workers(monkeypatch)
    app = page_of("train")
    app.segmented_control(key="train_mode").set_value("Race").run()
    app.multiselect(key="race_presets").set_value(["Best dense", "Quick CNN"]).run()
    app.number_input(key="race_budget").set_value(0).run()
    app.button(key="start_race").click().run()
    assert [error.value for error in app.error] == ["The budget is 5 to 3,600 seconds per model; got 0."]
    assert store.runs_table().empty, "nothing is queued"

    app.number_input(key="race_budget").set_value(30).run()
    app.button(key="start_race").click().run()
    run_ids = sorted(store.runs_table()["id"].tolist())
    assert app.query_params["race"] == ",".join(map(str, run_ids))
    configs = [store.get_run(run_id)["config"] for run_id in run_ids]
    assert [(c.preset, c.time_budget_seconds) for c in configs] == [("Best dense", 30), ("Quick CNN", 30)]
    assert app.dataframe[0].value["model"].tolist() == ["Best dense", "Quick CNN"]

    first = run_ids[0]  # The first racer trains two epochs of 10 and 12 seconds.
    assert store.claim_next(os.getpid()) == first
    for epoch, seconds in ((1, 10.0), (2, 12.0)):
        store.add_epoch(
            first,
            epoch,
            {"loss": 1.0, "accuracy": 0.5, "val_loss": 1.0, "val_accuracy": 0.5, "seconds": seconds},
        )
    app.run()
    assert not app.exception
    spec = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert plotted(spec["data"][0]["x"]) == [10.0, 22.0], "curves run against seconds of training"
    assert spec["layout"]["xaxis"]["title"]["text"] == "seconds of training"


def test_continue_training_on_compare_queues_a_run_linked_to_its_parent(store, monkeypatch):
    stub_workers(monkeypatch)
    parent = stored_run(store, "DNN 128-128", "parent")
    store.model_path(parent).write_bytes(b"a model")  # Only its presence is checked before queueing.
    app = page_of("compare")
    app.selectbox(key="detail_run").set_value(parent).run()
    app.number_input(key="compare_more").set_value(3).run()
    app.button(key="compare_continue").click().run()
    assert not app.exception
    child = store.get_run(int(store.runs_table()["id"].max()))
    assert child["parent_run_id"] == parent and child["status"] == "queued"
    assert (child["config"].start_from, child["config"].epochs) == ("continue", 3)
    assert child["config"].layers == get_preset("DNN 128-128").config.layers

    metrics = {"loss": 0.5, "accuracy": 0.8, "val_loss": 0.5, "val_accuracy": 0.8, "seconds": 1.0}
    store.add_epoch(parent, 1, metrics)
    store.add_epoch(child["id"], 2, metrics)
    train = page_of("train", run=str(child["id"]))
    spec = json.loads(train.get("plotly_chart")[0].proto.spec)
    names = [trace["name"] for trace in spec["data"]]
    assert f"#{parent} (went on from) train" in names, "the parent's curves come first"
    assert f"{child['name']} train" in names
