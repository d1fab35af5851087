"""How values look on screen: relative times, international numbers, mask mode.

Pure functions and one small value object, so widgets agree on every rendering and tests can
freeze "now". Nothing here imports Textual.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from lid_tui.identity import describe_number, mask_digits

#: A cache older than this gets a warning in the status line.
STALE_AFTER_SECONDS = 24 * 3600


def relative_time(then: float, now: float) -> str:
    """'just now', '5 min ago', '3 h ago', '2 d ago', then a date: short enough for a column."""
    seconds = max(0.0, now - then)
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    if seconds < 60 * 86400:
        return f"{int(seconds // 86400)} d ago"
    return datetime.fromtimestamp(then, UTC).strftime("%Y-%m-%d")


def utc_stamp(value: datetime) -> str:
    """'2025-11-22 08:26 UTC': absolute times in the detail, unambiguous over SSH."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True, slots=True)
class Display:
    """Rendering rules of the moment: mask mode on or off, and what "now" is."""

    mask: bool = False
    now: float = 0.0

    def hide(self, text: str) -> str:
        """``text`` with all but the last 3 digits hidden when masking (numbers only)."""
        return mask_digits(text) if self.mask else text

    def number(self, digits: str | None) -> str:
        """A stored number in international format (``+55 11 98765-4321``)."""
        if not digits:
            return "hidden"
        return self.hide(describe_number(digits).international)

    def country(self, digits: str) -> str:
        """The country's name (its region code when unknown)."""
        info = describe_number(digits)
        return info.country or "unknown country"

    def ago(self, epoch: float) -> str:
        return relative_time(epoch, self.now)
