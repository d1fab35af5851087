"""Shared pieces of the TUI tests: a real TinyDB cache with history, a frozen clock, waiting.

Times are fixed so "5 min ago" never drifts: the cache is written at ``T0`` and ``T1`` and
the app's clock says ``NOW``.
"""

from __future__ import annotations

import html
import re
import threading
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from lid_tui.config import Settings
from lid_tui.models import ProviderPage
from lid_tui.provider.base import CredentialsRejected, Provider, UpstreamFailure
from lid_tui.store import MappingStore
from lid_tui.sync import SyncOptions
from lid_tui.tui.app import LidApp

T0 = 1_763_800_000  # 2025-11-22 08:26:40 UTC
T1 = T0 + 6 * 3600
NOW = T1 + 5 * 60

#: Changed number between the two refreshes: history "number_changed".
LID_CHANGED = "284157332938921"
OLD_NUMBER = "5511987654321"
NEW_NUMBER = "5511912345678"
#: The owner hides the number.
LID_HIDDEN = "190283746519283"
#: A number re-registered: it moved from LID_OLD to LID_NEW (LID_OLD is no longer listed).
LID_OLD = "175830012345678"
LID_NEW = "264019876543210"
MOVED_NUMBER = "4915112345678"

FILLER = 150


def filler_rows() -> dict[str, str | None]:
    """Plain mappings around the interesting ones (Brazilian mobiles, distinct digits)."""
    return {f"3{i:014d}": f"55219{i:08d}" for i in range(1, FILLER + 1)}


def build_cache(path: Path) -> Path:
    """Two refreshes into a real cache file: the second changes, moves and hides numbers."""
    store = MappingStore.open(path)
    first = {LID_CHANGED: OLD_NUMBER, LID_HIDDEN: None, LID_OLD: MOVED_NUMBER, **filler_rows()}
    second = {LID_CHANGED: NEW_NUMBER, LID_HIDDEN: None, LID_NEW: MOVED_NUMBER, **filler_rows()}
    with store.writing("tests"):
        store.apply_refresh(first, complete=True, refresh_meta={"fetched": len(first)}, now=T0)
    with store.writing("tests"):
        store.apply_refresh(second, complete=True, refresh_meta={"fetched": len(second)}, now=T1)
    store.close()
    return path


def fast_sync() -> SyncOptions:
    """No waiting between retries: failure tests stay fast."""
    return SyncOptions(page_size=100, concurrency=2, max_attempts=2, backoff_base=0.01)


def make_app(
    cache: Path,
    *,
    base_url: str = "http://127.0.0.1:9",
    instance_id: str = "demo",
    token: str = "demo-token",
    provider: Provider | None = None,
    refresh_if_empty: bool = False,
    watch_interval: float = 60.0,
) -> LidApp:
    """An app on ``cache`` talking to ``base_url`` (or to ``provider``), with the frozen clock."""
    settings = Settings(base_url=base_url, instance_id=instance_id, access_token=token, cache=cache)
    return LidApp(
        settings,
        provider_factory=None if provider is None else (lambda _settings: provider),
        store_path=cache,
        clock=lambda: NOW,
        refresh_if_empty=refresh_if_empty,
        watch_interval=watch_interval,
        sync_options=fast_sync(),
    )


async def settle(pilot: Pilot) -> None:
    """Let messages flow and every worker finish, including those the handlers of earlier
    workers start (open → refresh → search again)."""
    for _ in range(50):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        if not any(worker.is_running for worker in pilot.app.workers):
            return
    raise AssertionError("the app never settled")


async def ready(pilot: Pilot) -> None:
    """The cache is open, the first page drawn, and the cursor does not blink (snapshots)."""
    pilot.app.query_one("#search", Input).cursor_blink = False
    await settle(pilot)


async def type_search(pilot: Pilot, text: str, *, keys: bool = False) -> None:
    """Press / and enter ``text``: key by key as a person types (``keys``), or at once as a
    paste does (each key costs the Pilot ~70 ms)."""
    await pilot.press("slash")
    if keys:
        await pilot.press(*text)
    else:
        pilot.app.query_one("#search", Input).insert_text_at_cursor(text)
    await settle(pilot)


def spy_notices(app: LidApp) -> list[dict[str, Any]]:
    """Record every toast the app shows (title, message, severity)."""
    notices: list[dict[str, Any]] = []
    original = app.notify

    def notify(message: str, **kwargs: Any) -> None:
        notices.append({"message": message, **kwargs})
        original(message, **kwargs)

    app.notify = notify  # type: ignore[method-assign]
    return notices


def screen_text(app: LidApp) -> str:
    """What the terminal shows, as plain text (from the SVG screenshot)."""
    svg = app.export_screenshot()
    parts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    return html.unescape("".join(parts)).replace("\xa0", " ")


class RejectingProvider:
    """A provider that refuses the token, with a fixed message (snapshots need no server)."""

    display_name = "api.wawp.net · sales-eu-1"

    def count(self) -> int | None:
        raise CredentialsRejected("The provider rejected the access token (401): Invalid token")

    def list_page(self, offset: int, limit: int) -> ProviderPage:
        raise AssertionError("not reached")

    def resolve_number(self, number: str) -> tuple[str, str | None] | None:
        raise AssertionError("not reached")

    def close(self) -> None:
        pass


class StalledProvider:
    """Serves the first ``served`` of ``total`` rows, then stalls: a refresh caught mid-way."""

    display_name = "api.wawp.net · sales-eu-1"

    def __init__(self, total: int = 5000, served: int = 2000) -> None:
        self.total = total
        self.served = served
        self.release = threading.Event()

    def count(self) -> int | None:
        return self.total

    def list_page(self, offset: int, limit: int) -> ProviderPage:
        if offset >= self.served:
            self.release.wait(1.0)
            raise UpstreamFailure("stalled")
        rows = [(f"4{i:014d}", f"55319{i:08d}") for i in range(offset, offset + limit)]
        return ProviderPage(rows=rows, raw_rows=len(rows))

    def resolve_number(self, number: str) -> tuple[str, str | None] | None:
        return None

    def close(self) -> None:
        self.release.set()
