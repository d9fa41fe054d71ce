"""Pen-up to every model's reading on the Draw page, for 1, 4 and 8 browser sessions
drawing at the same moment, and the web server's memory with 8 models in use.

    python -m bench.readings [--models 8] [--rounds 5]

Trains `--models` small digit models into a fresh temporary data directory, starts
the app, opens one Chromium context per session on the Draw page, and in each round
clears and draws a 7 in every session at once. A reading's time runs from the pen
lifted to the page idle again with the readings table drawn, both read from the
page's own clock (performance.now). Needs Debian's chromium, as the browser tests do.

It also prints where the CPU went during the rounds: the browsers (all on this machine,
where in a room each runs on its own phone), the web server and the model reader.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

SEVEN = [(60, 55), (220, 55), (115, 235)]
IDLE = """(withReadings) => {
    const app = document.querySelector('[data-testid="stApp"]');
    const readings = document.querySelector('[data-testid="stDataFrame"], [data-testid="stTable"]') !== null;
    return app !== null
        && app.getAttribute("data-test-script-state") === "notRunning"
        && !document.querySelector('[data-testid="stStatusWidget"]')
        && !document.querySelector('[data-stale="true"]')
        && readings === withReadings;
}"""
FAMILIES = ("cnn", "dense", "gru", "lstm")


def train_models(store, count: int) -> None:
    """Trains `count` small digit models of several families (one epoch, 2,000 digits)."""
    from core.config import RunConfig
    from core.presets import family_layers
    from core.runs import submit
    from core.worker import run_worker

    for number in range(count):
        family = FAMILIES[number % len(FAMILIES)]
        layers = family_layers(family, units=(32,), filters=(8, 16))
        config = RunConfig(family=family, layers=layers, epochs=1, limit=2000, seed=number)
        submit(store, config, f"{family} {number}", start_worker=False)
    run_worker(store, idle_exit_seconds=0)


INKED = """() => {
    const canvas = document.querySelector('canvas.digit-canvas');
    if (!canvas) return false;
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 0; i < pixels.length; i += 4 * 97) if (pixels[i] > 128) return true;
    return false;
}"""


async def draw_seven(page) -> float:
    """Draws a 7 on the canvas; returns the page's clock at pen-up."""
    canvas = page.locator("canvas.digit-canvas")
    await canvas.wait_for(state="visible", timeout=60_000)
    box = await canvas.bounding_box()
    await page.mouse.move(box["x"] + SEVEN[0][0], box["y"] + SEVEN[0][1])
    await page.mouse.down()
    for x, y in SEVEN[1:]:
        await page.mouse.move(box["x"] + x, box["y"] + y, steps=12)
    await page.mouse.up()
    return await page.evaluate("performance.now()")


async def draw_and_time(page) -> float:
    """Clears the canvas, draws a 7 and returns seconds from pen-up to the readings.

    A canvas that was still setting itself up after Clear misses the stroke (no ink):
    then the 7 is drawn again, and timed from that pen-up.
    """
    await page.locator(".st-key-clear button").click()
    await page.wait_for_timeout(300)
    await page.wait_for_function(IDLE, arg=False, polling=100, timeout=60_000)
    for _ in range(20):
        pen_up = await draw_seven(page)
        await page.wait_for_timeout(50)  # Let the drawing's rerun start before waiting for idle.
        if await page.evaluate(INKED):
            break
        await page.wait_for_timeout(500)
    try:
        await page.wait_for_function(IDLE, arg=True, polling=25, timeout=120_000)
    except Exception:
        Path("bench-output").mkdir(exist_ok=True)
        await page.screenshot(path=f"bench-output/readings-timeout-{id(page)}.png")
        raise
    done = await page.evaluate("performance.now()")
    return (done - pen_up) / 1000


async def measure(
    url: str,
    sessions: int,
    rounds: int,
    chromium: str,
    args: list[str],
    processes: Callable[[], dict[str, int]],
) -> tuple[list[float], dict[str, float], float]:
    """Returns every session's reading time over `rounds` simultaneous drawings, the CPU
    seconds each kind of process spent meanwhile (see `cpu_by_kind`) and the seconds the
    rounds took."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=args)
        pages = []
        for _ in range(sessions):
            context = await browser.new_context(viewport={"width": 1400, "height": 1000})
            page = await context.new_page()
            await page.goto(f"{url}/draw", wait_until="domcontentloaded")
            await page.locator("canvas.digit-canvas").wait_for(timeout=120_000)
            pages.append(page)
        await asyncio.gather(*(draw_and_time(page) for page in pages))  # Warm: models loaded.
        times = []
        before, started = cpu_by_kind(processes()), time.monotonic()
        for _ in range(rounds):
            times += await asyncio.gather(*(draw_and_time(page) for page in pages))
        after, seconds = cpu_by_kind(processes()), time.monotonic() - started
        await browser.close()
    spent = {kind: after[kind] - before.get(kind, 0.0) for kind in after}
    return times, spent, seconds


def cpu_by_kind(processes: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each named process and, as "browsers", by every
    Chromium process on the machine."""
    from core.processes import process_cpu_seconds

    spent = {kind: process_cpu_seconds(pid) for kind, pid in processes.items()}
    spent["browsers"] = sum(
        process_cpu_seconds(int(pid))
        for pid in os.listdir("/proc")
        if pid.isdecimal() and "chrom" in _command_of(pid)
    )
    return spent


def _command_of(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return ""


def rss_mb(pid: int) -> float:
    """Returns a process's resident memory in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    """Prints p50/p95 reading times per session count and the processes' memory."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 4, 8])
    arguments = parser.parse_args()

    from bench.startup import tensorflow_loaded
    from core.store import RunStore
    from devtools.app_server import AppServer
    from devtools.browser import CHROMIUM_ARGS, chromium_path

    home = Path(tempfile.mkdtemp(prefix="digitlab-readings-"))
    store = RunStore(home)
    train_models(store, arguments.models)
    server = AppServer(home, home / "server.log").start()
    try:
        print(f"{arguments.models} models, {arguments.rounds} rounds per row (plus one warm-up)")
        print("CPU: seconds of CPU per second of the rounds (2 cores: at most 2.0)")
        print("server ms: the web server's CPU milliseconds per drawing (with its Clear)")
        columns = "CPU: browsers server reader   server ms"
        print(f"{'sessions':>8} {'p50 s':>7} {'p95 s':>7} {'max s':>7}   {columns}")

        def processes() -> dict[str, int]:  # The reader starts with the first Draw page.
            return {"server": server.process.pid, "reader": int((home / "reader.pid").read_text())}

        for sessions in arguments.sessions:
            times, spent, seconds = asyncio.run(
                measure(server.url, sessions, arguments.rounds, chromium_path(), CHROMIUM_ARGS, processes)
            )
            print(
                f"{sessions:>8} {statistics.median(times):>7.2f} {percentile(times, 0.95):>7.2f}"
                f" {max(times):>7.2f}        {spent['browsers'] / seconds:>8.2f}"
                f" {spent['server'] / seconds:>6.2f} {spent['reader'] / seconds:>6.2f}"
                f" {1000 * spent['server'] / len(times):>11.0f}"
            )
        reader_pid = int((home / "reader.pid").read_text())
        print(f"web server memory: {rss_mb(server.process.pid):.0f} MB (RSS)")
        print(f"model reader memory: {rss_mb(reader_pid):.0f} MB (RSS, {arguments.models} models loaded)")
        loaded = tensorflow_loaded(server.process.pid)
        print(f"TensorFlow loaded into the web server: {'yes' if loaded else 'no'}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
