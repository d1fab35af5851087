"""A small modal asking which page to go to."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class GoToPageScreen(ModalScreen[int | None]):
    """Returns a 1-based page number, or None when dismissed."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="lid.goto_cancel"),
    ]

    def __init__(self, current: int, pages: int) -> None:
        super().__init__()
        self.current = current
        self.pages = pages

    def compose(self) -> ComposeResult:
        with Vertical(id="goto-dialog"):
            yield Label(f"Go to page (1–{self.pages:,}, now {self.current:,})")
            yield Input(placeholder="page number", type="integer", id="goto-input")
            yield Label("Enter goes · Esc cancels", classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            page = int(event.value)
        except ValueError:
            self.notify("Type a page number", severity="warning")
            return
        self.dismiss(max(1, min(page, self.pages)))

    def action_cancel(self) -> None:
        self.dismiss(None)
