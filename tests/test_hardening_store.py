"""Rows, files and disks that used to break the store: each is refused or survived, and
says what happened. Real SQLite files, real mounts where the machine allows them."""

import math
import os
import subprocess

import pytest

from core.architecture import ConfigError, validate
from core.config import ConfigUnreadable, LayerSpec, RunConfig
from core.presets import get_preset
from core.runs import QueueFull, submit
from core.store import RunStore, StoreError, StoreReadOnly, backup_store, restore_store
from tests.helpers import insert_raw_run

MLP = get_preset("MLP 32").config.with_changes(epochs=1, limit=2000)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_or_infinite_setting_is_refused_naming_the_field_and_nothing_is_queued(store, value):
    for changes, field in [
        ({"time_limit_minutes": value}, "time_limit_minutes"),
        ({"learning_rate": value}, "learning_rate"),
        ({"validation_split": value}, "validation_split"),
        ({"layers": (LayerSpec("dense", units=32), LayerSpec("dropout", rate=value))}, "rate"),
    ]:
        with pytest.raises(ConfigError, match=f"{field} must be a finite number"):
            submit(store, MLP.with_changes(**changes), start_worker=False)
    with pytest.raises(ValueError):
        MLP.with_changes(time_limit_minutes=value).to_json()  # JSON has no NaN: never written.
    assert store.runs_table().empty


def test_time_limit_over_a_day_is_refused_with_the_cap_in_the_message():
    with pytest.raises(ConfigError, match=r"at most 24 hours \(1440 minutes\)"):
        validate(MLP.with_changes(time_limit_minutes=1e308))
    assert validate(MLP.with_changes(time_limit_minutes=1440)) > 0


@pytest.mark.parametrize(
    "config_text",
    [
        '{"epochs": NaN}',
        '{"learning_rate": Infinity}',
        "{not json",
        "[1, 2, 3]",
        '"text"',
        '{"epochs": "five"}',
        '{"layers": [{"units": 3}]}',
        '{"layers": 7}',
    ],
)
def test_run_with_an_unreadable_config_is_one_broken_row_that_can_be_deleted(store, config_text):
    good = submit(store, MLP, "good", start_worker=False)
    broken = insert_raw_run(store, config_text, "broken", status="queued")

    table = store.runs_table()
    assert sorted(table["id"]) == [good, broken], "every run is listed, the broken one once"
    row = table.set_index("id").loc[broken]
    assert row["config_error"].startswith("The stored config"), row["config_error"]
    assert table.set_index("id").loc[good, "config_error"] == ""
    assert table.set_index("id").loc[good, "epochs"] == 1
    assert [run["epochs"] for run in store.active_runs()] == [1, None]
    run = store.get_run(broken)
    assert run["config"] is None and run["config_error"] == row["config_error"]
    assert store.get_run(good)["config_error"] == ""

    store.delete_run(broken)
    assert list(store.runs_table()["id"]) == [good]


def test_config_from_another_version_ignores_unknown_keys_and_takes_defaults_for_missing_ones(store):
    text = (
        '{"dataset": "mnist", "family": "dense", "epochs": 3, "bogus": 1, '
        '"layers": [{"kind": "dense", "units": 16, "glow": true}]}'
    )
    run_id = insert_raw_run(store, text)
    config = store.get_run(run_id)["config"]
    assert config == RunConfig(
        dataset="mnist", family="dense", epochs=3, layers=(LayerSpec("dense", units=16),)
    )
    assert store.runs_table()["config_error"].tolist() == [""]
    with pytest.raises(ConfigUnreadable, match=r"config.epochs should be a whole number"):
        RunConfig.from_json('{"epochs": "3"}')


def test_queue_holds_at_most_the_setting_and_cancel_queued_empties_it_at_once(store, monkeypatch):
    queued = [submit(store, MLP, f"run {i}", start_worker=False) for i in range(20)]  # The default cap.
    with pytest.raises(QueueFull, match=r"20 runs already wait.*DIGITLAB_MAX_QUEUED=20.*cancel --all"):
        submit(store, MLP, "one too many", start_worker=False)
    assert store.count_queued() == 20 and len(queued) == 20

    assert store.cancel_queued() == 20
    assert store.count_queued() == 0
    assert set(store.runs_table()["status"]) == {"cancelled"}
    monkeypatch.setenv("DIGITLAB_MAX_QUEUED", "2")
    submit(store, MLP, start_worker=False)
    submit(store, MLP, start_worker=False)
    with pytest.raises(QueueFull, match="DIGITLAB_MAX_QUEUED=2"):
        submit(store, MLP, start_worker=False)


