"""Broken providers: every fault the demo server can inject, over real HTTP on loopback.

Each fault runs through the sync engine in-process (small backoff, so the suite stays fast) and,
where the exit status and the message are the point, through the ``lid-tui sync`` command. The
promises checked every time: a transient fault is retried and the refresh succeeds; any other
ends with its exit status and a one-line message; no cached mapping is lost; and no LID is
marked as not listed unless a complete listing left it out.

The cache starts as a previous complete refresh of the same data left it, so after any run the
provider still lists every cached LID: a record marked not listed is always a wrong mark.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cli_support import Runner, seed_cache

from lid_tui.demo.data import DemoDataset
from lid_tui.demo.faults import Fault, FaultKind, FaultRoute
from lid_tui.demo.server import DemoServer
from lid_tui.models import ProviderPage
from lid_tui.provider.base import (
    CredentialsRejected,
    InstanceNotConnected,
    ProviderError,
    QuotaExceeded,
    RateLimited,
    UnusablePayload,
    UpstreamFailure,
)
from lid_tui.provider.wawp import WawpProvider
from lid_tui.store import MappingStore
from lid_tui.sync import RepeatedPage, SyncError, SyncOptions, run_sync

TOKEN = "tok-faults-Hq4v8Rx2"
SIZE = 1000  # 10 pages of 100: enough for faults in the middle of a listing
PAGE = 100
#: Answers slower than this are given up on; SLOW faults sleep well past it.
TIMEOUT = 0.3
FAST = SyncOptions(
    page_size=PAGE, concurrency=2, max_attempts=3, backoff_base=0.01, backoff_cap=0.05
)
#: ``lid-tui sync`` with small pages, one retry and a short timeout.
SYNC = ("sync", "--page-size", str(PAGE), "--concurrency", "2", "--retries", "1")


# -- fixtures and helpers -----------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[DemoServer]:
    demo = DemoServer(DemoDataset(size=SIZE, seed=5), access_token=TOKEN).start()
    try:
        yield demo
    finally:
        demo.stop()


@dataclass
class CacheView:
    """What ``lid-tui export`` would print, plus which LIDs are marked as not listed."""

    records: dict[str, dict[str, Any]]
    not_listed: set[str]
    last_complete: bool | None

    @classmethod
    def read(cls, path: Path) -> CacheView:
        store = MappingStore.open(path)
        try:
            records = {record["lid"]: record for record in store.iter_record_dicts()}
            hidden = set()
            for lid in records:
                record = store.get(lid.removesuffix("@lid"))
                if record is None or not record.listed:
                    hidden.add(lid)
            info = store.last_refresh
            return cls(records, hidden, None if info is None else info.complete)
        finally:
            store.close()

    def mappings(self) -> dict[str, str | None]:
        return {lid.removesuffix("@lid"): r["number"] for lid, r in self.records.items()}


def assert_nothing_lost(before: CacheView, after: CacheView) -> None:
    """Every record is still there, with its number and its first sighting; none is marked
    as not listed (the provider still lists them all)."""
    missing = before.records.keys() - after.records.keys()
    assert not missing, f"{len(missing)} cached mappings lost"
    for lid, record in before.records.items():
        kept = after.records[lid]
        assert (kept["number"], kept["first_seen"]) == (record["number"], record["first_seen"])
    assert not after.not_listed, f"{len(after.not_listed)} LIDs wrongly marked as not listed"


@dataclass
class Call:
    offset: int
    started: float
    error: type[ProviderError] | None


@dataclass
class Recorder:
    """A provider wrapper that records every listing call: offset, start time, what it raised.

    ``before`` and ``after`` run around the real call (tests use them to order requests)."""

    inner: WawpProvider
    before: Callable[[int], None] | None = None
    after: Callable[[int], None] | None = None
    calls: list[Call] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def display_name(self) -> str:
        return self.inner.display_name

    def list_page(self, offset: int, limit: int) -> ProviderPage:
        if self.before is not None:
            self.before(offset)
        started = time.monotonic()
        try:
            page = self.inner.list_page(offset, limit)
        except ProviderError as error:
            with self._lock:
                self.calls.append(Call(offset, started, type(error)))
            raise
        with self._lock:
            self.calls.append(Call(offset, started, None))
        if self.after is not None:
            self.after(offset)
        return page

    def count(self) -> int | None:
        return self.inner.count()

    def resolve_number(self, number: str) -> tuple[str, str | None] | None:
        return self.inner.resolve_number(number)

    def close(self) -> None:
        self.inner.close()

    def errors(self) -> list[type[ProviderError]]:
        return [call.error for call in self.calls if call.error is not None]

    def retried_offsets(self) -> set[int]:
        seen: set[int] = set()
        again: set[int] = set()
        for call in self.calls:
            (again if call.offset in seen else seen).add(call.offset)
        return again


Refresh = Callable[..., tuple[Any, Recorder]]


@pytest.fixture
def refresh(server: DemoServer, cache_path: Path) -> Iterator[Refresh]:
    """Install a fault plan, run one refresh of the seeded cache; returns (report or SyncError,
    recorder). The provider's timeout is short so SLOW faults trip it."""
    seed_cache(cache_path, server.expected_mappings(0))
    providers: list[Recorder] = []

    def run(
        *faults: Fault, options: SyncOptions = FAST, **recorder_options: Any
    ) -> tuple[Any, Recorder]:
        server.set_faults(faults)
        provider = Recorder(
            WawpProvider(server.base_url, "demo", TOKEN, timeout=TIMEOUT), **recorder_options
        )
        providers.append(provider)
        store = MappingStore.open(cache_path)
        try:
            return run_sync(provider, store, options=options), provider
        except SyncError as error:
            return error, provider
        finally:
            store.close()

    yield run
    for provider in providers:
        provider.close()


