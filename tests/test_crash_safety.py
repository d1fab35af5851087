"""Crash safety: ``lid-tui sync`` killed (SIGKILL, SIGINT, SIGTERM) all over a refresh of 50k
mappings never breaks the cache, never loses a mapping and never keeps the lock.

The kills run in a loop inside two tests (a fresh server, home and baseline each, ~20 s of
kills apiece), which run in parallel under ``pytest -n 2``; every broken promise of every kill
is reported with its plan and the phase the refresh had reached. The machinery, and the checks
made after each kill, are in ``crash_support`` (``benchmarks/crash_stress.py`` reuses them for
hundreds of random kills). Also here: the temp file a SIGKILL leaves is removed by the next
writer, and by no one else.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from crash_support import (
    CrashHarness,
    KillOutcome,
    KillPlan,
    Moment,
    Phase,
    Sig,
    failure_report,
    phase_table,
)

from lid_tui.storage import CacheLock, atomic_write_bytes, stale_temp_files
from lid_tui.store import MappingStore

pages, fetch_end, during_write = Moment.pages, Moment.fetch_end, Moment.during_write

K, INT, T, INT2 = Sig.KILL, Sig.INT, Sig.TERM, Sig.INT_TWICE

#: 24 kill points in two chains (one per xdist worker), each mixing the three signals: at the
#: lock, early, mid and late in the fetch, at its end and during the final write. A SIGKILL
#: during the write is never last, so the next sync of the chain must tidy up after it.
CHAINS: dict[str, list[KillPlan]] = {
    "chain-a": [
        KillPlan(K, pages(0)),
        KillPlan(INT, pages(0.4)),
        KillPlan(K, during_write()),
        KillPlan(T, pages(0.2)),
        KillPlan(INT, fetch_end()),
        KillPlan(K, pages(0.6)),
        KillPlan(T, during_write()),
        KillPlan(INT2, pages(0.5)),
        KillPlan(K, during_write(extra=0.03)),
        KillPlan(T, pages(0.95)),
        KillPlan(INT, during_write()),
        KillPlan(K, pages(0.9)),
    ],
    "chain-b": [
        KillPlan(T, pages(0)),
        KillPlan(K, pages(0.05)),
        KillPlan(INT, during_write()),
        KillPlan(K, pages(0.3)),
        KillPlan(T, pages(0.5)),
        KillPlan(K, during_write()),
        KillPlan(INT, pages(0.8)),
        KillPlan(T, fetch_end()),
        KillPlan(K, fetch_end()),
        KillPlan(INT2, during_write()),
        KillPlan(T, during_write()),
        KillPlan(INT, pages(0)),
    ],
}


def summary(outcomes: list[KillOutcome], final: list[str]) -> str:
    lines = [phase_table(outcomes)]
    for outcome in outcomes:
        detail = "cache replaced" if outcome.cache_changed else "cache unchanged"
        if outcome.temp_left:
            detail += ", temp file left"
        if outcome.stale_temp_removed:
            detail += ", removed the stale temp file"
        lines.append(f"  {outcome.describe()}: {detail} ({outcome.seconds:.1f} s)")
    failures = failure_report(outcomes)
    if failures or final:
        lines += ["FAILURES:", failures, *final]
    return "\n".join(lines)


def run_chain(chain: str, home: Path) -> None:
    """Baseline, the chain's kills, a closing sync; then every promise of every kill."""
    with CrashHarness(home) as harness:
        harness.establish_baseline()
        for plan in CHAINS[chain]:
            harness.kill(plan)
        final = harness.final_sync()
    outcomes = harness.outcomes
    report = summary(outcomes, final)
    print(report)  # the figures: pytest -rP shows them
    assert not failure_report(outcomes) and not final, report

    # The plan was really carried out: the refresh was caught while fetching and during
    # its final write, not only before or after.
    phases = {outcome.phase for outcome in outcomes}
    assert Phase.LOCKED in phases and phases & {Phase.FETCH_MID, Phase.FETCH_LATE}, report
    write_kills = [o for o in outcomes if o.plan.moment.write]
    assert any(o.phase is Phase.WRITE for o in write_kills), report
    # SIGINT and SIGTERM are handled: a message and what was fetched kept, no silent death.
    handled = [o for o in outcomes if o.plan.signal is not Sig.KILL]
    assert {o.returncode for o in handled} <= {0, 130}, report
    assert any("kept the" in o.stderr for o in handled if o.cache_changed), report
    # A SIGKILL between the temp file and the replace leaves the temp file; the next sync
    # (which takes the lock) removes it.
    left = [o for o in outcomes if o.temp_left]
    assert left, report
    assert all(outcomes[o.number].stale_temp_removed for o in left), report


# The two chains are separate tests, apart in the file, so that xdist hands them to different
# workers (it sends consecutive tests to the same one).


@pytest.mark.slow
def test_kills_all_over_a_refresh_never_break_the_cache_a(tmp_path: Path) -> None:
    run_chain("chain-a", tmp_path)


# -- stale temp files -------------------------------------------------------------------------


def write_then_die(path: Path) -> None:
    """Run :func:`atomic_write_bytes` in a child that dies where a SIGKILL would hurt most:
    after the temp file is complete, before ``os.replace``."""
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from lid_tui import storage\n"
        "storage.os.replace = lambda *args: os._exit(9)\n"
        "storage.atomic_write_bytes(Path(sys.argv[1]), b'{\"half\": true}')\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(path)], timeout=30)
    assert result.returncode == 9


def test_the_next_lock_holder_removes_what_a_killed_writer_left(tmp_path: Path) -> None:
    cache = tmp_path / "instance.json"
    lock = CacheLock(cache)
    atomic_write_bytes(cache, b'{"mappings": {}}')
    write_then_die(cache)
    write_then_die(lock.owner_path)
    stale = stale_temp_files(cache) + stale_temp_files(lock.owner_path)
    assert len(stale) == 2, sorted(p.name for p in tmp_path.iterdir())
    # Files that only look alike belong to others: an export's temp file, another cache's.
    others = [
        tmp_path / ".instance.json.csv.abcd1234.tmp",
        tmp_path / ".other.json.abcd1234.tmp",
        tmp_path / "instance.json.broken-20250101T000000",
    ]
    for other in others:
        other.write_bytes(b"not ours")

    # A reader never touches them: a temp file may belong to a live writer.
    MappingStore.open(cache)
    assert all(path.exists() for path in stale)

    lock.acquire("lid-tui sync")
    try:
        assert not any(path.exists() for path in stale)
        assert all(path.read_bytes() == b"not ours" for path in others)
        assert cache.read_bytes() == b'{"mappings": {}}'
    finally:
        lock.release()


def test_only_the_lock_holder_may_remove_temp_files(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        CacheLock(tmp_path / "instance.json").remove_stale_temp_files()


@pytest.mark.slow
def test_kills_all_over_a_refresh_never_break_the_cache_b(tmp_path: Path) -> None:
    run_chain("chain-b", tmp_path)
