"""The refresh engine, shared by the command line and the TUI.

It pages through the provider's list with a few requests in flight, retries what is worth
retrying, de-duplicates by LID, and writes the cache once at the end — also when it fails
half-way, so nothing fetched is thrown away. It knows nothing of terminals: progress goes to a
callback, cancellation comes through a :class:`threading.Event`.

Paging rules (from what providers do): a page can be shorter than ``limit`` without being the
last one (servers cap the page size), so the end is an empty page or reaching the count. Each
request owns a slot ``[start, stop)`` of offsets; a short answer re-queues the rest of its slot.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from lid_tui.models import ProviderPage, SyncProgress, SyncReport
from lid_tui.provider.base import Provider, ProviderError, TransientError
from lid_tui.store import MappingStore

ProgressCallback = Callable[[SyncProgress], None]


@dataclass(frozen=True, slots=True)
class SyncOptions:
    """Knobs of a refresh. The defaults suit the real provider (it advises ``limit=1000``)."""

    page_size: int = 1000
    concurrency: int = 4
    max_attempts: int = 6
    backoff_base: float = 0.5
    backoff_cap: float = 20.0
    #: Longest Retry-After we wait for; a provider asking for more makes the refresh fail.
    max_retry_after: float = 120.0


class SyncError(Exception):
    """A refresh that could not finish. ``report`` says what it kept; ``cause`` why it stopped."""

    def __init__(self, cause: ProviderError, report: SyncReport) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.report = report

    @property
    def exit_status(self) -> int:
        return self.cause.exit_status


class SyncCancelled(Exception):
    """The refresh was cancelled; ``report`` says what it kept."""

    def __init__(self, report: SyncReport) -> None:
        super().__init__("refresh cancelled")
        self.report = report


class RepeatedPage(TransientError):
    """The provider sent the same rows for two different offsets."""


class PersistentRepeat(RepeatedPage):
    """The provider keeps sending the same rows for different offsets: retrying is useless."""


@dataclass(slots=True)
class _Slot:
    start: int
    stop: int


class _Fetcher:
    """Fetches every page of one listing. Runs on the caller's thread; requests on a pool."""

    def __init__(
        self,
        provider: Provider,
        options: SyncOptions,
        cancel: threading.Event,
        progress: ProgressCallback | None,
        sleep: Callable[[float], bool],
    ) -> None:
        self.provider = provider
        self.options = options
        self.cancel = cancel
        self.progress = progress
        self.sleep = sleep  # returns True when interrupted by cancel
        self.pages: dict[int, ProviderPage] = {}
        self.fingerprints: dict[tuple[int, str, str], int] = {}
        self.started = time.monotonic()
        self.total: int | None = None
        self.fetched_rows = 0
        self.skipped = 0
        self.retrying: str | None = None
        #: False once the list is seen to change while we read it (rows past the count, or a
        #: different count at the end): then no LID can be called missing from it.
        self.stable = True
        #: Offsets whose accepted page may be the copy in a repeated-page clash: fetch again.
        self.suspects: set[int] = set()
        self.clashes = 0
        self._lock = threading.Lock()

    # -- one request, with retries --------------------------------------------------------

    def call_with_retries(self, call: Callable[[], ProviderPage | int | None]) -> object:
        attempt = 0
        while True:
            if self.cancel.is_set():
                raise _Cancelled
            try:
                result = call()
                self.retrying = None
                return result
            except TransientError as error:
                if isinstance(error, PersistentRepeat):
                    raise
                attempt += 1
                if attempt >= self.options.max_attempts:
                    raise
                delay = self._delay(attempt, error.retry_after)
                if delay is None:
                    raise
                self.retrying = f"{error} — retrying in {delay:.1f} s"
                self._report()
                if self.sleep(delay):
                    raise _Cancelled from None

    def _delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Exponential backoff with jitter; a provider's Retry-After wins when it is longer."""
        backoff = min(self.options.backoff_cap, self.options.backoff_base * 2 ** (attempt - 1))
        delay = backoff * random.uniform(0.5, 1.0)
        if retry_after is not None:
            if retry_after > self.options.max_retry_after:
                return None
            delay = max(delay, retry_after)
        return delay

    def fetch_page(self, slot: _Slot) -> ProviderPage:
        limit = self.options.page_size

        def request() -> ProviderPage:
            page = self.provider.list_page(slot.start, limit)
            self._check_not_repeated(slot.start, page)
            return page

        return self.call_with_retries(request)  # type: ignore[return-value]

    def _check_not_repeated(self, offset: int, page: ProviderPage) -> None:
        if len(page.rows) < 2:
            return
        key = (len(page.rows), page.rows[0][0], page.rows[-1][0])
        with self._lock:
            seen_at = self.fingerprints.setdefault(key, offset)
            if seen_at == offset:
                return
            # Either page may be the copy: forget the first, fetch it again, retry this one.
            self.clashes += 1
            del self.fingerprints[key]
            self.suspects.add(seen_at)
        message = f"the provider sent the same page for offsets {seen_at} and {offset}"
        if self.clashes > 2 * self.options.max_attempts:
            raise PersistentRepeat(message)
        raise RepeatedPage(message)

    # -- the listing ------------------------------------------------------------------------

    def run(self) -> None:
        options = self.options
        count = self.call_with_retries(self.provider.count)
        self.total = count if isinstance(count, int) and count >= 0 else None
        end: float = float("inf")
        # The first page alone tells us the server's page cap.
        first = self.fetch_page(_Slot(0, options.page_size))
        self._accept(0, first)
        if first.raw_rows == 0:
            return
        # A first page shorter than asked shows the server's cap (or the whole list).
        step = min(first.raw_rows, options.page_size)
        queue: list[_Slot] = []
        next_offset = first.raw_rows
        limit_end = self.total  # reaching the count ends the listing (plus one probe)
        probed_past_count = False

        with ThreadPoolExecutor(max_workers=options.concurrency, thread_name_prefix="sync") as pool:
            in_flight: dict[Future[ProviderPage], _Slot] = {}
            try:
                while True:
                    if self.cancel.is_set():
                        raise _Cancelled
                    self._requeue_suspects(queue, step)
                    while len(in_flight) < options.concurrency:
                        if queue:
                            slot = queue.pop(0)
                        elif next_offset < end and (limit_end is None or next_offset < limit_end):
                            slot = _Slot(next_offset, next_offset + step)
                            next_offset += step
                        elif (
                            limit_end is not None
                            and not probed_past_count
                            and next_offset >= limit_end
                            and next_offset < end
                            and not in_flight
                        ):
                            # Reached the count: one more page tells whether the list grew.
                            probed_past_count = True
                            slot = _Slot(next_offset, next_offset + step)
                            next_offset += step
                        else:
                            break
                        if slot.start >= end:
                            continue
                        in_flight[pool.submit(self.fetch_page, slot)] = slot
                    if not in_flight:
                        break
                    done, _ = wait(in_flight, timeout=0.25, return_when=FIRST_COMPLETED)
                    for future in done:
                        slot = in_flight.pop(future)
                        page = future.result()
                        if page.raw_rows == 0:
                            end = min(end, slot.start)
                            continue
                        if slot.start >= end:
                            continue
                        self._accept(slot.start, page)
                        reached = slot.start + page.raw_rows
                        if reached < slot.stop and reached < end:
                            queue.append(_Slot(reached, slot.stop))
                        if probed_past_count and slot.start >= (limit_end or 0):
                            # The list grew while we read it: keep going to the empty page.
                            limit_end = None
                            self.stable = False
            finally:
                self.cancel_pending(in_flight)

    def _requeue_suspects(self, queue: list[_Slot], step: int) -> None:
        """Drop accepted pages that a repeated-page clash made suspect, and fetch them again."""
        with self._lock:
            suspects, self.suspects = self.suspects, set()
        for offset in sorted(suspects):
            page = self.pages.pop(offset, None)
            if page is not None:
                self.fetched_rows -= len(page.rows)
                self.skipped -= page.skipped
                queue.append(_Slot(offset, offset + step))

    @staticmethod
    def cancel_pending(in_flight: dict[Future[ProviderPage], _Slot]) -> None:
        for future in in_flight:
            future.cancel()

    def _accept(self, offset: int, page: ProviderPage) -> None:
        self.pages[offset] = page
        self.fetched_rows += len(page.rows)
        self.skipped += page.skipped
        self._report()

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(
                SyncProgress(
                    fetched=self.fetched_rows,
                    total=self.total,
                    pages=len(self.pages),
                    skipped=self.skipped,
                    seconds=time.monotonic() - self.started,
                    retrying=self.retrying,
                )
            )

    def mappings(self) -> tuple[dict[str, str | None], int]:
        """Rows de-duplicated by LID in list order, and how many duplicates were dropped.

        A later row wins, except that a hidden number never hides one we were sent.
        """
        pages = [self.pages[offset].rows for offset in sorted(self.pages)]
        merged: dict[str, str | None] = {}
        for rows in pages:
            merged.update(rows)  # one C-level pass; right whenever no LID repeats
        if len(merged) == sum(map(len, pages)):
            return merged, 0
        merged.clear()
        duplicates = 0
        for rows in pages:
            for lid, number in rows:
                if lid in merged:
                    duplicates += 1
                    if number is None:
                        continue
                merged[lid] = number
        return merged, duplicates