# -- transient faults: retried, the refresh succeeds ------------------------------------------

#: Fault kind (firing once, on the third listing request) -> the error the client saw.
TRANSIENT_ONCE: dict[str, tuple[Fault, type[ProviderError] | None]] = {
    "500": (Fault(FaultKind.STATUS, start=3, status=500), UpstreamFailure),
    "502": (Fault(FaultKind.STATUS, start=3, status=502), UpstreamFailure),
    "503": (Fault(FaultKind.STATUS, start=3, status=503), UpstreamFailure),
    "html with status 200": (Fault(FaultKind.HTML200, start=3), UpstreamFailure),
    "truncated json": (Fault(FaultKind.TRUNCATED, start=3), UnusablePayload),
    "reset connection": (Fault(FaultKind.RESET, start=3), UpstreamFailure),
    "slower than the timeout": (Fault(FaultKind.SLOW, start=3, seconds=1.5), UpstreamFailure),
    # The engine raises RepeatedPage itself: the provider call succeeded.
    "repeated page": (Fault(FaultKind.REPEAT_PAGE, start=3), None),
    "503 on the count": (Fault(FaultKind.STATUS, route=FaultRoute.COUNT, status=503), None),
}


@pytest.mark.parametrize("name", list(TRANSIENT_ONCE))
def test_a_transient_fault_is_retried_and_the_refresh_succeeds(
    name: str, refresh: Refresh, server: DemoServer, cache_path: Path
) -> None:
    fault, seen = TRANSIENT_ONCE[name]
    before = CacheView.read(cache_path)
    # A repeated page must be told apart from the page it copies; with pages in flight that
    # races (see test_a_repeated_page_is_told_apart_from_the_page_it_copies), so one at a time.
    options = FAST if fault.kind is not FaultKind.REPEAT_PAGE else _one_at_a_time()
    report, provider = refresh(fault, options=options)

    assert not isinstance(report, SyncError), report
    assert report.complete and report.fetched == SIZE and report.not_listed == 0
    if fault.route is FaultRoute.LIDS:
        assert provider.retried_offsets(), "the fault did not cause a retry"
    assert provider.errors() == ([seen] if seen else [])
    after = CacheView.read(cache_path)
    assert_nothing_lost(before, after)
    assert after.mappings() == server.expected_mappings(0)
    assert after.last_complete is True


def _one_at_a_time() -> SyncOptions:
    return SyncOptions(page_size=PAGE, concurrency=1, max_attempts=3, backoff_base=0.01)


def test_429_waits_as_long_as_retry_after_says(refresh: Refresh, cache_path: Path) -> None:
    before = CacheView.read(cache_path)
    report, provider = refresh(Fault(FaultKind.STATUS, start=3, status=429, retry_after=1))
    assert not isinstance(report, SyncError), report
    assert report.complete and report.fetched == SIZE
    (limited,) = [call for call in provider.calls if call.error is RateLimited]
    retry = next(
        call for call in provider.calls if call.offset == limited.offset and call is not limited
    )
    # Our backoff here is 10 ms: only Retry-After explains a wait of a second.
    assert retry.started - limited.started >= 0.95
    assert_nothing_lost(before, CacheView.read(cache_path))


