"""The detail pane: everything known about one identity, or why there is nothing to show."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Button, Static

from lid_tui.identity import chat_jids, describe_number
from lid_tui.models import HistoryEvent, HistoryKind, MappingRecord
from lid_tui.tui.format import Display, utc_stamp

#: Below this many columns of content, labels go above their values instead of beside them.
STACK_BELOW = 48

HIDDEN_NUMBER = (
    "The owner does not share it. A LID is not a phone number, and the number cannot be "
    "worked out from it: only the owner's choice to share it reveals it."
)

HIDDEN_SHORT = "by its owner; it cannot be worked out from the LID"

Field = tuple[str, Sequence[Text | str]]


class DetailPane(VerticalScroll):
    """A scrollable pane with one record (or a notice) and an optional "ask the provider" button.

    It keeps what it shows so it can lay it out again when its width changes (labels beside
    values when wide, above them when narrow).
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._fields: list[Field] = []
        self._heading: str = ""
        self._record: tuple[MappingRecord, Display] | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="detail-body")
        yield Button("Ask the provider  (a)", id="ask", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.border_title = "Detail"
        self.query_one("#ask", Button).display = False

    @property
    def record(self) -> MappingRecord | None:
        """The record on show, or None while a notice is shown."""
        return self._record[0] if self._record is not None else None

    @property
    def heading(self) -> str:
        """The notice's heading ("" while a record is shown)."""
        return self._heading

    # -- what to show ---------------------------------------------------------------------

    def show_record(self, record: MappingRecord, display: Display) -> None:
        self._heading = ""
        self._record = (record, display)
        self._set_ask(None)
        self._render_body()

    def show_notice(self, heading: str, lines: Iterable[str], ask: str | None = None) -> None:
        """A message instead of a record; ``ask`` labels the "ask the provider" button."""
        self._heading = heading
        self._record = None
        self._fields = [("", [Text(line) for line in lines])]
        self._set_ask(ask)
        self._render_body()

    def _set_ask(self, label: str | None) -> None:
        button = self.query_one("#ask", Button)
        button.display = label is not None
        if label is not None:
            button.label = label

    # -- layout ---------------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        self._render_body()

    def _render_body(self) -> None:
        width = self.scrollable_content_region.width or self.size.width
        stacked = width < STACK_BELOW
        if self._record is not None:
            self._fields = list(record_fields(*self._record, compact=not stacked))
        self.query_one("#detail-body", Static).update(
            render_fields(self._heading, self._fields, stacked=stacked)
        )
        self.scroll_home(animate=False)


def render_fields(heading: str, fields: Sequence[Field], *, stacked: bool) -> RenderableType:
    """Labels beside values (a grid) or above them (stacked), with an optional heading."""
    parts: list[RenderableType] = []
    if heading:
        parts.append(Text(heading, style="bold"))
    if stacked:
        for label, values in fields:
            if label:
                parts.append(Text(label, style="bold"))
            parts.extend(Text(value) if isinstance(value, str) else value for value in values)
        return Group(*parts)
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(ratio=1)
    for label, values in fields:
        for position, value in enumerate(values):
            grid.add_row(label if position == 0 else "", value)
    parts.append(grid)
    return Group(*parts)


def record_fields(record: MappingRecord, display: Display, *, compact: bool) -> Iterable[Field]:
    """The detail of one record as (label, lines) pairs, numbers masked as the display says.

    ``compact`` (a wide, short pane under the list) folds related facts onto one line each, so
    a record fits in the few lines an 80×24 terminal leaves.
    """
    listed = "listed by the last refresh" if record.listed else "NOT listed by the last refresh"
    listed_style = "" if record.listed else "yellow"
    first = utc_stamp(record.first_seen)
    last = utc_stamp(record.last_seen)
    ago = display.ago(record.last_seen.timestamp())
    if record.number:
        info = describe_number(record.number)
        facts = " · ".join(
            fact for fact in (display.country(record.number), info.line_type) if fact
        )
        number_lines: list[Text | str] = [display.number(record.number), facts]
        chats = [display.hide(jid) for jid in chat_jids(record.number)]
    else:
        number_lines = [Text("hidden", style="bold italic"), Text(HIDDEN_NUMBER, style="dim")]
        chats = []
    history: list[Text | str] = [history_line(event, display) for event in reversed(record.history)]
    if not history:
        history = [Text("no changes seen", style="dim")]

    if compact:
        yield "LID", [Text.assemble(record.lid, "  ", (listed, listed_style or "dim"))]
        if record.number:
            yield "Number", [f"{number_lines[0]} · {facts}"]
            yield "Chats", [" · ".join(chats)]
        else:
            yield "Number", [Text.assemble(("hidden", "bold italic"), " ", (HIDDEN_SHORT, "dim"))]
        yield "Seen", [f"{first[:-4]} → {last} ({ago})"]
        yield "History", history
        return
    yield "LID", [record.lid]
    yield "Number", number_lines
    if chats:
        yield "Chats", chats
    yield "First seen", [first]
    yield "Last seen", [last, f"({ago})"]
    yield "Listed", [Text(listed, style=listed_style)]
    yield "History", history


def history_line(event: HistoryEvent, display: Display) -> str:
    """One history event in words, newest first in the pane."""
    when = f"{event.at:%Y-%m-%d}"
    number = display.number(event.number)
    if event.event is HistoryKind.NUMBER_CHANGED:
        return f"{when} number changed from {display.number(event.previous_number)} to {number}"
    if event.event is HistoryKind.NUMBER_MOVED_IN:
        return f"{when} took over {number} from {event.other_lid}"
    return f"{when} {number} moved to {event.other_lid}"
