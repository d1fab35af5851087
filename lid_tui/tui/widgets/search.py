"""The search box: it takes anything typed or pasted, and keeps nothing a terminal would obey."""

from __future__ import annotations

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

    def validate_value(self, value: str) -> str:
        return without_controls(value)
