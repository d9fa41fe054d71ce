"""Command line: the same code paths as the app.

python -m core train --preset "CNN 3-conv" --epochs 2 --limit 2000 [--budget SECONDS]
python -m core continue RUN_ID --epochs 5
python -m core fine-tune RUN_ID
python -m core race --budget 60 [--preset "Best CNN" --preset "Best GRU" ...]
python -m core runs [--json]
python -m core presets
python -m core predict --run 3 digit.png
python -m core cancel RUN_ID | --all
python -m core delete RUN_ID
python -m core backup [FILE]
python -m core restore FILE
python -m core worker      (a dispatcher to a Ray cluster when DIGITLAB_RAY_ADDRESS is set)
python -m core reader
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from core.architecture import validate
from core.cluster import cluster_address, cluster_problem
from core.config import DATASETS
from core.model_files import remove_leftover_temporaries
from core.presets import PRESET_LIST, get_preset
from core.race import DEFAULT_BUDGET_SECONDS, RACE_PRESETS, submit_race
from core.runs import submit, submit_continuation, submit_fine_tune
from core.store import FINAL, RunStore, backup_store, default_home, restore_store
from core.worker import ensure_workers, reap_dead_runs, run_worker


def main(argv: list[str] | None = None) -> int:
    """Runs one CLI command; returns the exit code (0 success, 1 failed run, 2 bad input,
    130 cancelled run)."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (ValueError, RuntimeError, OSError) as error:
        print(f"error: {str(error).splitlines()[0] if str(error) else type(error).__name__}", file=sys.stderr)
        return 2


class OneLineErrorParser(argparse.ArgumentParser):
    """An argument parser whose errors are one `error: ...` line (exit 2), like every
    other CLI error; `--help` still shows the usage."""

    def error(self, message):
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def _parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog="python -m core", description="Digit Lab engine")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="queue a run, let a worker train it, follow it")
    train.add_argument("--preset", default="Quick CNN", help="a name from 'presets'")
    train.add_argument("--dataset", choices=DATASETS)
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--learning-rate", type=float)
    train.add_argument("--seed", type=int)
    train.add_argument("--limit", type=int, help="train on the first N training items")
    train.add_argument("--time-limit", type=float, help="minutes before training stops")
    train.add_argument(
        "--budget", type=float, help="seconds of training; the learning-rate schedule ends with them"
    )
    train.add_argument("--name", default="", help="a name for the run")
    train.set_defaults(handler=_train)

    go_on = commands.add_parser("continue", help="train a completed run more epochs, as a new run")
    go_on.add_argument("run_id", type=int)
    go_on.add_argument("--epochs", type=int, required=True, help="how many more epochs")
    go_on.add_argument("--learning-rate", type=float, help="default: the run's (a tenth of it after cosine)")
    go_on.add_argument("--name", default="", help="a name for the run")
    go_on.set_defaults(handler=_continue)

    fine_tune = commands.add_parser(
        "fine-tune", help="teach a completed digits run your saved drawings, as a new run"
    )
    fine_tune.add_argument("run_id", type=int)
    fine_tune.add_argument("--name", default="", help="a name for the run")
    fine_tune.set_defaults(handler=_fine_tune)

    race = commands.add_parser("race", help="train several presets for the same budget in seconds each")
    race.add_argument("--budget", type=float, default=DEFAULT_BUDGET_SECONDS, help="seconds per model")
    defaults = ", ".join(RACE_PRESETS)
    race.add_argument("--preset", action="append", help=f"repeat for each (default: {defaults})")
    race.add_argument("--dataset", choices=DATASETS, default="mnist")
    race.add_argument("--limit", type=int, default=0, help="train on the first N training items")
    race.set_defaults(handler=_race)

    runs = commands.add_parser("runs", help="list runs, best first")
    runs.add_argument("--json", action="store_true")
    runs.set_defaults(handler=_runs)

    presets = commands.add_parser("presets", help="list presets")
    presets.set_defaults(handler=_presets)

    predict = commands.add_parser("predict", help="predict the digit in image files")
    predict.add_argument("--run", type=int, required=True)
    predict.add_argument("images", nargs="+", type=Path)
    predict.set_defaults(handler=_predict)

    cancel = commands.add_parser("cancel", help="cancel a queued run or stop a running one")
    target = cancel.add_mutually_exclusive_group(required=True)
    target.add_argument("run_id", nargs="?", type=int, help="the run to cancel or stop")
    target.add_argument("--all", action="store_true", help="cancel every queued run at once")
    cancel.set_defaults(handler=_cancel)

    delete = commands.add_parser("delete", help="delete a run and its model")
    delete.add_argument("run_id", type=int)
    delete.set_defaults(handler=_delete)

    backup = commands.add_parser("backup", help="copy the run store into a backup file (safe while training)")
    backup.add_argument("file", nargs="?", type=Path, help="default: <home>/backups/runs-DATE-TIME.sqlite")
    backup.set_defaults(handler=_backup)

    restore = commands.add_parser(
        "restore", help="replace the run store with a backup (stop training first; the current one is kept)"
    )
    restore.add_argument("file", type=Path)
    restore.set_defaults(handler=_restore)

    reader = commands.add_parser("reader", help="serve readings of trained models to the app")
    reader.add_argument("--idle-exit", type=float, help="exit after this many idle seconds")
    reader.set_defaults(handler=_reader)

    worker = commands.add_parser(
        "worker", help="execute queued runs (on the Ray cluster of DIGITLAB_RAY_ADDRESS, when set)"
    )
    worker.add_argument("--idle-exit", type=float, help="exit after this many idle seconds")
    worker.set_defaults(handler=_worker)
    return parser


