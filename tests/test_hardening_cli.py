"""The command line against files, names and stores that used to hang, exhaust memory,
forge output or crash it: each ends at once with a line that says what happened."""

import json
import os
import resource
import sqlite3
import subprocess
import sys

import pytest
from PIL import Image

from core.presets import get_preset
from core.runs import submit
from core.store import RunStore
from core.worker import run_worker
from tests.conftest import REPO_DIR

MLP = get_preset("MLP 32").config.with_changes(epochs=1, limit=2000)
MEMORY_LIMIT = 1536 * 1024 * 1024  # Far below the 3 GB file; enough for the CLI without TensorFlow.


def cli(*args, home, timeout=60, memory_limit=None):
    """Runs `python -m core ARGS` as a user would; optionally with a cap on its memory."""

    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    return subprocess.run(
        [sys.executable, "-m", "core", *map(str, args)],
        cwd=REPO_DIR,
        env={**os.environ, "DIGITLAB_HOME": str(home), "DIGITLAB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=limit_memory if memory_limit else None,
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist):
    """A home with one really trained MNIST run, and a digit drawn as a user would."""
    home = tmp_path_factory.mktemp("trained")
    store = RunStore(home)
    run_id = submit(store, MLP, "trained", start_worker=False)
    run_worker(store, idle_exit_seconds=0)
    assert store.get_run(run_id)["status"] == "completed"
    digit = home / "digit.png"
    Image.fromarray(255 - mnist[2][0]).save(digit)  # Dark ink on white.
    return home, run_id, digit


def test_predict_refuses_a_huge_sparse_file_without_reading_it(trained):
    home, run_id, _ = trained
    huge = home / "huge.png"
    with open(huge, "wb") as handle:
        handle.truncate(3 * 1024**3)  # 3 GB that take no disk: reading them takes 3 GB of memory.
    result = cli("predict", "--run", run_id, huge, home=home, memory_limit=MEMORY_LIMIT)
    assert result.returncode == 1, result.stderr
    assert result.stdout == f"{huge}: error: The file is larger than 10 MB: choose a smaller image.\n"
    assert "Traceback" not in result.stderr


def test_predict_refuses_a_device_and_a_named_pipe_at_once(trained):
    home, run_id, _ = trained
    pipe = home / "pipe.png"
    os.mkfifo(pipe)  # Reading it waits for a writer that never comes.
    result = cli("predict", "--run", run_id, pipe, "/dev/zero", home, home=home, memory_limit=MEMORY_LIMIT)
    assert result.returncode == 1, result.stderr
    refusal = "error: This is not a regular file (a folder, device or pipe): choose an image file."
    assert result.stdout.splitlines() == [f"{pipe}: {refusal}", f"/dev/zero: {refusal}", f"{home}: {refusal}"]


def test_a_file_name_with_a_newline_cannot_forge_an_output_line(trained):
    home, run_id, digit = trained
    forged = home / "7.png\nother.png: 1 (1.000)"
    forged.write_bytes(digit.read_bytes())
    missing = home / "gone\r.png"
    result = cli("predict", "--run", run_id, forged, digit, missing, home=home, timeout=180)
    lines = result.stdout.splitlines()
    assert len(lines) == 3, lines
    assert lines[0].startswith(repr(str(forged)) + ": ") and lines[0].endswith(")")
    assert lines[1].startswith(f"{digit}: ")
    assert lines[0].split(": ")[-1] == lines[1].split(": ")[-1], "the same digit, the same reading"
    assert lines[2].startswith(repr(str(missing)) + ": error: ")


def test_train_refuses_nan_infinite_and_huge_time_limits_and_queues_nothing(home):
    for value, message in [
        ("nan", "time_limit_minutes must be a finite number; got nan"),
        ("inf", "time_limit_minutes must be a finite number; got inf"),
        ("1e308", "The time limit is at most 24 hours (1440 minutes)"),
    ]:
        result = cli(
            "train", "--preset", "MLP 32", "--epochs", 1, "--limit", 2000, "--time-limit", value, home=home
        )
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1
        assert message in result.stderr
    assert json.loads(cli("runs", "--json", home=home).stdout) == []


def test_runs_lists_a_broken_run_once_and_delete_removes_it(home, store):
    good = submit(store, MLP, "good", start_worker=False)
    with sqlite3.connect(store.path) as db:
        broken = db.execute(
            "INSERT INTO runs (name, dataset, family, preset, config, status, created_at)"
            " VALUES ('nan run', 'mnist', 'dense', '', '{\"time_limit_minutes\": NaN}', 'completed', 0)"
        ).lastrowid
    result = cli("runs", home=home)
    assert result.returncode == 0, result.stderr
    assert sum("nan run" in line for line in result.stdout.splitlines()) == 1
    assert f"run {broken} is broken: The stored config holds NaN" in result.stdout
    listed = json.loads(cli("runs", "--json", home=home).stdout)
    assert sorted(run["id"] for run in listed) == [good, broken]
    predicted = cli("predict", "--run", broken, "x.png", home=home)
    assert predicted.returncode == 2 and "cannot be used: The stored config holds NaN" in predicted.stderr

    assert cli("delete", broken, home=home).stdout == f"run {broken} deleted\n"
    assert [run["id"] for run in json.loads(cli("runs", "--json", home=home).stdout)] == [good]


def test_cancel_all_empties_the_queue_and_cancel_one_says_what_happened(home, store):
    runs = [submit(store, MLP, f"queued {i}", start_worker=False) for i in range(3)]
    one = cli("cancel", runs[0], home=home)
    assert one.returncode == 0 and one.stdout == f"run {runs[0]} cancelled\n"
    again = cli("cancel", runs[0], home=home)
    assert again.returncode == 2 and "already cancelled" in again.stderr
    everything = cli("cancel", "--all", home=home)
    assert everything.returncode == 0 and everything.stdout == "2 queued runs cancelled\n"
    assert [store.get_run(run_id)["status"] for run_id in runs] == ["cancelled"] * 3
    assert cli("cancel", home=home).returncode == 2, "a run id or --all is required"


def test_backup_and_restore_round_trip_through_a_damaged_store(home, store):
    kept = [submit(store, MLP, name, start_worker=False) for name in ("first", "second")]
    made = cli("backup", home=home)
    assert made.returncode == 0, made.stderr
    backup = made.stdout.strip().rsplit(" ", 1)[-1]
    assert backup.startswith(str(home / "backups" / "runs-")) and backup.endswith(".sqlite")
    store.path.write_bytes(b"garbage, as a failing disk writes it " * 500)

    damaged = cli("runs", home=home)
    assert damaged.returncode == 2
    assert "is damaged" in damaged.stderr and backup in damaged.stderr and "start afresh" in damaged.stderr

    restored = cli("restore", backup, home=home)
    assert restored.returncode == 0, restored.stderr
    assert "runs.sqlite.before-restore" in restored.stdout
    assert (home / "runs.sqlite.before-restore").read_bytes().startswith(b"garbage")
    listed = json.loads(cli("runs", "--json", home=home).stdout)
    assert sorted(run["id"] for run in listed) == kept
    refused = cli("restore", home / "runs.sqlite.before-restore", home=home)
    assert refused.returncode == 2 and "not a Digit Lab run store" in refused.stderr
