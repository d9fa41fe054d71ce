"""Pen-up to every model's reading on the Draw page, for 1, 4 and 8 browser sessions
drawing at the same moment, and the web server's memory with 8 models in use.

    python -m bench.readings [--models 8] [--rounds 10] [--scenes lab room]

Trains `--models` small digit models into a fresh temporary data directory and, for
each scene, starts its server and opens one Chromium context per session on the Draw
page: "lab" is the lab's page (app.py) on a 1400x1000 screen, "room" the audience's
(audience.py, with its readings limit raised: every session here is one visitor) on a
390x844 phone. In each round every session clears its canvas and draws a 7, and all
lift the pen at the same moment. A reading's time runs from the pen lifted to the page
idle again with the readings table drawn, both read from the page's own clock
(performance.now). Needs Debian's chromium, as the browser tests do.

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
from dataclasses import dataclass
from pathlib import Path


def seven(variant: int) -> list[tuple[int, int]]:
    """A 7's stroke, a little different for each `variant`: a drawing read before (the
    same session's last) is answered again without asking the reader, so each round is new."""
    shift = 3 * (variant % 12)
    return [(60, 55), (220 - shift, 55), (115 + shift, 235)]


IDLE = """(withReadings) => {
    const app = document.querySelector('[data-testid="stApp"]');
    const readings = document.querySelector('table.readings') !== null;
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


async def clear(page) -> None:
    """Clears the canvas and waits for the page to be idle without readings."""
    await page.locator(".st-key-clear button").click()
    await page.wait_for_timeout(300)
    await page.wait_for_function(IDLE, arg=False, polling=100, timeout=60_000)


async def stroke_seven(page, variant: int) -> None:
    """Draws a 7 (`seven(variant)`) on the canvas with the pen still down."""
    canvas = page.locator("canvas.digit-canvas")
    await canvas.wait_for(state="visible", timeout=60_000)
    box = await canvas.bounding_box()
    (x, y), *rest = seven(variant)
    await page.mouse.move(box["x"] + x, box["y"] + y)
    await page.mouse.down()
    for x, y in rest:
        await page.mouse.move(box["x"] + x, box["y"] + y, steps=12)


async def lift_pen(page) -> float:
    """Lifts the pen; returns the page's clock at pen-up."""
    await page.mouse.up()
    return await page.evaluate("performance.now()")


async def reading_time(page, pen_up: float, variant: int) -> float:
    """Seconds from pen-up to the page idle with the readings drawn.

    A canvas that was still setting itself up after Clear misses the stroke (no ink):
    then the 7 is drawn again, and timed from that pen-up.
    """
    for _ in range(20):
        await page.wait_for_timeout(50)  # Let the drawing's rerun start before waiting for idle.
        if await page.evaluate(INKED):
            break
        await page.wait_for_timeout(500)
        await stroke_seven(page, variant)
        pen_up = await lift_pen(page)
    try:
        await page.wait_for_function(IDLE, arg=True, polling=25, timeout=120_000)
    except Exception:
        Path("bench-output").mkdir(exist_ok=True)
        await page.screenshot(path=f"bench-output/readings-timeout-{id(page)}.png")
        raise
    done = await page.evaluate("performance.now()")
    return (done - pen_up) / 1000


async def draw_at_once(pages, round_number: int) -> list[float]:
    """One round: every session clears its canvas and draws a 7 (its own, new in each
    round), and all lift the pen at the same moment; returns each session's seconds
    from pen-up to its readings."""
    variants = [round_number * len(pages) + index for index in range(len(pages))]
    await asyncio.gather(*(clear(page) for page in pages))
    drawn = zip(pages, variants, strict=True)
    await asyncio.gather(*(stroke_seven(page, variant) for page, variant in drawn))
    pen_ups = await asyncio.gather(*(lift_pen(page) for page in pages))
    timed = zip(pages, pen_ups, variants, strict=True)
    return await asyncio.gather(*(reading_time(page, pen_up, variant) for page, pen_up, variant in timed))


async def measure(
    url: str,
    viewport: dict[str, int],
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
            context = await browser.new_context(viewport=viewport)
            page = await context.new_page()
            await page.goto(f"{url}/draw", wait_until="domcontentloaded")
            await page.locator("canvas.digit-canvas").wait_for(timeout=120_000)
            pages.append(page)
        await draw_at_once(pages, 0)  # Warm: models loaded.
        times = []
        before, started = cpu_by_kind(processes()), time.monotonic()
        for round_number in range(1, rounds + 1):
            times += await draw_at_once(pages, round_number)
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


@dataclass(frozen=True)
class Scene:
    """Which server the sessions open, and on what screen."""

    script: str
    viewport: dict[str, int]
    audience: bool = False


SCENES = {
    "lab": Scene("app.py", {"width": 1400, "height": 1000}),
    "room": Scene("audience.py", {"width": 390, "height": 844}, audience=True),
}


def main() -> None:
    """Prints p50/p95 reading times per scene and session count, and the processes' memory."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--scenes", nargs="+", choices=list(SCENES), default=list(SCENES))
    arguments = parser.parse_args()

    from core.store import RunStore

    home = Path(tempfile.mkdtemp(prefix="digitlab-readings-"))
    train_models(RunStore(home), arguments.models)
    print(f"{arguments.models} models, {arguments.rounds} rounds per row (plus one warm-up)")
    print("CPU: seconds of CPU per second of the rounds (2 cores: at most 2.0)")
    print("server ms: the web server's CPU milliseconds per drawing (with its Clear)")
    for name in arguments.scenes:
        scene = SCENES[name]
        print(f"\n{name}: {scene.script}, {scene.viewport['width']}x{scene.viewport['height']}")
        measure_scene(home, scene, arguments)


def measure_scene(home: Path, scene: Scene, arguments: argparse.Namespace) -> None:
    """Starts the scene's server and prints a row per session count, then its memory."""
    from bench.startup import tensorflow_loaded
    from devtools.app_server import AppServer
    from devtools.browser import CHROMIUM_ARGS, chromium_path
    from launch import AUDIENCE_OPTIONS

    if scene.audience:  # The bench's sessions all come from this machine: one visitor.
        os.environ["DIGITLAB_READINGS_PER_MINUTE"] = "100000"
    options = AUDIENCE_OPTIONS if scene.audience else ()
    server = AppServer(home, home / "server.log", script=scene.script, extra_args=tuple(options)).start()
    try:
        columns = "CPU: browsers server reader   server ms"
        print(f"{'sessions':>8} {'p50 s':>7} {'p95 s':>7} {'max s':>7}   {columns}")

        def processes() -> dict[str, int]:  # The reader starts with the first Draw page.
            return {"server": server.process.pid, "reader": int((home / "reader.pid").read_text())}

        for sessions in arguments.sessions:
            browser = (chromium_path(), CHROMIUM_ARGS)
            times, spent, seconds = asyncio.run(
                measure(server.url, scene.viewport, sessions, arguments.rounds, *browser, processes)
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
        os.environ.pop("DIGITLAB_READINGS_PER_MINUTE", None)


if __name__ == "__main__":
    main()
