"""Several processes, one cache: support staff keep the TUI open while cron runs ``lid-tui sync``.

Every "other process" here is a real one (the installed command, or a Python child opening the
cache), against the real demo server on loopback: the writers' lock, the owner record, the
atomic replace and the re-read before a write are exercised across process boundaries, the
way they are used.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import TOKEN, Runner
from crash_support import start_sync, wait_until_locked_by
from test_tui import SIZE, detail, spy_notices, status
from tui_support import make_app, settle, type_search

from lid_tui.demo.data import DemoDataset
from lid_tui.demo.server import DemoServer
from lid_tui.storage import CacheLock, FileSignature
from lid_tui.store import MappingStore
from lid_tui.tui.app import WATCH_INTERVAL

#: A page of 50 rows and a second per page: a refresh of 2,000 that holds the lock for ~10 s,
#: far longer than the checks made while it runs (it is killed once they are done).
SLOW = ("--page-size", "50")
SLOW_PAGE_DELAY = 1.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server() -> Iterator[DemoServer]:
    demo = DemoServer(DemoDataset(size=2000, seed=23), access_token=TOKEN).start()
    try:
        yield demo
    finally:
        demo.stop()


@pytest.fixture
def run(tmp_path: Path, server: DemoServer) -> Runner:
    """The command in an isolated home, with a complete first refresh already cached."""
    runner = Runner(tmp_path, server)
    first = runner("sync")
    assert first.returncode == 0, first.stderr
    return runner


@pytest.fixture
def refreshing(run: Runner) -> Iterator[subprocess.Popen[str]]:
    """A real ``lid-tui sync`` holding the cache's lock through a slow refresh of the next
    generation; SIGKILLed at the end of the test (how it ends is test_crash_safety's topic)."""
    run.server.advance()
    run.server.page_delay = SLOW_PAGE_DELAY
    process = start_sync(run, *SLOW)
    try:
        assert wait_until_locked_by(run.cache, process), process.communicate()
        yield process
    finally:
        process.kill()
        process.communicate()


def number_change(server: DemoServer) -> tuple[str, str, str]:
    """A LID whose number the server's generation 1 changes: (lid, old, new)."""
    change = server.dataset.changes(1).number_changes[0]
    return change.lid, change.old_number, change.new_number


def test_a_second_sync_is_refused_while_readers_keep_the_last_generation(
    run: Runner, server: DemoServer, refreshing: subprocess.Popen[str]
) -> None:
    lid, old, _new = number_change(server)
    before = run.cache.read_bytes()

    second = run("sync")
    assert second.returncode == 5
    assert second.stderr.count("\n") == 1
    assert f"process {refreshing.pid} (lid-tui sync)" in second.stderr

    # Readers need no lock and see the last complete generation (the first refresh), whole.
    looked = run("lookup", f"{lid}@lid", "--json")
    assert looked.returncode == 0 and json.loads(looked.stdout)["number"] == old
    found = run("search", old, "--json")
    assert found.returncode == 0 and json.loads(found.stdout)[0] == json.loads(looked.stdout)
    exported = run("export", "--format", "jsonl")
    assert exported.returncode == 0
    records = [json.loads(line) for line in exported.stdout.splitlines()]
    first_generation = server.expected_mappings(0)
    assert {r["lid"]: r["number"] for r in records} == {
        f"{lid}@lid": number for lid, number in first_generation.items()
    }

    # All of that happened during the refresh, which was left alone.
    assert refreshing.poll() is None
    assert CacheLock(run.cache).read_owner()["pid"] == refreshing.pid
    assert run.cache.read_bytes() == before


def test_the_lock_of_a_killed_sync_is_reclaimed_at_once(run: Runner, server: DemoServer) -> None:
    server.page_delay = SLOW_PAGE_DELAY
    process = start_sync(run, *SLOW)
    assert wait_until_locked_by(run.cache, process)
    process.kill()
    process.communicate()
    lock = CacheLock(run.cache)
    assert lock.read_owner()["pid"] == process.pid  # it never released anything

    # No stale-lock timeout to wait for: the OS dropped the lock with the process.
    lock.acquire("tests")
    lock.release()
    server.page_delay = 0.0
    result = run("sync")
    assert result.returncode == 0, result.stderr
    assert lock.read_owner() is None


@pytest.mark.anyio
async def test_an_open_tui_reloads_what_another_process_refreshed(
    run: Runner, server: DemoServer
) -> None:
    lid, old, new = number_change(server)
    app = make_app(run.cache, base_url=server.base_url, token=TOKEN, watch_interval=WATCH_INTERVAL)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        count_before = len(app.store)
        await type_search(pilot, f"{lid}@lid")
        assert detail(app).record.number == old

        server.advance()
        result = await asyncio.to_thread(run, "sync")  # cron, in another process
        assert result.returncode == 0, result.stderr
        count_after = len(MappingStore.open(run.cache))
        assert count_after > count_before

        # The app checks the file every WATCH_INTERVAL seconds; a reload takes a moment.
        deadline = time.monotonic() + WATCH_INTERVAL + 5
        while len(app.store) != count_after and time.monotonic() < deadline:
            await pilot.pause(0.05)
        await settle(pilot)
        assert len(app.store) == count_after
        assert status(app).left.startswith(f"1 match of {count_after:,}")
        record = detail(app).record
        assert record.number == new and record.history[-1].previous_number == old
        await pilot.press("escape")
        await settle(pilot)
        assert status(app).left.startswith(f"{count_after:,} mappings")


@pytest.mark.anyio
async def test_a_tui_refresh_is_refused_while_another_process_refreshes(
    run: Runner, server: DemoServer, refreshing: subprocess.Popen[str]
) -> None:
    before, signature = run.cache.read_bytes(), FileSignature.of(run.cache)
    app = make_app(run.cache, base_url=server.base_url, token=TOKEN)
    notices = spy_notices(app)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        count = len(app.store)
        await pilot.press("r")
        await settle(pilot)
        assert status(app).right == "⚠ refresh failed: cache busy"
        assert f"process {refreshing.pid} (lid-tui sync)" in notices[-1]["message"]
        assert not app.refreshing and len(app.store) == count
    assert refreshing.poll() is None  # the other refresh still runs, undisturbed
    assert run.cache.read_bytes() == before and FileSignature.of(run.cache) == signature


#: Process B: opens the cache, says so, waits for its cue, then caches one mapping of its own.
WRITER_B = """
import sys
from lid_tui.store import MappingStore

store = MappingStore.open(sys.argv[1])
print("opened", flush=True)
sys.stdin.readline()
with store.writing("process B"):
    store.apply_refresh({sys.argv[2]: sys.argv[3]}, complete=False, refresh_meta={"fetched": 1})
print("written", flush=True)
"""
LID_B, NUMBER_B = "399999999999999", "5521999999999"


def test_no_update_is_lost_between_processes(run: Runner, server: DemoServer) -> None:
    lid, _old, new = number_change(server)
    writer_b = subprocess.Popen(
        [sys.executable, "-c", WRITER_B, str(run.cache), LID_B, NUMBER_B],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer_b.stdout is not None and writer_b.stdin is not None
        assert writer_b.stdout.readline() == "opened\n"
        # Process A refreshes (the next generation) after B read the cache...
        server.advance()
        assert run("sync").returncode == 0
        after_a = MappingStore.open(run.cache)
        assert after_a.get(lid).number == new
        # ... then B writes what it learned, from its older view of the file.
        writer_b.stdin.write("go\n")
        writer_b.stdin.flush()
        assert writer_b.stdout.readline() == "written\n"
        assert writer_b.wait(timeout=30) == 0
    finally:
        if writer_b.poll() is None:
            writer_b.kill()
        writer_b.communicate()

    final = MappingStore.open(run.cache)
    assert final.get(LID_B).number == NUMBER_B  # B's update
    assert final.get(lid).number == new  # A's update, not overwritten by B's stale view
    assert len(final) == len(after_a) + 1
    assert all(final.get(added_lid) for added_lid, _ in server.dataset.changes(1).added)
