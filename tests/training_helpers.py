"""Training a run inside the test process (TensorFlow): for tests that need a trained model."""

import os

from core.training import execute_run
from tests.helpers import queue


def run_now(store, config, name=""):
    """Queues a run, claims it as this process and trains it here; returns its id and status."""
    run_id = queue(store, config, name)
    assert store.claim_next(os.getpid()) == run_id
    return run_id, execute_run(store, run_id)
