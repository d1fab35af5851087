"""The shapes lid-tui passes between layers and prints as JSON.

A :class:`MappingRecord` is what people see (the CLI's JSON record, the TUI's detail);
the cache stores a compact form of it (see :mod:`lid_tui.store`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainSerializer

#: Timestamps are UTC, shown as ISO 8601 with a ``Z`` and whole seconds.
UtcTime = Annotated[
    datetime,
    PlainSerializer(lambda value: iso_utc(value), return_type=str, when_used="json"),
]


def iso_utc(value: datetime) -> str:
    """``2026-11-22T10:04:05Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class HistoryKind(enum.StrEnum):
    """What changed for a LID.

    - ``number_changed``: the LID's owner now has another number (``previous_number`` → ``number``);
    - ``number_moved_in``: this LID took over a number that ``other_lid`` held (re-registration);
    - ``number_moved_out``: this LID's number now belongs to ``other_lid``.
    """

    NUMBER_CHANGED = "number_changed"
    NUMBER_MOVED_IN = "number_moved_in"
    NUMBER_MOVED_OUT = "number_moved_out"


class HistoryEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: UtcTime
    event: HistoryKind
    number: str | None
    previous_number: str | None = None
    other_lid: str | None = None


class MappingRecord(BaseModel):
    """One identity: a LID and the number it maps to (``None`` when the owner hides it)."""

    model_config = ConfigDict(frozen=True)

    lid: str
    number: str | None
    first_seen: UtcTime
    last_seen: UtcTime
    history: list[HistoryEvent] = []
    #: False when the last complete refresh did not list this LID. Not part of the JSON record.
    listed: bool = True

    @property
    def lid_digits(self) -> str:
        return self.lid.removesuffix("@lid")

    def to_json_dict(self) -> dict[str, Any]:
        """The record as the command-line contract prints it."""
        return self.model_dump(mode="json", exclude={"listed"})


class SyncReport(BaseModel):
    """What a refresh did. ``complete`` is False when it stopped early (failure or cancel)."""

    fetched: int = 0
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    skipped: int = 0
    pages: int = 0
    seconds: float = 0.0
    complete: bool = True
    duplicates: int = 0
    not_listed: int = 0
    error: str | None = None

    def to_json_dict(self) -> dict[str, Any]:
        """The summary object of ``lid-tui sync --json``."""
        return self.model_dump(
            include={"fetched", "added", "changed", "unchanged", "skipped", "pages", "seconds"}
        )


@dataclass(slots=True)
class ProviderPage:
    """One page from a provider, already cleaned: ``(lid_digits, number_or_None)`` rows.

    ``raw_rows`` counts what the provider sent (the offset advances by it); ``skipped`` the rows
    that could not be used.
    """

    rows: list[tuple[str, str | None]] = field(default_factory=list)
    raw_rows: int = 0
    skipped: int = 0


@dataclass(slots=True)
class SyncProgress:
    """A progress snapshot for callbacks: ``total`` is None while the count is unknown."""

    fetched: int
    total: int | None
    pages: int
    skipped: int
    seconds: float
    retrying: str | None = None
