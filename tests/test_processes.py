"""Local processes: facts read from /proc, and the environment each kind starts with."""

import subprocess
import sys
import time

from core.processes import WEB_SERVER_ENVIRONMENT, process_cpu_seconds, start_engine_process
from tests.helpers import environment_of

SPIN_THEN_SLEEP = """
import time
end = time.process_time() + 0.6
while time.process_time() < end:
    pass
time.sleep(30)
"""


def test_a_process_shows_the_cpu_it_used_and_a_gone_one_zero():
    busy = subprocess.Popen([sys.executable, "-c", SPIN_THEN_SLEEP])
    try:
        deadline = time.monotonic() + 30
        while process_cpu_seconds(busy.pid) < 0.6 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert 0.6 <= process_cpu_seconds(busy.pid) < 5
    finally:
        busy.kill()
        busy.wait()
    assert process_cpu_seconds(busy.pid) == 0.0


def test_the_engine_s_processes_keep_the_default_malloc_arenas(tmp_path, monkeypatch):
    for name, value in WEB_SERVER_ENVIRONMENT.items():  # As in the web server.
        monkeypatch.setenv(name, value)
    engine = start_engine_process(tmp_path, ["reader", "--idle-exit", "30"], "reader.log")
    try:
        environment = environment_of(engine.pid)
        assert environment["DIGITLAB_HOME"] == str(tmp_path)
        assert not set(WEB_SERVER_ENVIRONMENT) & set(environment)
    finally:
        engine.kill()
        engine.wait()
