"""The status line (what is on screen, how fresh the cache is) and the refresh progress line."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar

from lid_tui.models import SyncProgress


class StatusLine(Horizontal):
    """One line: position on the left, freshness (or a warning) on the right."""

    left: str = ""
    right: str = ""

    def compose(self) -> ComposeResult:
        yield Label(id="status-left")
        yield Label(id="status-right")

    def show(self, left: str, right: str, *, warning: bool = False) -> None:
        self.left, self.right = left, right
        self.query_one("#status-left", Label).update(left)
        right_label = self.query_one("#status-right", Label)
        right_label.update(right)
        right_label.set_class(warning, "-warning")


class RefreshBar(Horizontal):
    """Shown while a refresh runs: a progress bar with counts; hidden otherwise."""

    def compose(self) -> ComposeResult:
        yield Label("Refreshing", id="refresh-label")
        yield ProgressBar(id="refresh-progress", show_eta=False)
        yield Label("", id="refresh-counts")
        yield Label("x cancels", id="refresh-hint")

    def start(self) -> None:
        self.query_one(ProgressBar).update(total=None, progress=0)
        self.query_one("#refresh-counts", Label).update("contacting the provider…")
        self.display = True

    def advance(self, progress: SyncProgress) -> None:
        bar = self.query_one(ProgressBar)
        bar.update(total=progress.total or None, progress=progress.fetched)
        if progress.total:
            counts = f"{progress.fetched:,} of {progress.total:,}"
        else:
            counts = f"{progress.fetched:,} fetched"
        if progress.retrying:
            counts += " · retrying"
        self.query_one("#refresh-counts", Label).update(counts)

    def cancelling(self) -> None:
        self.query_one("#refresh-counts", Label).update("cancelling…")

    def stop(self) -> None:
        self.display = False
