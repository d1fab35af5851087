"""Widgets of the main view: the page table, the detail pane, the status and refresh lines."""

from lid_tui.tui.widgets.detail import DetailPane
from lid_tui.tui.widgets.goto import GoToPageScreen
from lid_tui.tui.widgets.search import SearchBox
from lid_tui.tui.widgets.status import RefreshBar, StatusLine
from lid_tui.tui.widgets.table import MappingTable

__all__ = [
    "DetailPane",
    "GoToPageScreen",
    "MappingTable",
    "RefreshBar",
    "SearchBox",
    "StatusLine",
]