def _train(args) -> int:
    config = get_preset(args.preset).config
    overrides = {
        "dataset": args.dataset,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "seed": args.seed,
        "limit": args.limit,
        "time_limit_minutes": args.time_limit,
        "time_budget_seconds": args.budget,
    }
    config = config.with_changes(**{key: value for key, value in overrides.items() if value is not None})
    store = RunStore()
    run_id = submit(store, config, args.name)
    params = store.get_run(run_id)["params"]
    print(f"run {run_id} queued: {config.preset or config.family} on {config.dataset}, {params:,} parameters")
    return _follow(store, run_id)


def _continue(args) -> int:
    store = RunStore()
    run_id = submit_continuation(store, args.run_id, args.epochs, args.learning_rate, args.name)
    print(f"run {run_id} queued: run {args.run_id} continued for {args.epochs} more epochs")
    return _follow(store, run_id)


def _fine_tune(args) -> int:
    store = RunStore()
    run_id = submit_fine_tune(store, args.run_id, args.name)
    print(f"run {run_id} queued: run {args.run_id} learns your {len(store.drawings())} drawings")
    return _follow(store, run_id)


def _race(args) -> int:
    store = RunStore()
    run_ids = submit_race(store, args.preset or list(RACE_PRESETS), args.budget, args.dataset, args.limit)
    print(f"runs {', '.join(map(str, run_ids))} queued: {args.budget:g} seconds each, one after another")
    return max(_follow(store, run_id) for run_id in run_ids)


def _follow(store: RunStore, run_id: int) -> int:
    printed = 0
    shown_problem = None
    try:
        while True:
            run = store.get_run(run_id)
            if run is None:
                print(f"error: run {run_id} was deleted", file=sys.stderr)
                return 1
            for row in store.epochs([run_id]).itertuples():
                if row.epoch > printed:
                    printed = row.epoch
                    print(
                        f"epoch {row.epoch}/{run['config'].epochs} loss={row.loss:.4f} "
                        f"accuracy={row.accuracy:.4f} val_loss={row.val_loss:.4f} "
                        f"val_accuracy={row.val_accuracy:.4f} seconds={row.seconds:.1f}",
                        flush=True,
                    )
            if run["status"] in FINAL:
                return _print_outcome(store, run)
            problem = cluster_problem(store.home) if run["status"] == "queued" else None
            if problem and problem != shown_problem:
                print(f"waiting: {problem}", file=sys.stderr, flush=True)
            shown_problem = problem
            ensure_workers(store)  # Also marks the run failed if its worker died.
            time.sleep(0.5)
    except KeyboardInterrupt:
        print(f"stopping run {run_id}...", file=sys.stderr)
        store.request_stop(run_id)
        return _follow(store, run_id)


def _print_outcome(store: RunStore, run: dict) -> int:
    if run["status"] == "completed":
        note = f" ({run['note']})" if run["note"] else ""
        print(
            f"run {run['id']} completed: test_accuracy={run['test_accuracy']:.4f} "
            f"test_loss={run['test_loss']:.4f} params={run['params']} "
            f"seconds={run['total_seconds']:.1f} ms_per_prediction={run['ms_per_prediction']:.2f} "
            f"model={store.model_path(run['id'])}{note}"
        )
        return 0
    if run["status"] == "cancelled":
        print(f"run {run['id']} cancelled")
        return 130
    print(f"error: run {run['id']} failed: {run['error']}", file=sys.stderr)
    return 1


