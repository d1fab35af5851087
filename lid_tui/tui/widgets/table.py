"""The mapping table: one page of rows, never more, so a million mappings cost nothing.

It draws its lines itself (Textual's Line API) instead of using a DataTable, which renders
every cell through Rich again after each page change: tens of milliseconds a page, too slow
for search-as-you-type. Here a line is a handful of Segments, built once and kept until the
page, the cursor, the size or the styles change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.cells import set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

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
#: Blank cells either side of each cell's text, so neighbouring columns never touch.
CELL_PADDING = 1
#: Lines above the first row: the header.
HEADER_HEIGHT = 1

COLUMN_WIDTHS: tuple[int, ...] = tuple(width for _key, _header, width in COLUMNS)
HEADER_CELLS: tuple[Text, ...] = tuple(Text(header) for _key, header, _width in COLUMNS)

NO_STYLE = Style.null()
#: Each column's mark on its Segments (see ``MappingTable._lay_out``).
COLUMN_META: tuple[Style, ...] = tuple(Style.from_meta({"column": key}) for key, *_ in COLUMNS)
#: A line's text laid out in its columns: (text, the cell's own style over the row's).
Runs = tuple[tuple[str, Style], ...]


class MappingTable(Widget, can_focus=True):
    """One page of mappings with a row cursor; paging keys go to the app, which owns the page.

    Moving past the last row asks for the next page (and before the first, the previous one),
    so the list reads as one continuous list. The mouse wheel moves the cursor the same way.
    """

    ALLOW_SELECT = False  # a click picks a row; it does not start a text selection

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down", "cursor_down", "Down", show=False, id="lid.table.cursor_down"),
        Binding("up", "cursor_up", "Up", show=False, id="lid.table.cursor_up"),
        Binding("j", "cursor_down", "Down", show=False, id="lid.cursor_down"),
        Binding("k", "cursor_up", "Up", show=False, id="lid.cursor_up"),
        # The table shows one page: paging is the app's.
        Binding("pagedown", "app.next_page", "Next page", show=False, id="lid.table.next_page"),
        Binding(
            "pageup", "app.previous_page", "Previous page", show=False, id="lid.table.previous_page"
        ),
        Binding("home", "app.first_page", "First page", show=False, id="lid.table.first_page"),
        Binding("end", "app.last_page", "Last page", show=False, id="lid.table.last_page"),
        Binding("enter", "app.focus_detail", "Detail", show=False, id="lid.table.detail"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "mapping-table--header",
        "mapping-table--cursor",
        "mapping-table--even-row",
        "mapping-table--odd-row",
    }

    # Theme variables only: themes, 256 colours and NO_COLOR keep working. The cursor is the
    # theme's block cursor, dimmer while the table is not focused.
    DEFAULT_CSS = """
    MappingTable {
        height: 1fr;
        background: $surface;
        color: $foreground;

        & > .mapping-table--header {
            background: $panel;
            color: $foreground;
            text-style: bold;
        }
        & > .mapping-table--even-row {
            background: $surface-lighten-1 50%;
        }
        &:dark > .mapping-table--even-row {
            background: $surface-darken-1 40%;
        }
        & > .mapping-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus {
            background-tint: $foreground 5%;
            & > .mapping-table--header {
                background-tint: $foreground 5%;
            }
            & > .mapping-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
        }
    }
    """

    class EdgeReached(Message):
        """The cursor tried to leave the page: ``step`` is +1 (down) or -1 (up)."""

        def __init__(self, step: int) -> None:
            super().__init__()
            self.step = step

    class RoomChanged(Message):
        """The table can now show ``rows`` rows: the page size."""

        def __init__(self, rows: int) -> None:
            super().__init__()
            self.rows = rows

    class RowHighlighted(Message):
        """The cursor moved, or the page under it was replaced.

        ``cursor_row`` is the row on the page; ``row_index`` the cache row there (None when
        the page is empty).
        """

        def __init__(self, table: MappingTable, cursor_row: int, row_index: int | None) -> None:
            super().__init__()
            self.table = table
            self.cursor_row = cursor_row
            self.row_index = row_index

        @property
        def control(self) -> MappingTable:
            return self.table

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rows: Sequence[Row] = ()
        self._display = Display()
        self._runs: list[Runs | None] = []  # each row's text, laid out when first drawn
        self._header_runs: Runs | None = None
        self._cursor = 0
        self._turning = False  # EdgeReached posted; no other until the cursor or page moves
        #: Finished lines by (line, cursor on it, width): a cursor move redraws two of them.
        self._lines: dict[tuple[int, bool, int], Strip] = {}

    # -- what the app reads -------------------------------------------------------------------

    @property
    def rows(self) -> Sequence[Row]:
        """The page's rows, top to bottom."""
        return self._rows

    @property
    def row_count(self) -> int:
        return len(self._rows)

    @property
    def cursor_row(self) -> int:
        """The cursor's row on the page (0 when the page is empty)."""
        return self._cursor

    def selected_row_index(self) -> int | None:
        """The cache row under the cursor, or None when the page is empty."""
        if not self._rows:
            return None
        return self._rows[self._cursor].index

    # -- what the app changes -----------------------------------------------------------------

    def show_rows(self, rows: Sequence[Row], display: Display, cursor: int = 0) -> None:
        """Replace the table's rows with one page and put the cursor on row ``cursor``."""
        self._rows = tuple(rows)
        self._display = display
        self._runs = [None] * len(rows)
        self._cursor = max(0, min(cursor, len(rows) - 1))
        self._turning = False
        self._lines.clear()
        self.refresh()
        self._announce()

    def move_cursor(self, row: int) -> None:
        """Put the cursor on ``row`` of the page (clamped to the page)."""
        if not self._rows:
            return
        row = max(0, min(row, len(self._rows) - 1))
        if row == self._cursor:
            return
        previous, self._cursor = self._cursor, row
        self._turning = False
        width = self.size.width
        self.refresh(
            Region(0, HEADER_HEIGHT + previous, width, 1),
            Region(0, HEADER_HEIGHT + row, width, 1),
        )
        self._announce()

    def _announce(self) -> None:
        self.post_message(self.RowHighlighted(self, self._cursor, self.selected_row_index()))

    # -- keys and mouse -----------------------------------------------------------------------

    def action_cursor_down(self) -> None:
        if self._cursor < len(self._rows) - 1:
            self.move_cursor(self._cursor + 1)
        else:
            self._reach_edge(+1)

    def action_cursor_up(self) -> None:
        if self._cursor > 0:
            self.move_cursor(self._cursor - 1)
        else:
            self._reach_edge(-1)

    def _reach_edge(self, step: int) -> None:
        """Ask for the next (or previous) page once: the steps that arrive before it is shown
        (key repeat, a burst of wheel events) would otherwise skip whole pages."""
        if self._rows and not self._turning:
            self._turning = True
            self.post_message(self.EdgeReached(step))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        row = offset.y - HEADER_HEIGHT
        if 0 <= row < len(self._rows):
            self.move_cursor(row)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        """The wheel walks the list like j/k: with one page shown, there is nothing to scroll."""
        event.stop()
        self.action_cursor_down()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self.action_cursor_up()

    def on_resize(self, event: events.Resize) -> None:
        self._lines.clear()
        self.post_message(self.RoomChanged(max(1, self.size.height - HEADER_HEIGHT)))

    # -- drawing ------------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        """Focus, theme or CSS changed: the lines' colours may have too."""
        super().notify_style_update()
        self._lines.clear()

    def render_line(self, y: int) -> Strip:
        # ``self.size`` looks the widget up on the screen: a tenth of a line's cost.
        width = self.outer_size.width - self.styles.gutter.width
        on_cursor = y - HEADER_HEIGHT == self._cursor
        key = (y, on_cursor, width)
        line = self._lines.get(key)
        if line is None:
            line = self._lines[key] = self._draw_line(y, on_cursor, width)
        return line

    def _draw_line(self, y: int, on_cursor: bool, width: int) -> Strip:
        if y < HEADER_HEIGHT:
            if self._header_runs is None:
                self._header_runs = self._lay_out(HEADER_CELLS)
            style = self.get_component_rich_style("mapping-table--header")
            return self._draw_runs(self._header_runs, style, width)
        row = y - HEADER_HEIGHT
        if row >= len(self._rows):
            return Strip.blank(width, self.rich_style)
        stripe = "mapping-table--odd-row" if row % 2 else "mapping-table--even-row"
        style = self.get_component_rich_style(stripe)
        if on_cursor:
            style += self.get_component_rich_style("mapping-table--cursor")
        runs = self._runs[row]
        if runs is None:
            runs = self._runs[row] = self._lay_out(self.cells(self._rows[row], self._display))
        return self._draw_runs(runs, style, width)

    @staticmethod
    def _draw_runs(runs: Runs, style: Style, width: int) -> Strip:
        """The line in the row's ``style``, under each run's own (a green ✓ stays green on
        the cursor), cut or filled with the row's style to the widget's width."""
        segments = [Segment(text, style + run_style) for text, run_style in runs]
        return Strip(Segment.adjust_line_length(segments, width, style), width)

    def _lay_out(self, cells: Sequence[Text]) -> Runs:
        """A line's text as runs of (text, the cell's own style), each cell cut or padded to
        its column (cut, never wrapped): one run per cell, three for a styled one.

        Each run carries its column's meta, which keeps neighbouring cells apart when Textual
        joins same-style Segments: each cell keeps its own place in SVG screenshots (a long run
        of spaces drifts in SVG renderers that ignore ``textLength``), as with a DataTable.
        """
        console = self.app.console
        pad = " " * CELL_PADDING
        runs: list[tuple[str, Style]] = []
        for cell, column_width, meta in zip(cells, COLUMN_WIDTHS, COLUMN_META, strict=True):
            if cell.spans:  # ``cells`` makes none, but Text allows them: Rich applies them
                rendered = Segment.adjust_line_length(list(cell.render(console)), column_width)
                runs.append((pad, meta))
                runs.extend(
                    (text, (span_style or NO_STYLE) + meta) for text, span_style, _ in rendered
                )
                runs.append((pad, meta))
                continue
            text = set_cell_size(cell.plain, column_width)
            style = console.get_style(cell.style, default=NO_STYLE) if cell.style else NO_STYLE
            if not style:
                runs.append((pad + text + pad, meta))
                continue
            content = text.rstrip(" ")
            runs += [(pad, meta), (content, style + meta), (text[len(content) :] + pad, meta)]
        return tuple(runs)

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
