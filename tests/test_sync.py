"""The refresh engine against a scripted in-memory provider (the demo server covers HTTP)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from lid_tui.models import ProviderPage, SyncProgress
from lid_tui.provider.base import (
    CredentialsRejected,
    ProviderError,
    RateLimited,
    UpstreamFailure,
)
from lid_tui.storage import CacheBusy
from lid_tui.store import MappingStore
from lid_tui.sync import SyncCancelled, SyncError, SyncOptions, run_sync

FAST = SyncOptions(page_size=100, concurrency=3, backoff_base=0.001, backoff_cap=0.01)


def make_rows(count: int, start: int = 0) -> list[tuple[str, str | None]]:
    return [
        (str(100_000_000_000_000 + i), None if i % 20 == 0 else str(5511900000000 + i))
        for i in range(start, start + count)
    ]


class ScriptedProvider:
    """A provider over a list of rows, with a server page cap and a fault script.

    ``faults`` maps a call number (0-based, across list_page calls) to an exception to raise.
    """

    display_name = "scripted"

    def __init__(
        self,
        rows: list[tuple[str, str | None]],
        *,
        cap: int = 1000,
        count: int | Callable[[], int | None] | None = None,
        faults: dict[int, ProviderError] | None = None,
        on_page: Callable[[int], None] | None = None,
    ) -> None:
        self.rows = rows
        self.cap = cap
        self._count = count
        self.faults = dict(faults or {})
        self.calls: list[tuple[int, int]] = []
        self.on_page = on_page
        self._lock = threading.Lock()

    def count(self) -> int | None:
        return self._count() if callable(self._count) else self._count

    def list_page(self, offset: int, limit: int) -> ProviderPage:
        with self._lock:
            call = len(self.calls)
            self.calls.append((offset, limit))
            fault = self.faults.pop(call, None)
        if self.on_page:
            self.on_page(call)
        if fault is not None:
            raise fault
        chunk = self.rows[offset : offset + min(limit, self.cap)]
        return ProviderPage(rows=list(chunk), raw_rows=len(chunk))

    def resolve_number(self, number: str) -> tuple[str, str | None] | None:
        return None

    def close(self) -> None:
        pass


@pytest.fixture
def store(cache_path: Path) -> MappingStore:
    return MappingStore.open(cache_path)


@pytest.mark.parametrize("count", [None, 1234])
@pytest.mark.parametrize("cap", [100, 37])
def test_fetches_everything_with_capped_pages(store: MappingStore, count, cap) -> None:
    rows = make_rows(1234)
    provider = ScriptedProvider(rows, cap=cap, count=count)
    report = run_sync(provider, store, options=FAST)
    assert report.complete
    assert report.fetched == report.added == 1234
    assert dict(rows) == {row.lid: row.number for row in store.index.iter_rows()}
    # Order in the cache is the provider's order.
    assert [row.lid for row in store.rows(0, 3)] == [lid for lid, _ in rows[:3]]


def test_empty_list(store: MappingStore) -> None:
    report = run_sync(ScriptedProvider([], count=0), store, options=FAST)
    assert report.fetched == 0 and report.pages == 1
    assert not store.path.exists()  # nothing to write


def test_short_page_is_not_the_end(store: MappingStore) -> None:
    """A server that caps pages at 60 while we ask 100: the engine must not stop early."""
    provider = ScriptedProvider(make_rows(250), cap=60, count=None)
    report = run_sync(provider, store, options=FAST)
    assert report.fetched == 250


def test_count_reached_then_growth_is_followed(store: MappingStore) -> None:
    rows = make_rows(300)
    provider = ScriptedProvider(rows, count=200)  # stale count: the list grew
    report = run_sync(provider, store, options=FAST)
    assert report.fetched == 300


def test_duplicates_across_pages_are_merged(store: MappingStore) -> None:
    rows = make_rows(150)
    rows.insert(120, rows[10])  # the same LID again on the next page
    report = run_sync(ScriptedProvider(rows, count=None), store, options=FAST)
    assert report.fetched == 150
    assert report.duplicates == 1


def test_transient_failures_are_retried(store: MappingStore) -> None:
    faults = {
        1: UpstreamFailure("502 Bad Gateway"),
        2: RateLimited("429", retry_after=0.05),
        4: UpstreamFailure("HTML page"),
    }
    provider = ScriptedProvider(make_rows(500), count=500, faults=faults)
    seen: list[SyncProgress] = []
    report = run_sync(provider, store, options=FAST, progress=seen.append)
    assert report.complete and report.fetched == 500
    assert any(p.retrying for p in seen)
    assert seen[-1].total == 500


def test_retry_after_is_honoured(store: MappingStore) -> None:
    import time

    provider = ScriptedProvider(
        make_rows(50), count=50, faults={0: RateLimited("slow down", retry_after=0.3)}
    )
    started = time.monotonic()
    run_sync(provider, store, options=FAST)
    assert time.monotonic() - started >= 0.3


def test_too_long_retry_after_fails(store: MappingStore) -> None:
    provider = ScriptedProvider(make_rows(50), faults={0: RateLimited("wait", retry_after=9999)})
    with pytest.raises(SyncError):
        run_sync(provider, store, options=FAST)


def test_gives_up_after_max_attempts(store: MappingStore) -> None:
    faults = {i: UpstreamFailure("down") for i in range(100)}
    with pytest.raises(SyncError) as failed:
        run_sync(ScriptedProvider(make_rows(50), faults=faults), store, options=FAST)
    assert failed.value.exit_status == 4
    assert not store.path.exists()


def test_credentials_rejected_leaves_cache_untouched(store: MappingStore) -> None:
    run_sync(ScriptedProvider(make_rows(120), count=120), store, options=FAST)
    before = store.path.read_bytes()
    provider = ScriptedProvider(make_rows(120), faults={0: CredentialsRejected("401")})
    with pytest.raises(SyncError) as failed:
        run_sync(provider, store, options=FAST)
    assert failed.value.exit_status == 3
    assert store.path.read_bytes() == before


def test_failure_half_way_keeps_what_was_fetched(store: MappingStore) -> None:
    rows = make_rows(1000)
    run_sync(ScriptedProvider(rows[:300], count=300), store, options=FAST)
    faults = {i: UpstreamFailure("gone") for i in range(5, 200)}
    provider = ScriptedProvider(rows, count=1000, faults=faults)
    with pytest.raises(SyncError) as failed:
        run_sync(
            provider,
            store,
            options=SyncOptions(page_size=100, concurrency=1, max_attempts=2, backoff_base=0.001),
        )
    report = failed.value.report
    assert not report.complete and report.fetched >= 100
    reopened = MappingStore.open(store.path)
    assert len(reopened) >= 300  # the old ones are all still there
    assert all(row.listed for row in reopened.index.iter_rows())  # nothing marked missing
    assert reopened.last_refresh is not None and not reopened.last_refresh.complete


def test_cancel_keeps_fetched_and_marks_nothing(store: MappingStore) -> None:
    cancel = threading.Event()

    def on_page(call: int) -> None:
        if call == 3:
            cancel.set()

    provider = ScriptedProvider(make_rows(2000), count=2000, on_page=on_page)
    with pytest.raises(SyncCancelled) as cancelled:
        run_sync(provider, store, options=FAST, cancel=cancel)
    assert 0 < cancelled.value.report.fetched < 2000
    assert len(MappingStore.open(store.path)) == cancelled.value.report.fetched


def test_complete_refresh_marks_missing_as_not_listed(store: MappingStore) -> None:
    rows = make_rows(200)
    run_sync(ScriptedProvider(rows, count=200), store, options=FAST)
    report = run_sync(ScriptedProvider(rows[:150], count=150), store, options=FAST)
    assert report.not_listed == 50 and report.unchanged == 150
    assert len(store) == 200


def test_repeated_page_is_retried_then_fails(store: MappingStore) -> None:
    class Repeating(ScriptedProvider):
        def list_page(self, offset: int, limit: int) -> ProviderPage:
            return super().list_page(min(offset, 100), limit)  # every page past 1 is page 1

    with pytest.raises(SyncError) as failed:
        run_sync(Repeating(make_rows(500), count=None), store, options=FAST)
    assert "same page" in str(failed.value)


def test_second_refresh_is_refused_while_one_runs(store: MappingStore) -> None:
    other = MappingStore.open(store.path)
    with other.writing("lid-tui sync"), pytest.raises(CacheBusy):
        run_sync(ScriptedProvider(make_rows(10)), store, options=FAST)
