"""lid-tui's benchmark: every speed target of the project, measured with its peers in one run.

    python benchmarks/bench.py                       # 10k, 100k and 1M mappings (~5 min)
    python benchmarks/bench.py --sizes 10000 --repeat 1   # the CI smoke run (~20 s)

The demo server runs in its own process (as a real provider would), so the client and the
server each get a core. Figures are medians of ``--repeat`` runs. Nothing here asserts a
timing: machines are noisy; the table says what was measured against what target.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from tinydb import Query, TinyDB

from lid_tui.identity import classify
from lid_tui.provider.payload import parse_mapping_page
from lid_tui.provider.wawp import WawpProvider
from lid_tui.store import MappingStore
from lid_tui.sync import SyncOptions, run_sync

HERE = Path(__file__).resolve().parent
TOKEN = "bench-token"
#: Share of rows changed per kind between two generations: 3 kinds x 0.34% ~ 1% in all.
CHANGE_RATE = 0.0034
PEER_SYNC_SIZE = 100_000


@dataclass
class Figure:
    size: int
    what: str
    value: float
    unit: str
    target: str = ""
    met: bool | None = None
    peers: list[str] = field(default_factory=list)

    def row(self) -> str:
        verdict = {True: "met", False: "MISSED", None: ""}[self.met]
        shown = (
            f"{self.value:,.3g} {self.unit}"
            if self.value < 1000
            else f"{self.value:,.0f} {self.unit}"
        )
        return (
            f"| {self.size:,} | {self.what} | {shown} | {self.target} | {verdict} | "
            f"{'; '.join(self.peers)} |"
        )


def median_time(action: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def per_call(action: Callable[[], object], calls: int, repeat: int = 5) -> float:
    """Median seconds per call over ``repeat`` batches of ``calls`` calls."""
    return median_time(lambda: [action() for _ in range(calls)], repeat) / calls


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def demo_server(size: int) -> Iterator[str]:
    """The demo provider in its own process; yields its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "lid_tui", "demo-server", "--port", str(port)]
    command += ["--size", str(size), "--access-token", TOKEN, "--change-rate", str(CHANGE_RATE)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{base_url}/v2/lids/count", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)


def provider(base_url: str) -> WawpProvider:
    return WawpProvider(base_url, "demo", TOKEN)


def timed_sync(base_url: str, cache: Path) -> tuple[float, int]:
    store = MappingStore.open(cache)
    with provider(base_url) as source:
        started = time.perf_counter()
        report = run_sync(source, store, options=SyncOptions())
        return time.perf_counter() - started, report.fetched + report.changed


def straightforward_sync(base_url: str, path: Path) -> float:
    """The peer: sequential pages, one TinyDB ``insert_multiple`` per page, default storage."""
    started = time.perf_counter()
    with TinyDB(path) as db, httpx.Client(base_url=base_url, timeout=30) as client:
        offset = 0
        while True:
            params = {"instance_id": "demo", "access_token": TOKEN, "limit": 1000}
            answer = client.get("/v2/lids", params={**params, "offset": offset})
            page = parse_mapping_page(answer.json())
            if not page.raw_rows:
                break
            db.insert_multiple({"lid": lid, "number": number} for lid, number in page.rows)
            offset += page.raw_rows
    return time.perf_counter() - started


def jq_seconds(export: Path, program: str) -> float | None:
    jq = shutil.which("jq")
    if jq is None:
        return None
    started = time.perf_counter()
    subprocess.run([jq, "-c", program, str(export)], check=True, capture_output=True)
    return time.perf_counter() - started


def tui_probe(cache: Path, query: str) -> dict[str, float]:
    """Run the TUI headless in a fresh process; see benchmarks/tui_probe.py."""
    probe = HERE / "tui_probe.py"
    env = {**os.environ, "LID_TUI_PROBE_STARTED": repr(time.time())}
    done = subprocess.run(
        [sys.executable, str(probe), str(cache), query],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_size(size: int, repeat: int, workdir: Path, with_tui: bool) -> list[Figure]:
    figures: list[Figure] = []
    cache = workdir / f"cache-{size}.json"
    with demo_server(size) as base_url:
        # Full sync into an empty cache, each repeat from scratch.
        samples = []
        for _ in range(repeat):
            for leftover in workdir.glob(f"cache-{size}.json*"):
                leftover.unlink()
            seconds, fetched = timed_sync(base_url, cache)
            samples.append(fetched / seconds)
        rate = statistics.median(samples)
        full = Figure(size, "full sync (mappings/s)", rate, "/s", "≥ 50,000 /s", rate >= 50_000)
        if size == PEER_SYNC_SIZE:
            peer = straightforward_sync(base_url, workdir / "peer.json")
            ours = size / rate
            full.peers.append(
                f"straightforward client {peer:.1f} s vs ours {ours:.1f} s: "
                f"{peer / ours:.0f}x faster"
            )
        figures.append(full)

        # Re-sync where about 1% changed (the server moves to its next generation).
        resync = []
        for _ in range(repeat):
            seconds, _ = timed_sync(base_url, cache)
            resync.append(seconds)
        value = statistics.median(resync)
        figures.append(Figure(size, "re-sync, ~1% changed", value, "s", "≤ 10 s", value <= 10))

    file_bytes = cache.stat().st_size
    store = MappingStore.open(cache)
    per_mapping = file_bytes / len(store)
    figures.append(
        Figure(size, "cache file on disk", per_mapping, "B/mapping", "≤ 100 B", per_mapping <= 100)
    )

    # Open until search is ready (a fresh store object each time; the OS cache is warm).
    def open_and_search() -> None:
        opened = MappingStore.open(cache)
        opened.matching_rows(classify("98765"), 20)

    gc.collect()
    opened = median_time(open_and_search, repeat=max(3, repeat))
    figures.append(
        Figure(size, "open cache until search ready", opened, "s", "≤ 1.5 s", opened <= 1.5)
    )

    # Exact look-ups of normalised digits (what an integration resolving webhooks does).
    rng = random.Random(5)
    index = store.index
    sample_rows = [rng.randrange(len(index)) for _ in range(200)]
    numbers = [n for n in (index.row(r).number for r in sample_rows) if n]
    lids = [index.row(r).lid for r in sample_rows]
    picks = iter(range(10**9))

    def by_number() -> object:
        row = store.row_of_number(numbers[next(picks) % len(numbers)])
        return index.row(row) if row is not None else None

    def by_lid() -> object:
        row = index.row_of_lid(lids[next(picks) % len(lids)])
        return index.row(row) if row is not None else None

    number_us = per_call(by_number, 2000) * 1e6
    lid_us = per_call(by_lid, 2000) * 1e6
    typed_us = per_call(lambda: store.lookup_row(classify("+" + numbers[0])), 500) * 1e6
    exact = Figure(
        size,
        "exact lookup by number / by LID",
        max(number_us, lid_us),
        "µs",
        "≤ 5 µs",
        max(number_us, lid_us) <= 5,
    )
    exact.peers.append(
        f"number {number_us:.1f} µs, LID {lid_us:.1f} µs; "
        f"typed text incl. parsing {typed_us:.0f} µs"
    )

    # Partial search: queries of 4-6 digits taken from cached numbers.
    queries = [n[-rng.randint(4, 6) :] for n in numbers[:30]]
    first_page = statistics.median(
        median_time(lambda q=q: store.matching_rows(classify(q), 20), 3) for q in queries
    )
    all_hits = statistics.median(
        median_time(lambda q=q: store.matching_rows(classify(q)), 3) for q in queries
    )
    rare = median_time(lambda: index.rows_containing("0000000000000"), 3)
    first = Figure(
        size,
        "partial search, first page of hits",
        first_page * 1e3,
        "ms",
        "≤ 5 ms",
        first_page * 1e3 <= 5,
    )
    first.peers.append(f"a query with no hit scans everything: {rare * 1e3:.0f} ms")
    every = Figure(
        size, "partial search, all hits", all_hits * 1e3, "ms", "≤ 50 ms", all_hits * 1e3 <= 50
    )

    # Peers for look-ups: TinyDB's own Query over the same file, jq over the exported JSON.
    number = numbers[0]
    with TinyDB(cache) as db:
        table = db.table("mappings")
        tinydb_exact = median_time(lambda: table.search(Query().n == number), 1)
        tinydb_partial = median_time(
            lambda: table.search(Query().n.test(lambda v, q=queries[0]: q in (v or ""))), 1
        )
    exact.peers.append(
        f"TinyDB Query {tinydb_exact * 1e3:,.0f} ms "
        f"({tinydb_exact * 1e6 / max(number_us, lid_us):,.0f}x slower)"
    )
    every.peers.append(
        f"TinyDB Query {tinydb_partial * 1e3:,.0f} ms ({tinydb_partial / all_hits:,.0f}x slower)"
    )
    export = workdir / f"export-{size}.json"
    with export.open("wb") as out:
        out.write(b"[")
        for position, record in enumerate(store.iter_record_dicts()):
            out.write((b",\n" if position else b"\n") + json.dumps(record).encode())
        out.write(b"]\n")
    jq_exact = jq_seconds(export, f'map(select(.number == "{number}"))')
    jq_partial = jq_seconds(export, f'map(select((.number // "") | contains("{queries[0]}")))')
    if jq_exact is not None and jq_partial is not None:
        exact.peers.append(f"jq {jq_exact * 1e3:,.0f} ms")
        every.peers.append(f"jq {jq_partial * 1e3:,.0f} ms ({jq_partial / all_hits:,.0f}x slower)")
    figures += [exact, first, every]

    if with_tui:
        probe = tui_probe(cache, numbers[0][-6:])
        figures.append(
            Figure(
                size,
                "TUI: launch to first page painted",
                probe["first_paint"],
                "s",
                "≤ 1.5 s",
                probe["first_paint"] <= 1.5,
            )
        )
        keystroke = Figure(
            size,
            "TUI: keystroke to table updated",
            probe["keystroke_ms"],
            "ms",
            "≤ 50 ms",
            probe["keystroke_ms"] <= 50,
        )
        keystroke.peers.append(f"the same query pasted at once: {probe['pasted_ms']:.0f} ms")
        figures.append(keystroke)
        figures.append(
            Figure(
                size,
                "TUI: peak memory while open",
                probe["peak_mb"],
                "MB",
                "≤ 750 MB",
                probe["peak_mb"] <= 750,
            )
        )
    return figures


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {platform.system()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-tui", action="store_true", help="skip the TUI measurements")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    print(f"lid-tui benchmark on {machine()}", flush=True)
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="lid-tui-bench-") as workdir:
        for size in sizes:
            started = time.perf_counter()
            figures += bench_size(size, args.repeat, Path(workdir), with_tui=not args.no_tui)
            print(
                f"  {size:,} mappings measured in {time.perf_counter() - started:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    print()
    print("| mappings | what | median | target | | peers, same run |")
    print("|---:|---|---:|---|---|---|")
    for figure in figures:
        print(figure.row())
    return 0


if __name__ == "__main__":
    sys.exit(main())
