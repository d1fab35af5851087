"""Measure the TUI headless in a fresh process (run by benchmarks/bench.py).

    python benchmarks/tui_probe.py CACHE QUERY

Prints one JSON line: ``first_paint`` (seconds from the parent's spawn, taken from
``LID_TUI_PROBE_STARTED``, to the first page of the cache shown in the table),
``keystroke_ms`` (median, last key of a search typed key by key to the table showing its
results), ``pasted_ms`` (the same query pasted at once with no earlier search to narrow) and
``peak_mb`` (peak resident memory of this process).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

from lid_tui.config import Settings
from lid_tui.tui.app import LidApp


def peak_resident_mb() -> float:
    """This process's peak resident memory (VmHWM).

    Not ``getrusage``: on Linux its ``ru_maxrss`` survives ``exec``, so a probe spawned by a
    large benchmark process would report the parent's peak as its own.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def after_next_paint(app: LidApp) -> float:
    """The time just after the app's next screen refresh."""
    painted = asyncio.get_running_loop().create_future()
    app.call_after_refresh(lambda: painted.done() or painted.set_result(time.perf_counter()))
    return await painted


async def measure(cache: Path, query: str) -> dict[str, float]:
    started = float(os.environ.get("LID_TUI_PROBE_STARTED", time.time()))
    settings = Settings(instance_id="bench", access_token="bench-token", cache=cache)
    app = LidApp(settings, store_path=cache, refresh_if_empty=False)
    async with app.run_test(size=(100, 30)) as pilot:
        while app.store is None or app.table.row_count == 0:
            await asyncio.sleep(0.002)
        await after_next_paint(app)
        first_paint = time.time() - started

        latencies = []
        pasted = []
        search = app.search_box
        for _ in range(7):
            # Pasted at once: nothing to narrow, the whole blob is scanned (on a worker).
            await pilot.press("escape", "escape", "slash")
            await pilot.pause()
            app.last_scan = None
            key_sent = time.perf_counter()
            search.insert_text_at_cursor(query)
            while app.search_query is None or app.search_query.text != query:
                await asyncio.sleep(0.0005)
            pasted.append((await after_next_paint(app) - key_sent) * 1e3)
            await pilot.press("escape", "escape", "n", "n", "G", "g")
        for _ in range(7):
            await pilot.press("escape", "escape", "slash", *query[:-1])
            await pilot.pause()
            key_sent = time.perf_counter()
            pressing = asyncio.create_task(pilot.press(query[-1]))
            while app.search_query is None or app.search_query.text != query:
                await asyncio.sleep(0.0005)
            latencies.append((await after_next_paint(app) - key_sent) * 1e3)
            await pressing
            await pilot.press("escape", "escape", "n", "n", "G", "g")
    peak = peak_resident_mb()
    return {
        "first_paint": round(first_paint, 3),
        "keystroke_ms": round(statistics.median(latencies), 1),
        "pasted_ms": round(statistics.median(pasted), 1),
        "peak_mb": round(peak, 1),
    }


def main() -> None:
    cache, query = Path(sys.argv[1]), sys.argv[2]
    print(json.dumps(asyncio.run(measure(cache, query))))


if __name__ == "__main__":
    main()
