"""The mapping table: one page of rows, never more, so a million mappings cost nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable

from lid_tui.identity import describe_number
from lid_tui.index import Row
from lid_tui.tui.format import Display

#: (key, header, width). Fixed widths keep the columns still while paging.
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("lid", "LID", 16),
    ("number", "Number", 19),
    ("country", "Country", 7),
    ("seen", "Last seen", 10),
    ("listed", "Listed", 6),
)


class MappingTable(DataTable[Text]):
    """A DataTable showing exactly one page; paging keys go to the app, which owns the page.

    Moving past the last row asks for the next page (and before the first, the previous one),
    so the list reads as one continuous list.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False, id="lid.cursor_down"),
        Binding("k", "cursor_up", "Up", show=False, id="lid.cursor_up"),
        # The table shows one page: its own paging keys would only move within it.
        Binding("pagedown", "app.next_page", "Next page", show=False, id="lid.table.next_page"),
        Binding(
            "pageup", "app.previous_page", "Previous page", show=False, id="lid.table.previous_page"
        ),
        Binding("home", "app.first_page", "First page", show=False, id="lid.table.first_page"),
        Binding("end", "app.last_page", "Last page", show=False, id="lid.table.last_page"),
        Binding("enter", "app.focus_detail", "Detail", show=False, id="lid.table.detail"),
    ]

    class EdgeReached(Message):
        """The cursor tried to leave the page: ``step`` is +1 (down) or -1 (up)."""

        def __init__(self, step: int) -> None:
            super().__init__()
            self.step = step

    class RoomChanged(Message):
        """The table can now show ``rows`` rows without scrolling: the page size."""

        def __init__(self, rows: int) -> None:
            super().__init__()
            self.rows = rows

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            id=id, cursor_type="row", zebra_stripes=True, cursor_foreground_priority="renderable"
        )
        for key, header, width in COLUMNS:
            self.add_column(header, width=width, key=key)

    def on_resize(self, event: events.Resize) -> None:
        rows = self.scrollable_content_region.height - self.header_height
        self.post_message(self.RoomChanged(max(1, rows)))

    def show_rows(self, rows: Sequence[Row], display: Display, cursor: int = 0) -> None:
        """Replace the table's rows with one page and put the cursor on row ``cursor``."""
        self.clear()
        for row in rows:
            self.add_row(*self.cells(row, display), key=str(row.index))
        if rows:
            self.move_cursor(row=max(0, min(cursor, len(rows) - 1)), animate=False)

    @staticmethod
    def cells(row: Row, display: Display) -> tuple[Text, ...]:
        """The cells of one row (Text, never markup: nothing typed by others is parsed)."""
        if row.number:
            number = Text(display.number(row.number))
            country = Text(describe_number(row.number).region or "?")
        else:
            number = Text("hidden", style="italic dim")
            country = Text("")
        listed = Text("✓", style="green") if row.listed else Text("✗", style="red")
        return (
            Text(row.lid),
            number,
            country,
            Text(display.ago(row.last_seen)),
            listed,
        )

    def selected_row_index(self) -> int | None:
        """The cache row under the cursor, or None when the page is empty."""
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return None if key is None else int(key)

    def action_cursor_down(self) -> None:
        if self.row_count and self.cursor_row >= self.row_count - 1:
            self.post_message(self.EdgeReached(+1))
            return
        super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if self.row_count and self.cursor_row <= 0:
            self.post_message(self.EdgeReached(-1))
            return
        super().action_cursor_up()
