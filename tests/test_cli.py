"""The command line as a user types it: output lines and exit codes."""

import json
import re
import subprocess
import sys

from PIL import Image

from tests.conftest import REPO_DIR


def cli(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "core", *args], cwd=REPO_DIR, capture_output=True, text=True, timeout=timeout
    )


def test_train_prints_epochs_and_test_accuracy_then_runs_lists_it_and_predict_reads_digits(home, mnist):
    result = cli("train", "--preset", "MLP 32", "--epochs", "2", "--limit", "1000", "--name", "cli run")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert sum(line.startswith("epoch ") for line in lines) == 2
    final = re.search(r"run (\d+) completed: test_accuracy=(0\.\d{4})", result.stdout)
    assert final and float(final.group(2)) > 0.5
    listed = json.loads(cli("runs", "--json").stdout)
    assert [run["name"] for run in listed] == ["cli run"]
    assert listed[0]["id"] == int(final.group(1))

    x_test, y_test = mnist[2], mnist[3]
    images = []
    for index in range(5):
        images.append(home / f"digit-{index}.png")
        Image.fromarray(255 - x_test[index]).save(images[-1])  # Dark ink on white, as drawn.
    (home / "notes.png").write_text("not an image")
    result = cli("predict", "--run", final.group(1), *map(str, images), str(home / "notes.png"))
    assert result.returncode == 1, "one file could not be read"
    lines = result.stdout.splitlines()
    readings = [
        re.fullmatch(rf"{re.escape(str(path))}: (\d) \((0\.\d{{3}}|1\.000)\)", line)
        for path, line in zip(images, lines[:-1], strict=True)
    ]
    assert len(lines) == 6 and all(readings), lines
    assert (
        sum(int(reading.group(1)) == label for reading, label in zip(readings, y_test[:5], strict=True)) >= 4
    )
    assert lines[-1].startswith(f"{home / 'notes.png'}: error: ")


def test_bad_input_exits_non_zero_with_one_line_and_no_traceback(home, store):
    from core.presets import get_preset
    from tests.helpers import queue

    fashion_run = queue(store, get_preset("MLP 32").config.with_changes(dataset="fashion_mnist"))
    for args, message in [
        (["train", "--epochs", "0"], "Epochs must be between 1"),
        (["train", "--preset", "Nope"], "No preset named 'Nope'"),
        (["train", "--learning-rate", "-1"], "Learning rate must be greater than 0"),
        (["train", "--batch-size", "50000", "--limit", "100"], "Batch size 50000 is larger"),
        (["train", "--batch-size", "12000"], "larger than the 9,000 training items"),  # The offline copy.
        (["train", "--epochs", "abc"], "invalid int value: 'abc'"),
        (["train", "--dataset", "cifar"], "invalid choice: 'cifar'"),
        (["fly"], "invalid choice: 'fly'"),
        (["predict", "--run", "99", "x.png"], "Run 99 does not exist"),
        (["predict", "--run", str(fashion_run), "x.png"], "needs an MNIST run"),
    ]:
        result = cli(*args)
        assert result.returncode == 2, args
        assert "Traceback" not in result.stderr
        assert result.stderr.strip().startswith("error: ") and message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    listed = [run["id"] for run in json.loads(cli("runs", "--json").stdout)]
    assert listed == [fashion_run], "no bad input left a run behind"


def test_presets_lists_every_reference_model_with_its_parameters(home):
    output = cli("presets").stdout
    for name, params in [("CNN 3-conv", "93,322"), ("DNN 128-128", "118,282"), ("LSTM 50", "16,310")]:
        assert re.search(rf"^{name}\s.*\s{params}\s", output, re.MULTILINE)