def test_a_retry_after_longer_than_we_accept_ends_the_refresh(
    refresh: Refresh, cache_path: Path
) -> None:
    before = CacheView.read(cache_path)
    options = SyncOptions(page_size=PAGE, concurrency=2, backoff_base=0.01, max_retry_after=0.5)
    started = time.monotonic()
    error, _ = refresh(
        Fault(FaultKind.STATUS, start=3, status=429, retry_after=30), options=options
    )
    assert isinstance(error, SyncError) and isinstance(error.cause, RateLimited)
    assert error.exit_status == 4
    assert time.monotonic() - started < 5, "it waited for a Retry-After it should refuse"
    after = CacheView.read(cache_path)
    assert_nothing_lost(before, after)
    assert after.last_complete is False


# -- faults that end the refresh ---------------------------------------------------------------

#: name -> (fault, error type, exit status). Credentials and connection faults fire on every
#: route from the first request (the count); the others after the first listing page, so the
#: refresh has fetched part of the list when it gives up.
FATAL: dict[str, tuple[Fault, type[ProviderError], int]] = {
    "401": (
        Fault(FaultKind.STATUS, route=FaultRoute.ANY, times=None, status=401),
        CredentialsRejected,
        3,
    ),
    "403": (
        Fault(FaultKind.STATUS, route=FaultRoute.ANY, times=None, status=403),
        QuotaExceeded,
        3,
    ),
    "422": (
        Fault(FaultKind.STATUS, route=FaultRoute.ANY, times=None, status=422),
        InstanceNotConnected,
        4,
    ),
    "401 mid-listing": (Fault(FaultKind.STATUS, start=3, status=401), CredentialsRejected, 3),
    "503 persistent": (
        Fault(FaultKind.STATUS, start=2, times=None, status=503),
        UpstreamFailure,
        4,
    ),
    "html persistent": (Fault(FaultKind.HTML200, start=2, times=None), UpstreamFailure, 4),
    "truncated persistent": (Fault(FaultKind.TRUNCATED, start=2, times=None), UnusablePayload, 4),
    "reset persistent": (Fault(FaultKind.RESET, start=2, times=None), UpstreamFailure, 4),
    "slow persistent": (
        Fault(FaultKind.SLOW, start=2, times=None, seconds=1.0),
        UpstreamFailure,
        4,
    ),
    "repeat persistent": (Fault(FaultKind.REPEAT_PAGE, start=2, times=None), RepeatedPage, 4),
}


@pytest.mark.parametrize("name", list(FATAL))
def test_a_lasting_fault_ends_the_refresh_and_keeps_the_cache(
    name: str, refresh: Refresh, cache_path: Path
) -> None:
    fault, kind, status = FATAL[name]
    before_bytes = cache_path.read_bytes()
    before = CacheView.read(cache_path)
    error, _ = refresh(fault)

    assert isinstance(error, SyncError), f"the refresh succeeded: {error}"
    assert isinstance(error.cause, kind) and error.exit_status == status
    assert not error.report.complete
    after = CacheView.read(cache_path)
    assert_nothing_lost(before, after)
    if error.report.fetched == 0:
        assert cache_path.read_bytes() == before_bytes, "an empty failed refresh wrote the cache"
    else:
        assert after.last_complete is False  # recorded as incomplete, so nothing was marked


# -- the list growing while it is read ---------------------------------------------------------


def test_the_list_growing_at_the_end_is_read_to_its_new_end(
    refresh: Refresh, server: DemoServer, cache_path: Path
) -> None:
    """The count said 1000; the end probe finds the rows added since and reads on."""
    before = CacheView.read(cache_path)
    report, _ = refresh(Fault(FaultKind.GROW, start=4, rows=30, where="end"))
    assert not isinstance(report, SyncError), report
    assert report.complete and report.fetched == SIZE + 30 and report.added == 30
    after = CacheView.read(cache_path)
    assert_nothing_lost(before, after)
    assert after.mappings() == server.expected_mappings()


def test_the_list_growing_at_the_front_shifts_rows_and_marks_nothing(
    refresh: Refresh, server: DemoServer, cache_path: Path
) -> None:
    """Rows added before those already read push the rest one page-slice further: this run
    reads some rows twice and misses the new ones; the next run has them. Pages are read one
    at a time here (with pages in flight, see the test below)."""
    before = CacheView.read(cache_path)
    report, _ = refresh(
        Fault(FaultKind.GROW, start=4, rows=30, where="front"), options=_one_at_a_time()
    )
    assert not isinstance(report, SyncError), report
    assert report.complete and report.duplicates == 30 and report.not_listed == 0
    after = CacheView.read(cache_path)
    assert_nothing_lost(before, after)
    new_rows = server.expected_mappings().keys() - after.mappings().keys()
    assert len(new_rows) == 30  # missed this time: they were added behind the reader

    # The next refresh brings them (the server has moved to its next generation by then).
    report, _ = refresh()
    assert not isinstance(report, SyncError), report
    assert new_rows <= CacheView.read(cache_path).mappings().keys()


