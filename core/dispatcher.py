"""The dispatcher: `python -m core worker` when a Ray cluster is configured.

It claims queued runs as a worker does (they carry its pid, so if it dies they are
reaped like a dead worker's), submits each as a Ray task with the CPUs, and the GPU,
a run needs (`core.cluster_task`: the same training code as the local worker),
writes what the tasks stream back (data source, device, batch progress, epochs) into
the store, passes Stop on, and saves the model each task sends back. The store, the
models and the pages stay on the app's machine; the nodes need only the Python
packages (the code and the bundled data travel with the job as its working directory).
A task whose process or node dies fails its run with the reason; a cluster that
cannot be reached leaves runs queued (`core.cluster.cluster_problem` says why).
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from core.cluster import (
    RETRY_SECONDS,
    clear_problem,
    cluster_address,
    cpus_per_run,
    gpus_per_run,
    missing_ray_message,
    probe,
    ray_installed,
    record_problem,
    runtime_environment,
    unreachable_message,
    use_token_if_any,
)
from core.model_files import (
    UnreadableModelFile,
    UnsafeModelFile,
    check_free_space,
    check_model_archive,
    remove_leftover_temporaries,
)
from core.store import RunStore
from core.sweeps import top_up

CONNECT_TIMEOUT_SECONDS = 90.0
POLL_SECONDS = 0.25
HUB_TIMEOUT_SECONDS = 30.0


class ClusterUnreachable(RuntimeError):
    """The cluster did not answer; the message says why."""


@dataclass
class Job:
    """One run submitted to the cluster, as the dispatcher follows it."""

    run_id: int
    ref: object
    cpus: float
    gpus: float
    started: bool = False  # The task began on a node.
    worker_pid: int | None = None
    node: str = ""
    stopping: bool = False
    lost: bool = False  # The run is no longer the dispatcher's (reaped or deleted).
    in_sweep: bool = False
    epochs: int = 0  # Planned.
    pruned_after: int = 0  # The epoch after which its sweep pruned it.


_OWN_FILE = re.compile(r"run-(\d+)\.[a-z][a-z.]*")


class Dispatcher:
    """Executes queued runs as Ray tasks; see the module.

    Args:
        store: the run store.
        address: where the cluster is (`DIGITLAB_RAY_ADDRESS`).
        idle_exit_seconds: exit once no run has waited or trained this long (None:
            never), as a worker does.
    """

    def __init__(self, store: RunStore, address: str, idle_exit_seconds: float | None = None):
        self.store = store
        self.address = address
        self.idle_exit_seconds = idle_exit_seconds
        self.pid = os.getpid()
        self.jobs: dict[int, Job] = {}
        self.connected = False
        self.hub = None
        self.tasks: dict[str, object] = {}
        self.cluster_gpus = 0.0
        self.executed = 0

    def run(self) -> int:
        """Dispatches until idle for `idle_exit_seconds`; returns how many runs ended."""
        from core.worker import HEARTBEAT_SECONDS, reap_dead_runs

        store = self.store
        store.register_worker(self.pid)
        remove_leftover_temporaries(store.models_dir)
        idle_since = last_beat = time.monotonic()
        next_attempt = 0.0
        try:
            while True:
                reap_dead_runs(store)
                top_up(store)  # A sweep whose trial ended queues its next, as a worker's does.
                busy = bool(self.jobs) or store.count_queued() > 0
                if busy and not self.connected and time.monotonic() >= next_attempt:
                    next_attempt = time.monotonic() + RETRY_SECONDS
                    self._try_to_connect()
                if self.connected:
                    self._step_or_lose_cluster()
                now = time.monotonic()
                if now - last_beat >= HEARTBEAT_SECONDS:
                    for run_id in list(self.jobs) or [None]:
                        store.worker_heartbeat(self.pid, run_id)
                    last_beat = now
                if busy:
                    idle_since = now
                elif self.idle_exit_seconds is not None and now - idle_since > self.idle_exit_seconds:
                    store.unregister_worker(self.pid)  # Before the last look, so no run waits on us.
                    if not store.count_queued():
                        return self.executed
                    store.register_worker(self.pid)
                time.sleep(POLL_SECONDS)
        finally:
            for job in self.jobs.values():
                store.finish(job.run_id, "failed", "The dispatcher stopped while the run trained.", self.pid)
            self._disconnect()
            store.unregister_worker(self.pid)

    # Connecting.

    def _try_to_connect(self) -> None:
        try:
            self._connect()
        except ClusterUnreachable as error:
            record_problem(self.store.home, str(error))
            print(f"dispatcher: {error}", flush=True)
            return
        clear_problem(self.store.home)

    def _connect(self) -> None:
        """Connects to the cluster (or starts the local one) and starts the hub.

        Raises:
            ClusterUnreachable: nothing answers, or Ray refused (the message says why).
        """
        import ray

        from core.cluster_task import RunHub, train_on_cpus, train_on_gpu
        from core.worker import worker_count

        reason = probe(self.address)
        if reason:
            raise ClusterUnreachable(unreachable_message(self.address, reason))
        options = {"runtime_env": runtime_environment()}
        if self.address == "local":
            cpus = max(1, round(worker_count() * cpus_per_run()))
            options |= {"address": "local", "num_cpus": cpus, "include_dashboard": False}
        else:
            options["address"] = self.address
        # ray.init must run in this thread (Ray ends the processes it starts when the
        # thread that started them ends); a watchdog ends a process whose connection hangs.
        watchdog = threading.Timer(CONNECT_TIMEOUT_SECONDS, self._give_up_connecting)
        watchdog.daemon = True
        watchdog.start()
        try:
            ray.init(**options)
        except Exception as error:
            ray.shutdown()
            raise ClusterUnreachable(unreachable_message(self.address, _first_line(error))) from error
        finally:
            watchdog.cancel()
        resources = ray.cluster_resources()
        self.cluster_gpus = float(resources.get("GPU", 0))
        self.hub = ray.remote(RunHub).options(num_cpus=0).remote()
        self.tasks = {
            "cpu": ray.remote(max_retries=0)(train_on_cpus),
            "gpu": ray.remote(num_gpus=1, max_retries=0)(train_on_gpu),
        }
        self.connected = True
        print(
            f"dispatcher: connected to the Ray cluster at {self.address} "
            f"({resources.get('CPU', 0):g} CPUs, {self.cluster_gpus:g} GPUs)",
            flush=True,
        )

    def _give_up_connecting(self) -> None:
        """Ends this process when ray.init has not returned in time (it cannot be
        interrupted); its claimed runs are none yet, and the app starts a new one."""
        reason = f"no answer in {CONNECT_TIMEOUT_SECONDS:.0f} s"
        record_problem(self.store.home, unreachable_message(self.address, reason))
        self.store.unregister_worker(self.pid)
        print(f"dispatcher: {reason} from {self.address}; exiting", flush=True)
        os._exit(3)

    def _disconnect(self) -> None:
        if self.connected:
            import ray

            ray.shutdown()
        self.connected, self.hub, self.tasks = False, None, {}

    def _step_or_lose_cluster(self) -> None:
        """One round: claim and submit, pass writes and Stops on, collect ended tasks.
        A cluster that stops answering fails the runs it trained and is reconnected."""
        import ray

        try:
            self._claim()
            self._pass_events()
            self._pass_stops()
            self._collect()
        except (ray.exceptions.RayError, ConnectionError) as error:
            print(f"dispatcher: lost the cluster: {_first_line(error)}", flush=True)
            for job in self.jobs.values():
                reason = f"Lost contact with the Ray cluster at {self.address} {self._when(job)}"
                self.store.finish(job.run_id, "failed", f"{reason}: {_first_line(error)}", self.pid)
            self.jobs.clear()
            self._disconnect()
            record_problem(self.store.home, unreachable_message(self.address, _first_line(error)))

    # Claiming and submitting.

    def _claim(self) -> None:
        from core.worker import worker_count

        while len(self.jobs) < worker_count() and self.store.count_queued():
            cpus, gpus = cpus_per_run(), gpus_per_run(self.cluster_gpus)
            if not self._room_for(cpus, gpus):
                return
            run_id = self.store.claim_next(self.pid, worker_count())
            if run_id is None:
                return
            self._submit(run_id, cpus, gpus)

    def _room_for(self, cpus: float, gpus: float) -> bool:
        """Returns True when the cluster has the CPUs (and GPU) for one more run, so a
        run waits as queued rather than as running without a place to train."""
        import ray

        free = ray.available_resources()
        waiting = [job for job in self.jobs.values() if not job.started]  # Not yet counted by Ray.
        free_cpus = free.get("CPU", 0) - sum(job.cpus for job in waiting)
        free_gpus = free.get("GPU", 0) - sum(job.gpus for job in waiting)
        return free_cpus >= cpus and free_gpus >= gpus

    def _submit(self, run_id: int, cpus: float, gpus: float) -> None:
        run = self.store.get_run(run_id)
        if run is None:  # Deleted since it was claimed.
            return
        if run["config"] is None:
            reason = f"This run's settings cannot be read ({run['config_error']}): delete it."
            self.store.finish(run_id, "failed", reason, self.pid)
            return
        related, files, drawings = self._inputs(run)
        options = {"num_cpus": cpus, "num_gpus": gpus}
        if not gpus:  # Ray leaves a node's GPUs visible to a task without one: hide them.
            options["runtime_env"] = {"env_vars": {"CUDA_VISIBLE_DEVICES": ""}}
        task = self.tasks["gpu" if gpus else "cpu"]
        ref = task.options(**options).remote(self.hub, run, related, drawings, files)
        in_sweep = run.get("sweep_id") is not None
        self.jobs[run_id] = Job(run_id, ref, cpus, gpus, in_sweep=in_sweep, epochs=run["config"].epochs)
        print(f"run {run_id}: submitted to the Ray cluster ({cpus:g} CPUs, {gpus:g} GPUs)", flush=True)

    def _inputs(self, run: dict) -> tuple[dict, dict, list]:
        """Returns what a run may read besides its own row: the parent run's row and
        files (a run that starts from another) and the user's drawings."""
        parent_id = run.get("parent_run_id")
        parent = self.store.get_run(parent_id) if parent_id is not None else None
        if parent is None:
            return {}, {}, []
        files = {
            path.name: path.read_bytes()
            for path in self.store.models_dir.glob(f"run-{int(parent_id)}.*")
            if not path.name.endswith(".map.npz")
        }
        drawings = [{**drawing, "stroke_png": None} for drawing in self.store.drawings()]
        return {int(parent_id): parent}, files, drawings

    # What the tasks stream back, and Stop.

    def _pass_events(self) -> None:
        """Writes the tasks' events into the store; a run whose write is refused (it
        was reaped or deleted) is told to end, as a local worker's would."""
        import ray

        for run_id, events in ray.get(self.hub.take.remote(), timeout=HUB_TIMEOUT_SECONDS).items():
            job = self.jobs.get(run_id)
            if job is None or job.lost:
                continue
            for event in _without_stale_progress(events):
                if not self._write(job, event):
                    job.lost = True
                    self.hub.order.remote(run_id, "lost")
                    break

    def _write(self, job: Job, event: tuple) -> bool:
        kind, *values = event
        store, run_id = self.store, job.run_id
        if kind == "started":
            job.started, (job.worker_pid, job.node) = True, values
            print(f"run {run_id}: training in Ray worker pid {job.worker_pid} on {job.node}", flush=True)
            return True
        if kind == "source":
            return store.set_data_source(run_id, values[0], worker_pid=self.pid)
        if kind == "device":
            return store.set_device(run_id, values[0], worker_pid=self.pid)
        if kind == "progress":
            return store.set_progress(run_id, *values, worker_pid=self.pid)
        if kind == "epoch":
            if job.pruned_after:  # Pruned: what it trained since is not kept.
                return True
            if not store.add_epoch(run_id, values[0], values[1], worker_pid=self.pid):
                return False
            self._prune_if_its_sweep_says(job, values[0], values[1].get("val_accuracy"))
        return True

    def _prune_if_its_sweep_says(self, job: Job, epoch: int, val_accuracy: float | None) -> None:
        """Asks a trial's sweep (its study lives here) whether to prune it after this
        epoch; if so, its task is stopped and the run ends as pruned."""
        from core.sweeps import should_prune

        if job.in_sweep and epoch < job.epochs and should_prune(self.store, job.run_id, epoch, val_accuracy):
            job.pruned_after = epoch
            self.hub.order.remote(job.run_id, "stop")

    def _pass_stops(self) -> None:
        """Tells the task of a run its user stopped; a task not begun yet is cancelled."""
        import ray

        for job in self.jobs.values():
            if not job.stopping and self.store.stop_requested(job.run_id):
                job.stopping = True
                self.hub.order.remote(job.run_id, "stop")
                if not job.started:
                    ray.cancel(job.ref)

    # Ended tasks.

    def _collect(self) -> None:
        import ray

        if not self.jobs:
            return
        refs = [job.ref for job in self.jobs.values()]
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        if not ready:
            return
        self._pass_events()  # A task sends all its events before it ends.
        for job in [job for job in self.jobs.values() if job.ref in ready]:
            del self.jobs[job.run_id]
            status = self._settle(job)
            self.hub.forget.remote(job.run_id)
            self.executed += 1
            print(f"run {job.run_id}: {status}", flush=True)

    def _settle(self, job: Job) -> str:
        """Records how a task ended; returns the run's status."""
        import ray

        store, run_id = self.store, job.run_id
        try:
            outcome = ray.get(job.ref)
        except ray.exceptions.TaskCancelledError:
            outcome = {"status": "cancelled"}
        except ray.exceptions.RayError as error:
            store.finish(run_id, "failed", self._lost_task_reason(job, error), self.pid)
            return "failed"
        status = outcome["status"]
        if job.pruned_after and status in ("completed", "cancelled"):  # Ended before the stop came?
            return "pruned" if store.prune(run_id, job.pruned_after, worker_pid=self.pid) else "abandoned"
        if status == "completed":
            return self._save(job, outcome)
        if status == "cancelled":
            store.finish(run_id, "cancelled", worker_pid=self.pid)
        elif status == "failed":
            store.finish(run_id, "failed", outcome["error"], self.pid)
        elif not job.lost:  # Abandoned: its task could no longer reach the hub.
            reason = f"Its Ray task lost contact with the dispatcher {self._when(job)}."
            status = "failed" if store.finish(run_id, "failed", reason, self.pid) else status
        return status

    def _save(self, job: Job, outcome: dict) -> str:
        """Writes the model (and vocabulary) a task sent back atomically into models/,
        then completes the run; returns its status."""
        from core.worker import describe_failure

        store, run_id = self.store, job.run_id
        if not store.is_running_in(run_id, self.pid):
            return "abandoned"
        if store.model_path(run_id).name not in outcome["files"] or outcome["results"] is None:
            store.finish(run_id, "failed", "Its Ray task sent back no model.", self.pid)
            return "failed"
        params = store.get_run(run_id)["params"] or 0
        written = []
        try:
            check_free_space(store.models_dir, params)
            for name, data in outcome["files"].items():
                written.append(self._write_file(run_id, name, data, params))
            if store.complete(run_id, outcome["results"], self.pid):
                return "completed"
            reason = ""  # Reaped or deleted meanwhile.
        except (UnsafeModelFile, UnreadableModelFile) as error:
            reason = f"The model the cluster sent back was refused: {error}"
        except (OSError, ValueError) as error:
            reason = describe_failure(error)
        for path in written:
            path.unlink(missing_ok=True)
        if not reason:
            return "abandoned"
        store.finish(run_id, "failed", reason, self.pid)
        return "failed"

    def _write_file(self, run_id: int, name: str, data: bytes, params: int) -> Path:
        """Writes one of a run's files via a temporary file (a model's archive checked
        first); returns its path.

        Raises:
            ValueError: a name that is not one of this run's files.
            UnsafeModelFile, UnreadableModelFile: a model that must not be loaded.
            DiskFull, OSError: it cannot be written.
        """
        match = _OWN_FILE.fullmatch(name)
        if not match or int(match[1]) != run_id:
            raise ValueError(f"Its Ray task sent back a file it may not write: {name!r:.80}.")
        path = self.store.models_dir / name
        temporary = path.with_name(f".{path.stem}.{self.pid}.tmp{path.suffix}")
        try:
            temporary.write_bytes(data)
            if path.suffix == ".keras":
                check_model_archive(temporary, params)
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        return path

    def _lost_task_reason(self, job: Job, error: BaseException) -> str:
        """The reason shown for a run whose task ended without an answer."""
        import ray

        where = f" (pid {job.worker_pid} on {job.node})" if job.worker_pid else ""
        when = self._when(job)
        if isinstance(error, ray.exceptions.OutOfMemoryError):
            return (
                f"Ray ended the worker process training it{where} {when}: its node ran out of memory. "
                "Try a smaller model or batch size, or fewer runs at once (DIGITLAB_WORKERS)."
            )
        if isinstance(error, ray.exceptions.NodeDiedError | ray.exceptions.LocalRayletDiedError):
            return f"The cluster node training it{where} died {when}."
        if isinstance(error, ray.exceptions.WorkerCrashedError):
            return (
                f"The Ray worker process training it{where} died {when}: it was killed "
                "(often because it ran out of memory) or crashed."
            )
        if isinstance(error, ray.exceptions.RuntimeEnvSetupError):
            return f"The cluster could not prepare the run's environment: {_first_line(error)}"
        return f"Its Ray task{where} failed {when}: {type(error).__name__}: {_first_line(error)}"

    def _when(self, job: Job) -> str:
        run = self.store.get_run(job.run_id)
        return f"during epoch {run['epoch'] + 1}" if run and job.started else "before it began"


def _without_stale_progress(events: list[tuple]) -> list[tuple]:
    """Returns the events less each progress report that another follows at once."""
    following = [event[0] for event in events[1:]] + [None] if events else []
    return [
        event
        for event, after in zip(events, following, strict=True)
        if not (event[0] == "progress" and after == "progress")
    ]


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def run_dispatcher(store: RunStore, idle_exit_seconds: float | None = None) -> int:
    """Runs the dispatcher for `cluster_address()`; returns how many runs ended.

    Raises:
        RuntimeError: Ray is not installed (the message says how to install it).
    """
    address = cluster_address()
    if not ray_installed():
        record_problem(store.home, missing_ray_message(address))
        raise RuntimeError(missing_ray_message(address))
    use_token_if_any()  # Before Ray is imported: it reads its settings then.
    print(f"dispatcher: pid {os.getpid()}, Ray cluster {address}", file=sys.stderr, flush=True)
    return Dispatcher(store, address, idle_exit_seconds).run()
