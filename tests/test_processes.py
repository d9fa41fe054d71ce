"""Facts about local processes read from /proc."""

import subprocess
import sys
import time

from core.processes import process_cpu_seconds

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
