"""Messages that workers post to the app. Workers never touch widgets; handlers do."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from textual.message import Message

from lid_tui.config import Settings
from lid_tui.identity import Query
from lid_tui.index import Scan
from lid_tui.models import SyncProgress, SyncReport
from lid_tui.store import MappingStore


@dataclass
class StoreOpened(Message):
    """The cache is open (maybe empty); ``generation`` tells apart opens after a switch.

    ``settings`` are those the app now talks to (the demo server's, in a demo).
    """

    store: MappingStore
    generation: int
    settings: Settings


@dataclass
class StoreFailed(Message):
    """The cache could not be opened at all."""

    text: str
    generation: int


@dataclass
class SearchAnswered(Message):
    """Rows matching ``query``; ``more`` is True when the limit cut the list short, ``exact``
    when the query itself (not just partial digits) is cached."""

    text: str
    query: Query
    rows: list[int]
    more: bool
    exact: bool
    scan: Scan | None


class ProgressBox:
    """The latest progress of a refresh, shared by the worker and the app.

    The worker overwrites ``latest`` and posts a message only when none is pending, so the
    app never falls behind a fast refresh and never misses the last update.
    """

    def __init__(self) -> None:
        self.latest: SyncProgress | None = None
        self.pending = threading.Event()

    def put(self, progress: SyncProgress) -> bool:
        """Store ``progress``; True when the caller should post a message for it."""
        self.latest = progress
        if self.pending.is_set():
            return False
        self.pending.set()
        return True

    def take(self) -> SyncProgress | None:
        """The latest progress (call from the message handler)."""
        self.pending.clear()
        return self.latest


@dataclass
class RefreshProgressed(Message):
    box: ProgressBox


@dataclass
class RefreshEnded(Message):
    """A refresh is over. ``report`` is set on success; otherwise ``problem`` says why."""

    report: SyncReport | None
    problem: str | None = None
    #: A short label for the status line ("credentials rejected", "cancelled", …).
    headline: str | None = None
    cancelled: bool = False


@dataclass
class NumberResolved(Message):
    """The provider's answer for one number (``lid`` is None when it knows none)."""

    number: str
    lid: str | None
    problem: str | None = None


@dataclass
class CacheReloaded(Message):
    """Another process replaced the cache file and the store re-read it."""

    problem: str | None = None
