"""The search box: it takes anything typed or pasted, and keeps nothing a terminal would obey."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.widgets import Input

#: C0 controls, DEL and C1 controls, each to a space.
_CONTROLS = {code: " " for code in (*range(0x20), *range(0x7F, 0xA0))}


def without_controls(text: str) -> str:
    """``text`` with every control character replaced by a space (same length)."""
    if text.isascii() and text.isprintable():
        return text
    return text.translate(_CONTROLS)


class SearchBox(Input):
    """An :class:`~textual.widgets.Input` whose value never holds a control character.

    Textual removes only a few control codes when it draws text, so an escape sequence pasted
    into the box would reach the terminal as it is: ``ESC ]0;…`` retitles the window, OSC 52
    writes the clipboard, an unterminated ``ESC ]`` swallows the rest of the screen. Each one
    becomes a space instead: the value keeps its length, so the cursor and selection arithmetic
    of :class:`~textual.widgets.Input` stays right, and the search sees what a person would.
    """

    def __init__(self, *, on_typed: Callable[[str], None] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_typed = on_typed

    def validate_value(self, value: str) -> str:
        return without_controls(value)

    def watch_value(self, value: str) -> None:
        """Tell ``on_typed`` at once, before the next frame is drawn: an answer given through
        the :class:`~textual.widgets.Input.Changed` message arrives a frame (17-33 ms) later."""
        if self._on_typed is not None and self.is_mounted:
            self._on_typed(value)
