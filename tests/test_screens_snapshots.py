"""What the About and Connect screens look like, at the sizes people use (100×30, 80×24).

Update with ``pytest tests/test_screens_snapshots.py --snapshot-update`` and review every
changed SVG by eye before accepting it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input

from lid_tui.config import Settings
from lid_tui.provider.base import CredentialsRejected
from lid_tui.tui.screens import AboutScreen, ConnectScreen


class ScreenHost(App[None]):
    """A bare app that shows one screen, as the real app would push it."""

    TITLE = "lid-tui"

    def __init__(self, screen: Screen[Any]) -> None:
        super().__init__()
        self._first = screen

    def on_mount(self) -> None:
        self.push_screen(self._first)


class RejectingProvider:
    def count(self) -> int | None:
        raise CredentialsRejected("The provider refused the access token (HTTP 401): Unauthorized")

    def close(self) -> None:
        pass


def connect_screen() -> ConnectScreen:
    settings = Settings.model_validate(
        {"instance_id": "sales-eu-1", "access_token": "tok-never-shown-123"}
    )
    return ConnectScreen(
        settings,
        Path.home() / ".config" / "lid-tui" / "config.toml",
        provider_factory=lambda base_url, instance_id, token: RejectingProvider(),
    )


async def settle(pilot: Pilot[Any]) -> None:
    """No blinking cursor, no running worker: the same picture every time."""
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def test_about_100x30(snap_compare: Any) -> None:
    assert snap_compare(ScreenHost(AboutScreen()), terminal_size=(100, 30), run_before=settle)


def test_about_80x24(snap_compare: Any) -> None:
    assert snap_compare(ScreenHost(AboutScreen()), terminal_size=(80, 24), run_before=settle)


def test_about_80x24_scrolled_to_the_end(snap_compare: Any) -> None:
    async def to_the_end(pilot: Pilot[Any]) -> None:
        await pilot.press("end")
        await settle(pilot)

    assert snap_compare(ScreenHost(AboutScreen()), terminal_size=(80, 24), run_before=to_the_end)


def test_connect_100x30(snap_compare: Any) -> None:
    assert snap_compare(ScreenHost(connect_screen()), terminal_size=(100, 30), run_before=settle)


def test_connect_80x24(snap_compare: Any) -> None:
    assert snap_compare(ScreenHost(connect_screen()), terminal_size=(80, 24), run_before=settle)


def test_connect_80x24_credentials_rejected(snap_compare: Any) -> None:
    async def test_it(pilot: Pilot[Any]) -> None:
        await pilot.press("ctrl+t")
        await settle(pilot)

    assert snap_compare(ScreenHost(connect_screen()), terminal_size=(80, 24), run_before=test_it)
