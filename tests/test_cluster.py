"""Runs on a Ray cluster: a real local Ray instance started here (once for the module),
the dispatcher as `python -m core worker` started by the app's own `ensure_workers`;
and the device every run records."""

import os
import re
import signal
import subprocess
import sys

import pytest

from core.cluster import cluster_problem
from core.presets import get_preset
from core.processes import process_alive
from core.store import RunStore
from core.worker import collect_exited_children, ensure_workers, reap_dead_runs
from devtools.app_server import free_port
from tests.conftest import REPO_DIR
from tests.helpers import QUICK, queue, wait_for, wait_for_status
from tests.page_helpers import page_of
from tests.training_helpers import run_now

# Many short epochs (113 batches of 8): the first ends within seconds, the run goes on.
LONG = get_preset("DNN 128-128").config.with_changes(limit=1000, epochs=200, batch_size=8)


@pytest.fixture(scope="module")
def cluster():
    """A local Ray instance with 2 CPUs and no GPU (this process is its first driver);
    its address."""
    ray = pytest.importorskip("ray")
    environment = dict(os.environ)  # Ray sets a few variables (its auth mode) for its children.
    context = ray.init(address="local", num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False)
    yield context.address_info["gcs_address"]
    ray.shutdown()
    os.environ.clear()
    os.environ.update(environment)


@pytest.fixture(scope="module")
def lab(cluster, tmp_path_factory):
    """A store whose runs train on the cluster, two at once; the dispatchers started
    for it are ended afterwards."""
    home = tmp_path_factory.mktemp("cluster-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DIGITLAB_HOME", str(home))
        patch.setenv("DIGITLAB_RAY_ADDRESS", cluster)
        patch.setenv("DIGITLAB_WORKERS", "2")
        store = RunStore(home)
        yield store
        end_dispatchers(store)


def end_dispatchers(store: RunStore) -> None:
    """Ends the dispatchers (started by this process) of a store, and waits for them."""
    for worker in store.workers():
        if process_alive(worker["pid"]):
            os.kill(worker["pid"], signal.SIGTERM)
    wait_for(lambda: collect_exited_children() or not any(process_alive(w["pid"]) for w in store.workers()))


def ray_worker_pid(store: RunStore, run_id: int) -> int:
    """The pid of the Ray worker process training a run, from the dispatcher's log."""
    pattern = rf"run {run_id}: training in Ray worker pid (\d+)"

    def logged():
        match = re.search(pattern, (store.home / "worker.log").read_text())
        return match and int(match[1])

    return wait_for(logged, message=f"run {run_id} to begin on the cluster")


def test_two_runs_train_at_once_through_ray_with_their_curves(lab):
    first, second = queue(lab, QUICK, "first"), queue(lab, QUICK, "second")
    assert ensure_workers(lab) == 1, "one dispatcher, whatever DIGITLAB_WORKERS says"
    assert ensure_workers(lab) == 0
    runs = [wait_for_status(lab, run_id, ("completed",)) for run_id in (first, second)]
    assert runs[0]["started_at"] < runs[1]["finished_at"] and runs[1]["started_at"] < runs[0]["finished_at"]
    dispatcher = runs[0]["worker_pid"]
    assert dispatcher == runs[1]["worker_pid"] != os.getpid()
    pids = {ray_worker_pid(lab, run_id) for run_id in (first, second)}
    assert dispatcher not in pids and len(pids) == 2, "each trained in its own Ray worker"
    for run in runs:
        epochs = lab.epochs([run["id"]])
        assert list(epochs["epoch"]) == [1] and epochs["val_accuracy"].notna().all()
        assert run["device"] == "CPU" and run["data_source"].startswith("MNIST, offline subset")
        assert run["test_accuracy"] > 0 and run["best_val_accuracy"] == epochs["val_accuracy"].max()
        assert lab.model_path(run["id"]).is_file()
    assert not list(lab.models_dir.glob(".*tmp*")), "no temporary file is left"


def test_a_sweep_fans_out_over_the_cluster_and_the_dispatcher_prunes_a_poor_trial(lab):
    from core.sweep_spec import SweepParameter, SweepSpec
    from core.sweeps import start_sweep, sweep_summary

    base = QUICK.with_changes(epochs=2, augment=False)
    learning_rate = SweepParameter("learning_rate", 1e-5, 1e-2)
    spec = SweepSpec(base, (learning_rate,), trials=4, search="grid", pruning=True, name="on the cluster")
    sweep_id = start_sweep(lab, spec)
    wait_for(lambda: lab.get_sweep(sweep_id)["status"] == "completed", timeout=300, message="the sweep")
    trials = [lab.get_run(trial["run"]) for trial in sweep_summary(lab, sweep_id)[1]]
    assert len({run["worker_pid"] for run in trials}) == 1, "every trial went through the one dispatcher"
    pruned = [run for run in trials if run["status"] == "pruned"]
    assert pruned and len(pruned) + sum(run["status"] == "completed" for run in trials) == 4
    for run in pruned:
        assert run["epoch"] == 1 and len(lab.epochs([run["id"]])) == 1
        assert run["note"] == "Pruned by its sweep after epoch 1." and not lab.model_path(run["id"]).exists()