def test_truncated_store_beside_models_is_refused_and_a_backup_brings_the_runs_back(store):
    runs = [store.create_run(MLP, 25_450, f"run {i}") for i in range(3)]
    for run_id in runs:
        store.model_path(run_id).write_bytes(b"a model")  # Only the file name matters to the store.
    backup = backup_store(store.home)
    os.truncate(store.path, 0)  # What a crash or a bad copy leaves.

    with pytest.raises(StoreError) as refused:
        RunStore(store.home)
    message = str(refused.value)
    assert "empty (new, or truncated)" in message and "3 models of earlier runs" in message
    assert "python -m core restore FILE" in message and str(backup) in message
    assert "move the models folder away" in message

    restore_store(store.home, backup)
    assert sorted(RunStore(store.home).runs_table()["id"]) == runs


def test_a_new_run_never_takes_the_id_of_an_existing_model_file(store):
    first = store.create_run(MLP, 25_450, "kept")
    backup = backup_store(store.home)
    later = [store.create_run(MLP, 25_450, "later") for _ in range(2)]
    for run_id in later:
        store.model_path(run_id).write_bytes(b"the model of a run the backup does not know")
    restore_store(store.home, backup)  # The store goes back to before the later runs.
    restored = RunStore(store.home)

    assert restored.orphaned_model_files() == [restored.model_path(run_id) for run_id in later]
    new = restored.create_run(MLP, 25_450, "new")
    assert new > max(later) and new != first
    assert all(restored.model_path(run_id).read_bytes().startswith(b"the model") for run_id in later)


def test_damaged_store_says_so_where_the_backups_are_and_how_to_start_afresh(store):
    store.create_run(MLP, 25_450, "lost")
    backup = backup_store(store.home)
    store.path.write_bytes(os.urandom(16384))

    with pytest.raises(StoreError) as refused:
        RunStore(store.home)
    message = str(refused.value)
    assert "is damaged" in message and "writable" not in message
    assert str(backup) in message and "python -m core restore FILE" in message
    assert "start afresh" in message

    kept = restore_store(store.home, backup)
    assert kept == store.home / "runs.sqlite.before-restore" and kept.stat().st_size == 16384
    assert RunStore(store.home).runs_table()["name"].tolist() == ["lost"]
    with pytest.raises(StoreError, match="not a Digit Lab run store"):
        restore_store(store.home, kept)  # Garbage is never restored.


def test_full_disk_opens_the_store_read_only_with_a_reason_and_refuses_writes(tiny_disk):
    home = tiny_disk / "home"
    writable = RunStore(home)
    run_id = writable.create_run(MLP, 25_450, "browse me")
    with pytest.raises(OSError), open(tiny_disk / "filler", "wb") as filler:
        while True:
            filler.write(b"\0" * 65536)
            filler.flush()

    store = RunStore(home)  # Opening used to fail: it writes (journal mode, schema).
    assert store.read_only_reason and "disk holding" in store.read_only_reason
    assert "full" in store.read_only_reason and "free some space" in store.read_only_reason
    assert store.runs_table()["name"].tolist() == ["browse me"]
    assert store.get_run(run_id)["config"] == MLP
    for write in (
        lambda: store.create_run(MLP, 1),
        lambda: store.delete_run(run_id),
        lambda: store.request_stop(run_id),
        store.cancel_queued,
    ):
        with pytest.raises(StoreReadOnly, match="is full"):
            write()
    assert store.get_run(run_id)["status"] == "queued", "nothing changed"

    os.unlink(tiny_disk / "filler")
    again = RunStore(home)
    assert again.read_only_reason is None
    again.request_stop(run_id)
    assert again.get_run(run_id)["status"] == "cancelled"


def test_read_only_folder_opens_the_store_read_only_with_a_reason(tmp_path):
    source = tmp_path / "source"
    store = RunStore(source / "home")
    store.create_run(MLP, 25_450, "on a read-only disk")
    view = tmp_path / "view"
    view.mkdir()
    if os.geteuid() == 0:  # Root ignores permissions: make the file system itself read-only.
        subprocess.run(["mount", "--bind", str(source), str(view)], check=True)
        subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], check=True)
        home = view / "home"
    else:
        home = source / "home"
        for path in (store.models_dir, store.path, store.home):
            path.chmod(0o555)
    try:
        read_only = RunStore(home)
        assert read_only.read_only_reason and "set DIGITLAB_HOME" in read_only.read_only_reason
        assert read_only.runs_table()["name"].tolist() == ["on a read-only disk"]
        with pytest.raises(StoreReadOnly):
            read_only.create_run(MLP, 1)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(view)], check=True)
        else:
            for path in (store.home, store.models_dir, store.path):
                path.chmod(0o755)
