"""The "About LIDs" screen: a short primer for people who meet ``@lid`` ids for the first time.

It exists because the single most common mistake with LIDs is treating them as phone numbers;
the text says, once and plainly, what a LID is and what can and cannot be done with it.
"""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

ABOUT_TEXT = """\
## What is a LID?

A **LID** is a private identifier that WhatsApp gives each account, written
`123456789012345@lid`. WhatsApp uses it *instead of* the phone number wherever the
number should stay out of sight.

It is a long string of digits, so it **looks like a phone number — it is not one**.
Don't dial it and don't read a country code into it.

## Why is the number hidden?

Privacy. In a large community or group, members see each other by LID rather than by
number, and people can choose to keep their number to themselves. WhatsApp is rolling
this out gradually, so a LID may also show up where nobody asked for privacy.

## What can be resolved?

- **Number → LID**: yes. The provider can look it up, and lid-tui offers to when a
  number is not in the cache yet.
- **LID → number**: only when your instance has *learned* that mapping, for example
  because the person shares their number with you.
- **LID → number by calculation**: never. The digits of a LID carry no trace of the
  number, and no tool can work it out.

## Why is the LID the key?

It is the stable part. Someone who changes their number keeps their LID, so the LID
ties the old number to the new one. The reverse can happen too: registering again may
give the same number a new LID. lid-tui keeps both kinds of change in each mapping's
history rather than overwriting it.

## Identifier forms

- `123456789012345@lid` — a person, by LID.
- `5511987654321@c.us` — a person, by phone number.
- `5511987654321@s.whatsapp.net` — the same, in WhatsApp's other spelling.
- `5511987654321:12@s.whatsapp.net` — one device of that person; lid-tui drops the `:12`
  (the same goes for `…:12@lid`).
- `…@g.us`, `…@newsletter` — a group or a channel, not a person.

lid-tui accepts all of these in search, and plain numbers typed with spaces, dashes,
brackets, `+` or `00`.
"""


class AboutScreen(ModalScreen[None]):
    """Explains LIDs in a scrollable dialog; Esc, q, ? or F1 close it."""

    DEFAULT_CSS = """
    AboutScreen {
        align: center middle;
    }
    AboutScreen > #about-dialog {
        width: 84;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        margin: 1 2;
        border: round $primary;
        border-title-color: $text;
        border-title-style: bold;
        border-subtitle-color: $text-muted;
        background: $surface;
        padding: 0 0 0 1;
    }
    AboutScreen #about-body {
        height: auto;
        max-height: 100%;
        scrollbar-size-vertical: 1;
        scrollbar-background: $surface;
        scrollbar-background-hover: $surface;
        scrollbar-background-active: $surface;
        scrollbar-gutter: stable;
        background: $surface;
    }
    AboutScreen #about-body:focus {
        background-tint: transparent;
    }
    AboutScreen Markdown {
        margin: 0;
        padding: 0 1 0 0;
        background: $surface;
    }
    AboutScreen MarkdownH2 {
        margin: 1 0 0 0;
        color: $accent;
        text-style: bold;
    }
    AboutScreen MarkdownH2:first-of-type {
        margin: 0;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "close", "Close", id="about.close"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="about-dialog") as dialog:
            dialog.border_title = "About LIDs"
            dialog.border_subtitle = "↑↓ PgUp PgDn scroll · Esc close"
            with VerticalScroll(id="about-body"):
                yield Markdown(ABOUT_TEXT)

    def on_mount(self) -> None:
        # Focus the scroller so arrows and PgUp/PgDn scroll at once.
        self.query_one("#about-body").focus()

    def on_screen_resume(self) -> None:
        # An app may install this screen once and push it again: start from the top each time.
        self.query_one("#about-body").scroll_home(animate=False)

    def action_close(self) -> None:
        self.dismiss(None)

    def on_click(self, event: events.Click) -> None:
        """A click on the dimmed background (outside the dialog) closes it, like Esc."""
        if event.widget is self:
            self.dismiss(None)