def test_the_list_growing_at_the_front_with_pages_in_flight_marks_nothing(
    refresh: Refresh, cache_path: Path
) -> None:
    """Deterministic order: offset 200 is answered first (old layout), then the list grows by
    30 rows at the front, then offset 100 is answered (new layout). Rows 170-199 of the old
    list are in neither page, yet the provider still lists them."""
    answered_200 = threading.Event()

    def before(offset: int) -> None:
        if offset == 100 and not answered_200.is_set():
            answered_200.wait(5)

    def after(offset: int) -> None:
        if offset == 200:
            answered_200.set()

    before_view = CacheView.read(cache_path)
    report, _ = refresh(
        Fault(FaultKind.GROW, start=3, rows=30, where="front"), before=before, after=after
    )
    assert not isinstance(report, SyncError), report
    assert_nothing_lost(before_view, CacheView.read(cache_path))


def test_a_repeated_page_is_told_apart_from_the_page_it_copies(
    refresh: Refresh, cache_path: Path
) -> None:
    """Offset 100 is answered first; offset 200 then gets a copy of it and is registered
    first. A refresh should retry offset 200, not give up on offset 100."""
    answered_100 = threading.Event()
    registered_200 = threading.Event()

    def before(offset: int) -> None:
        if offset == 200 and not answered_100.is_set():
            answered_100.wait(5)

    def after(offset: int) -> None:
        if offset == 100 and not answered_100.is_set():
            answered_100.set()
            registered_200.wait(5)
            time.sleep(0.2)  # offset 200's thread registers its (copied) fingerprint now
        elif offset == 200:
            registered_200.set()

    before_view = CacheView.read(cache_path)
    report, _ = refresh(Fault(FaultKind.REPEAT_PAGE, start=3), before=before, after=after)
    assert not isinstance(report, SyncError), report
    assert report.complete and report.fetched == SIZE
    assert_nothing_lost(before_view, CacheView.read(cache_path))


# -- the command: exit status and message --------------------------------------------------------

#: name -> (faults, extra flags, exit status, words the message must hold).
COMMAND_CASES: dict[str, tuple[list[Fault], list[str], int, tuple[str, ...]]] = {
    "401": (
        [Fault(FaultKind.STATUS, route=FaultRoute.ANY, times=None, status=401)],
        [],
        3,
        ("rejected the credentials", "cache was not changed"),
    ),
    "403": (
        [Fault(FaultKind.STATUS, route=FaultRoute.ANY, times=None, status=403)],
        [],
        3,
        ("quota",),
    ),
    "422": (
        [Fault(FaultKind.STATUS, route=FaultRoute.ANY, times=None, status=422)],
        [],
        4,
        ("instance is not connected",),
    ),
    "503 persistent": (
        [Fault(FaultKind.STATUS, start=2, times=None, status=503)],
        [],
        4,
        ("refresh incomplete", "(503)", "kept the 100 mappings"),
    ),
    "slow persistent": (
        [Fault(FaultKind.SLOW, start=2, times=None, seconds=2.0)],
        ["--timeout", str(TIMEOUT)],
        4,
        ("did not answer in time",),
    ),
    "repeat persistent": (
        [Fault(FaultKind.REPEAT_PAGE, start=2, times=None)],
        [],
        4,
        ("same page for offsets",),
    ),
    "429 with retry-after": (
        [Fault(FaultKind.STATUS, start=2, status=429, retry_after=1)],
        [],
        0,
        (),
    ),
    "503 once": ([Fault(FaultKind.STATUS, start=2, status=503)], [], 0, ()),
    "slow once": (
        [Fault(FaultKind.SLOW, start=2, seconds=2.0)],
        ["--timeout", str(TIMEOUT)],
        0,
        (),
    ),
}


@pytest.mark.parametrize("name", list(COMMAND_CASES))
def test_sync_command_exit_status_and_message(
    name: str, server: DemoServer, tmp_path: Path
) -> None:
    faults, flags, status, words = COMMAND_CASES[name]
    run = Runner(tmp_path, server, token=TOKEN)
    seed_cache(run.cache, server.expected_mappings(0))
    before = CacheView.read(run.cache)
    server.set_faults(faults)

    result = run(*SYNC, *flags)

    assert result.returncode == status, result.stderr
    if status == 0:
        assert result.stderr == "" and result.stdout.startswith("Fetched 1,000 mappings")
    else:
        assert result.stdout == ""
        assert result.stderr.startswith("lid-tui: ") and result.stderr.count("\n") == 1
        for word in words:
            assert word in result.stderr, result.stderr
    assert_nothing_lost(before, CacheView.read(run.cache))