def _runs(args) -> int:
    store = RunStore()
    if store.read_only_reason:
        print(f"note: {store.read_only_reason}", file=sys.stderr)
    else:
        reap_dead_runs(store)
        remove_leftover_temporaries(store.models_dir)
    table = store.runs_table()
    if args.json:
        print(table.to_json(orient="records"))
        return 0
    if table.empty:
        print("no runs yet: try 'python -m core train --preset \"Quick CNN\"'")
        return 0
    columns = [
        "id",
        "name",
        "status",
        "dataset",
        "params",
        "epochs_done",
        "test_accuracy",
        "seconds_per_epoch",
    ]
    shown = table[columns].assign(name=table["name"].map(_shown))
    print(shown.to_string(index=False, float_format=lambda value: f"{value:.4f}"))
    broken = table[table["config_error"] != ""]
    for run_id, problem in zip(broken["id"], broken["config_error"], strict=True):
        print(f"run {run_id} is broken: {problem} Delete it with 'python -m core delete {run_id}'.")
    return 0


def _shown(name) -> str:
    """Returns a name as typed, or quoted with escapes (as repr does) when it holds a
    newline or another unprintable character, so a name can never forge an output line."""
    text = str(name)
    return text if text.isprintable() else repr(text)


def _cancel(args) -> int:
    store = RunStore()
    if args.all:
        count = store.cancel_queued()
        print(f"{count} queued run{'' if count == 1 else 's'} cancelled")
        return 0
    run = store.get_run(args.run_id)
    if run is None:
        raise ValueError(f"Run {args.run_id} does not exist.")
    if run["status"] in FINAL:
        raise ValueError(f"Run {args.run_id} is already {run['status']}: there is nothing to cancel.")
    store.request_stop(args.run_id)
    if store.get_run(args.run_id)["status"] == "cancelled":
        print(f"run {args.run_id} cancelled")
    else:
        print(f"run {args.run_id} stops after its current batch")
    return 0


def _delete(args) -> int:
    store = RunStore()
    if store.get_run(args.run_id) is None:
        raise ValueError(f"Run {args.run_id} does not exist.")
    store.delete_run(args.run_id)
    print(f"run {args.run_id} deleted")
    return 0


def _backup(args) -> int:
    print(f"backed up the run store to {backup_store(default_home(), args.file)}")
    return 0


def _restore(args) -> int:
    home = default_home()
    kept = restore_store(home, args.file)
    store = RunStore(home)
    aside = f"; the previous store is kept as {kept}" if kept else ""
    print(f"restored {_shown(args.file)} into {store.path}{aside}")
    orphans = store.orphaned_model_files()
    if orphans:
        print(f"{len(orphans)} model files in {store.models_dir} belong to no run of the restored store")
    return 0


def _presets(args) -> int:
    for preset in PRESET_LIST:
        config = preset.config
        print(
            f"{preset.name:24} {config.dataset:10} {config.family:10} "
            f"{validate(config):>10,}  {preset.description}"
        )
    return 0


def _predict(args) -> int:
    from core.preprocess import decode_image, prepare_digit, read_image_file

    store = RunStore()
    run = store.get_run(args.run)
    if run is None:
        raise ValueError(f"Run {args.run} does not exist (it may have been deleted).")
    if run["dataset"] != "mnist":
        raise ValueError(
            f"Run {args.run} was trained on {run['dataset']}: predict reads digits, so it needs an MNIST run."
        )
    if run["config"] is None:
        raise ValueError(f"Run {args.run} cannot be used: {run['config_error']}")
    # Every file is checked and read before the model loads (seconds), so bad files fail fast.
    readings = []
    for path in args.images:
        try:
            readings.append((path, prepare_digit(decode_image(read_image_file(path)))))
        except (ValueError, OSError) as error:
            readings.append((path, error))
    predictor = None
    for path, image in readings:
        if isinstance(image, Exception):
            print(f"{_shown(path)}: error: {_shown(image)}")
            continue
        if predictor is None:
            from core.predict import load_predictor

            predictor = load_predictor(store, args.run)
        probabilities = predictor.predict_images(image[None])[0]
        digit = int(probabilities.argmax())
        print(f"{_shown(path)}: {digit} ({probabilities[digit]:.3f})")
    return 1 if any(isinstance(image, Exception) for _, image in readings) else 0


def _reader(args) -> int:
    from core.reader import ReaderServer

    ReaderServer(RunStore(), args.idle_exit).serve()
    return 0


def _worker(args) -> int:
    if cluster_address():
        from core.dispatcher import run_dispatcher

        executed = run_dispatcher(RunStore(), args.idle_exit)
    else:
        executed = run_worker(RunStore(), args.idle_exit)
    print(json.dumps({"runs_executed": executed}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
