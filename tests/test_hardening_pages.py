"""What the pages do with what broke: an unreadable run row, a store that cannot be
written, a long queue (AppTest, real SQLite, no TensorFlow)."""

import os

from core.presets import get_preset
from core.store import RunStore
from devtools.app_server import kill_workers
from tests.helpers import insert_raw_run
from tests.page_helpers import page_of, stored_run

MLP = get_preset("MLP 32").config


def test_an_unreadable_run_is_one_row_that_says_so_and_can_be_deleted(store):
    good = stored_run(store, "MLP 32", "good run")
    broken = insert_raw_run(store, '{"epochs": NaN', "broken run")
    for page in ("home", "train", "draw", "compare"):
        assert not page_of(page).exception, page
    app = page_of("compare")
    table = app.dataframe[0].value
    assert table.set_index("id").loc[broken, "status"] == "⚠️ unreadable"
    app.selectbox(key="detail_run").set_value(broken).run()
    assert "cannot be read" in app.error[0].value
    app.button(key="delete").click().run()
    app.button(key="delete_yes").click().run()
    assert store.get_run(broken) is None and store.get_run(good)["status"] == "completed"


def test_a_full_disk_shows_a_banner_and_every_page_still_browses(tiny_disk, monkeypatch):
    home = tiny_disk / "home"
    run_id = stored_run(RunStore(home), "MLP 32", "kept run")
    with open(tiny_disk / "filler", "wb") as filler:
        try:
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        except OSError:
            pass  # The disk is full now.
    monkeypatch.setenv("DIGITLAB_HOME", str(home))
    for page in ("home", "data", "train", "compare", "draw", "text"):
        app = page_of(page)
        assert "full" in app.warning[0].value and "nothing can be trained" in app.warning[0].value, page
    assert RunStore(home).get_run(run_id)["status"] == "completed"
    os.unlink(tiny_disk / "filler")


def test_cancel_all_queued_empties_the_queue_in_one_click(store, home):
    slow = MLP.with_changes(epochs=200, limit=5000)
    first, *rest = [store.create_run(slow, 25_450, f"run {i}") for i in range(4)]
    try:
        app = page_of("train", run=str(first))
        app.button(key="cancel_all_queued").click().run()
        statuses = [store.get_run(run_id)["status"] for run_id in rest]
        assert statuses.count("cancelled") >= 2 and "queued" not in statuses
    finally:
        for run_id in (first, *rest):
            store.request_stop(run_id)
        kill_workers(home)
