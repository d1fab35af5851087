"""What the main view looks like: list, search, detail, empty cache, refresh, at 100×30 and 80×24.

Times are frozen (see ``tui_support``) and no server runs: refresh snapshots use stub
providers. Update with ``pytest tests/test_tui_snapshots.py --snapshot-update``, then look at
every changed SVG (``rsvg-convert -o x.png x.svg``) before accepting it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import ProgressBar
from tui_support import (
    LID_CHANGED,
    LID_HIDDEN,
    RejectingProvider,
    StalledProvider,
    build_cache,
    make_app,
    ready,
    settle,
    type_search,
)

from lid_tui.tui.app import LidApp

SnapCompare = Callable[..., bool]
WIDE = (100, 30)
SMALL = (80, 24)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return build_cache(tmp_path / "cache" / "sales-eu-1.json")


def app_on(cache: Path, **kwargs: Any) -> LidApp:
    """A realistic-looking instance (the token is never shown, whatever it is)."""
    return make_app(
        cache,
        base_url="https://api.wawp.net",
        instance_id="sales-eu-1",
        token="secret-token-123",
        **kwargs,
    )


def searching(text: str) -> Callable[[Pilot], Awaitable[None]]:
    async def run_before(pilot: Pilot) -> None:
        await ready(pilot)
        await type_search(pilot, text)

    return run_before


def test_list(snap_compare: SnapCompare, cache: Path) -> None:
    assert snap_compare(app_on(cache), terminal_size=WIDE, run_before=ready)


def test_list_small_terminal(snap_compare: SnapCompare, cache: Path) -> None:
    assert snap_compare(app_on(cache), terminal_size=SMALL, run_before=ready)


def test_list_large_terminal(snap_compare: SnapCompare, cache: Path) -> None:
    assert snap_compare(app_on(cache), terminal_size=(140, 36), run_before=ready)


def test_search_results(snap_compare: SnapCompare, cache: Path) -> None:
    assert snap_compare(app_on(cache), terminal_size=WIDE, run_before=searching("0000000012"))


def test_detail_with_history(snap_compare: SnapCompare, cache: Path) -> None:
    app = app_on(cache)
    assert snap_compare(app, terminal_size=WIDE, run_before=searching(f"{LID_CHANGED}:12@lid"))


def test_hidden_number_small_terminal(snap_compare: SnapCompare, cache: Path) -> None:
    assert snap_compare(app_on(cache), terminal_size=SMALL, run_before=searching(LID_HIDDEN))


def test_number_not_cached_offers_to_ask(snap_compare: SnapCompare, cache: Path) -> None:
    app = app_on(cache)
    assert snap_compare(app, terminal_size=WIDE, run_before=searching("+55 11 98765-4321"))


def test_mask_mode(snap_compare: SnapCompare, cache: Path) -> None:
    async def run_before(pilot: Pilot) -> None:
        await ready(pilot)
        await pilot.press("m")
        pilot.app.clear_notifications()
        await settle(pilot)

    assert snap_compare(app_on(cache), terminal_size=WIDE, run_before=run_before)


def test_empty_cache(snap_compare: SnapCompare, tmp_path: Path) -> None:
    app = app_on(tmp_path / "never-refreshed.json")
    assert snap_compare(app, terminal_size=WIDE, run_before=ready)


def test_failed_refresh(snap_compare: SnapCompare, cache: Path) -> None:
    async def run_before(pilot: Pilot) -> None:
        await ready(pilot)
        await pilot.press("r")
        await settle(pilot)

    app = app_on(cache, provider=RejectingProvider())
    assert snap_compare(app, terminal_size=WIDE, run_before=run_before)


def test_refresh_in_progress(snap_compare: SnapCompare, cache: Path) -> None:
    provider = StalledProvider(total=5000, served=2000)

    async def run_before(pilot: Pilot) -> None:
        await ready(pilot)
        await pilot.press("r")
        bar = pilot.app.query_one("#refresh-progress", ProgressBar)
        for _ in range(100):
            await pilot.pause(0.02)
            if bar.progress == 2000:
                break
        await pilot.pause()

    app = app_on(cache, provider=provider)
    try:
        assert snap_compare(app, terminal_size=WIDE, run_before=run_before)
    finally:
        provider.release.set()
