"""Time from starting the server to the Compare page rendered (a page that only
browses runs), and whether TensorFlow got loaded into the server for it.

    python -m bench.startup [--rounds 3]

Needs Debian's chromium (as the browser tests do). The store is a fresh temporary
folder holding a few finished runs' rows.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def tensorflow_loaded(pid: int) -> bool:
    """Returns True if the process has TensorFlow's shared library mapped."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return "libtensorflow" in maps or "_pywrap_tensorflow" in maps


def main() -> None:
    """Prints, per round, seconds to /_stcore/health and to the Compare page rendered."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from core.presets import get_preset
    from core.store import RunStore
    from devtools.app_server import AppServer
    from devtools.browser import CHROMIUM_ARGS, chromium_path, open_page

    home = Path(tempfile.mkdtemp(prefix="digitlab-startup-"))
    store = RunStore(home)
    for name in ("CNN 3-conv", "DNN 128-128", "LSTM 50"):
        run_id = store.create_run(get_preset(name).config, 1000, name)
        store.finish(run_id, "failed", "a placeholder row for the table")
    health, rendered, loaded = [], [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        for _ in range(args.rounds):
            started = time.perf_counter()
            server = AppServer(home, home / "server.log").start()
            health.append(time.perf_counter() - started)
            page = browser.new_page()
            open_page(page, server.url, "compare", "Compare")
            rendered.append(time.perf_counter() - started)
            loaded.append(tensorflow_loaded(server.process.pid))
            page.close()
            server.stop()
        browser.close()
    print(f"{args.rounds} cold server starts, medians")
    print(f"server answers /_stcore/health: {statistics.median(health):.2f} s")
    print(f"Compare page rendered in the browser: {statistics.median(rendered):.2f} s")
    print(f"TensorFlow loaded into the server: {'yes' if any(loaded) else 'no'}")


if __name__ == "__main__":
    main()