class _Cancelled(Exception):
    pass


def run_sync(
    provider: Provider,
    store: MappingStore,
    *,
    options: SyncOptions | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    command: str = "lid-tui sync",
) -> SyncReport:
    """Refresh ``store`` from ``provider``; hold the cache's writer lock while doing it.

    Raises :class:`~lid_tui.storage.CacheBusy` when another process refreshes, :class:`SyncError`
    when the provider fails for good and :class:`SyncCancelled` when cancelled; in the last two
    cases whatever was fetched is merged (without marking anything as not listed).
    """
    options = options or SyncOptions()
    cancel = cancel or threading.Event()
    started = time.monotonic()
    with store.writing(command):
        fetcher = _Fetcher(provider, options, cancel, progress, sleep=cancel.wait)
        failure: ProviderError | None = None
        cancelled = False
        try:
            fetcher.run()
        except ProviderError as error:
            failure = error
        except _Cancelled:
            cancelled = True
        fetched, duplicates = fetcher.mappings()
        complete = failure is None and not cancelled
        report = SyncReport(
            fetched=len(fetched),
            skipped=fetcher.skipped,
            pages=len(fetcher.pages),
            duplicates=duplicates,
            complete=complete,
            error=str(failure) if failure else ("cancelled" if cancelled else None),
        )
        if fetched:
            counts = store.apply_refresh(
                fetched,
                complete=complete,
                mark_unlisted=fetcher.stable,
                refresh_meta={"fetched": len(fetched), "error": report.error},
            )
            report.added, report.changed = counts.added, counts.changed
            report.unchanged, report.not_listed = counts.unchanged, counts.not_listed
        report.seconds = round(time.monotonic() - started, 3)
    if failure is not None:
        raise SyncError(failure, report)
    if cancelled:
        raise SyncCancelled(report)
    return report