def test_stop_reaches_a_run_on_the_cluster(lab):
    run_id = queue(lab, LONG)
    ensure_workers(lab)
    wait_for(lambda: lab.get_run(run_id)["batch"] > 0, message="training to start")
    lab.request_stop(run_id)
    run = wait_for_status(lab, run_id, ("cancelled",), timeout=30)
    assert run["test_accuracy"] is None and not lab.model_path(run_id).exists()


def test_a_killed_ray_worker_fails_its_run_keeping_its_epochs_and_the_queue_goes_on(lab):
    victim = queue(lab, LONG, "victim")
    ensure_workers(lab)
    wait_for(lambda: lab.get_run(victim)["epoch"] >= 1, message="an epoch to finish")
    os.kill(ray_worker_pid(lab, victim), signal.SIGKILL)
    failed = wait_for_status(lab, victim, ("failed",), timeout=60)
    assert failed["error"].startswith("The Ray worker process training it (pid ")
    assert "died during epoch" in failed["error"] and "ran out of memory" in failed["error"]
    assert len(lab.epochs([victim])) >= 1, "the epochs it finished are kept"
    follower = queue(lab, QUICK, "follower")
    ensure_workers(lab)
    assert wait_for_status(lab, follower, ("completed",))["test_accuracy"] > 0


def test_a_dead_dispatcher_leaves_no_run_running_and_its_task_ends(lab):
    run_id = queue(lab, LONG)
    ensure_workers(lab)
    wait_for(lambda: lab.get_run(run_id)["batch"] > 0, message="training to start")
    trainer = ray_worker_pid(lab, run_id)
    os.kill(lab.get_run(run_id)["worker_pid"], signal.SIGKILL)
    wait_for(lambda: reap_dead_runs(lab) or lab.get_run(run_id)["status"] == "failed", timeout=10)
    assert "disappeared" in lab.get_run(run_id)["error"] or "killed" in lab.get_run(run_id)["error"]
    wait_for(lambda: not process_alive(trainer), timeout=60, message="Ray to end the orphaned task")


def test_an_unreachable_cluster_keeps_runs_queued_and_the_train_page_says_so(home, store, monkeypatch):
    address = f"127.0.0.1:{free_port()}"  # Nothing listens there.
    monkeypatch.setenv("DIGITLAB_RAY_ADDRESS", address)
    run_id = queue(store, QUICK)
    assert ensure_workers(store) == 1
    problem = wait_for(lambda: cluster_problem(home), message="the dispatcher to give up on the cluster")
    assert problem.startswith(f"The Ray cluster at {address} cannot be reached (Connection refused)")
    assert store.get_run(run_id)["status"] == "queued"
    app = page_of("train", run=str(run_id))
    assert problem in [error.value for error in app.error]
    assert store.get_run(run_id)["status"] == "queued", "still waiting, not lost"
    end_dispatchers(store)


WITHOUT_RAY = """
import sys
sys.modules["ray"] = None  # As if the extra were not installed: importing it fails.
from core.cluster import cluster_problem
from core.store import default_home
from core.worker import worker_processes_wanted
print(worker_processes_wanted())
print(cluster_problem(default_home()))
from core.__main__ import main
sys.exit(main(["worker"]))
"""


def test_an_address_without_ray_installed_says_how_to_install_it(home):
    environment = {**os.environ, "DIGITLAB_RAY_ADDRESS": "auto"}
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_RAY], cwd=REPO_DIR, env=environment, capture_output=True, text=True
    )
    wanted, problem = done.stdout.splitlines()[:2]
    assert wanted == "0", "no worker is started that could not dispatch"
    assert problem.startswith("DIGITLAB_RAY_ADDRESS is set (auto) but Ray is not installed here")
    assert "bash scripts/setup.sh requirements-extras.txt" in problem
    assert done.returncode == 2 and done.stderr.strip() == f"error: {problem}"


def test_the_local_worker_records_the_device_and_compare_shows_it(store, monkeypatch):
    monkeypatch.delenv("DIGITLAB_RAY_ADDRESS", raising=False)
    from core.devices import training_device

    run_id, status = run_now(store, QUICK.with_changes(limit=300))
    assert status == "completed" and store.get_run(run_id)["device"] == training_device() != ""
    table = page_of("compare").dataframe[0].value
    assert table.set_index("id").loc[run_id, "device"] == training_device()
