"""In-memory indexes over the cached mappings, compact enough for a million of them.

The index is columnar: one text blob of ``lid<TAB>number`` lines (substring search runs over it
at C speed with ``str.find``), line offsets into it, sorted integer arrays for exact look-ups by
LID and by number (binary search, about a microsecond), and small arrays for the times seen.
A million mappings take about 70 MB here, against about 600 MB as Python dicts.

An index is immutable once built: a refresh builds a new one and swaps it in, so readers on
other threads never see a half-updated index.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from lid_tui.models import HistoryKind, MappingRecord, from_epoch, iso_utc

#: Compact history codes used in the cache file.
HISTORY_CODES: dict[str, HistoryKind] = {
    "c": HistoryKind.NUMBER_CHANGED,
    "i": HistoryKind.NUMBER_MOVED_IN,
    "o": HistoryKind.NUMBER_MOVED_OUT,
}


@dataclass(frozen=True, slots=True)
class Row:
    """The cheap view of one mapping, enough to draw a list row."""

    index: int
    lid: str  # digits
    number: str | None
    first_seen: int
    last_seen: int
    listed: bool


class MappingIndex:
    """Read-only indexes over one generation of the cache."""

    __slots__ = (
        "_blob",
        "_first",
        "_history",
        "_last",
        "_lid_keys",
        "_lid_rows",
        "_num_keys",
        "_num_rows",
        "_offsets",
        "_unlisted",
    )

    def __init__(
        self,
        blob: str,
        offsets: array,
        first: array,
        last: array,
        unlisted: bytearray,
        history: dict[int, list[list[Any]]],
        lid_keys: array,
        lid_rows: array,
        num_keys: array,
        num_rows: array,
    ) -> None:
        self._blob = blob
        self._offsets = offsets
        self._first = first
        self._last = last
        self._unlisted = unlisted
        self._history = history
        self._lid_keys = lid_keys
        self._lid_rows = lid_rows
        self._num_keys = num_keys
        self._num_rows = num_rows

    # -- building -------------------------------------------------------------------------

    @classmethod
    def empty(cls) -> MappingIndex:
        return cls.build({})

    @classmethod
    def build(cls, docs: Mapping[str, Mapping[str, Any]]) -> MappingIndex:
        """Build from the cache's documents (``{lid_digits: {"n", "f", "l", "h", "x"}}``)."""
        lines: list[str] = []
        first = array("I")
        last = array("I")
        unlisted = bytearray(len(docs))
        history: dict[int, list[list[Any]]] = {}
        lid_pairs: list[int] = []
        num_pairs: list[tuple[int, int]] = []
        superseded: list[int] = []
        append_line = lines.append
        for row, (lid, doc) in enumerate(docs.items()):
            number = doc.get("n")
            append_line(f"{lid}\t{number or ''}")
            first.append(doc["f"])
            last.append(doc["l"])
            if "x" in doc:
                unlisted[row] = 1
            events = doc.get("h")
            if events:
                history[row] = events
                latest = events[-1]
                if latest[1] == "o" and latest[2] == number:
                    superseded.append(row)
            lid_pairs.append(int(lid))
            if number:
                num_pairs.append((int(number), row))
        blob = "\n".join(lines) + "\n" if lines else ""
        offsets = array("I", [0])
        position = 0
        for line in lines:
            position += len(line) + 1
            offsets.append(position)

        lid_order = sorted(range(len(lid_pairs)), key=lid_pairs.__getitem__)
        lid_keys = array("Q", [lid_pairs[row] for row in lid_order])
        lid_rows = array("I", lid_order)

        # A number may sit on two LIDs (an old LID keeps its number after a re-registration).
        # The look-up goes to the LID that holds it now: not superseded, then the newest row.
        skip = set(superseded)
        num_pairs.sort()
        owners: dict[int, int] = {}
        for number, row in num_pairs:
            current = owners.get(number)
            if current is None or (row not in skip and (current in skip or row > current)):
                owners[number] = row
        num_keys = array("Q", owners.keys())
        num_rows = array("I", owners.values())
        return cls(
            blob, offsets, first, last, unlisted, history, lid_keys, lid_rows, num_keys, num_rows
        )

    # -- reading --------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._first)

    @property
    def blob(self) -> str:
        return self._blob

    def lid_at(self, row: int) -> str:
        start = self._offsets[row]
        return self._blob[start : self._blob.index("\t", start)]

    def row(self, row: int) -> Row:
        """The cheap view of row ``row`` (0-based, in cache order)."""
        line = self._blob[self._offsets[row] : self._offsets[row + 1] - 1]
        lid, _, number = line.partition("\t")
        return Row(
            row,
            lid,
            number or None,
            self._first[row],
            self._last[row],
            not self._unlisted[row],
        )

    def rows(self, start: int, stop: int) -> list[Row]:
        """Rows ``start`` to ``stop`` (exclusive), clipped to the index."""
        return [self.row(i) for i in range(max(0, start), min(stop, len(self)))]

    def record(self, row: int) -> MappingRecord:
        """The full record of a row, history included."""
        return MappingRecord.model_validate(self.record_dict(row, with_listed=True))

    def record_dict(self, row: int, *, with_listed: bool = False) -> dict[str, Any]:
        """The record as the command-line contract prints it (fast: no model, for exports)."""
        view = self.row(row)
        record: dict[str, Any] = {
            "lid": f"{view.lid}@lid",
            "number": view.number,
            "first_seen": iso_epoch(view.first_seen),
            "last_seen": iso_epoch(view.last_seen),
            "history": [history_dict(event) for event in self._history.get(row, ())],
        }
        if with_listed:
            record["listed"] = view.listed
        return record

    def row_of_lid(self, lid_digits: str) -> int | None:
        """The row holding this LID, or None. ``lid_digits`` must be ASCII digits."""
        return _find(self._lid_keys, self._lid_rows, int(lid_digits))

    def row_of_number(self, number: str) -> int | None:
        """The row of the LID that holds this number now, or None."""
        return _find(self._num_keys, self._num_rows, int(number))

    def rows_containing(self, digits: str, limit: int | None = None) -> list[int]:
        """Rows whose LID or number contains ``digits``, in cache order, each row once."""
        if not digits:
            return []
        blob = self._blob
        offsets = self._offsets
        find = blob.find
        hits: list[int] = []
        position = find(digits)
        while position >= 0:
            row = bisect_right(offsets, position) - 1
            hits.append(row)
            if limit is not None and len(hits) >= limit:
                break
            # Skip to the next line: a row counts once even if it matches twice.
            position = find(digits, offsets[row + 1])
        return hits

    def iter_rows(self) -> Iterator[Row]:
        for i in range(len(self)):
            yield self.row(i)

    def history_of(self, row: int) -> list[list[Any]]:
        return list(self._history.get(row, ()))


def _find(keys: array, rows: array, key: int) -> int | None:
    position = bisect_left(keys, key)
    if position < len(keys) and keys[position] == key:
        return rows[position]
    return None


@lru_cache(maxsize=1024)
def iso_epoch(seconds: int) -> str:
    """ISO 8601 UTC for an epoch; cached, since a refresh stamps many rows alike."""
    return iso_utc(from_epoch(seconds))


def history_dict(raw: list[Any]) -> dict[str, Any]:
    """Expand a compact history entry ``[epoch, code, number, other]`` to its JSON form."""
    at, code, number, other = raw
    kind = HISTORY_CODES[code]
    event: dict[str, Any] = {"at": iso_epoch(at), "event": kind.value, "number": number}
    if kind is HistoryKind.NUMBER_CHANGED:
        event["previous_number"] = other
    else:
        event["other_lid"] = f"{other}@lid" if other else None
    return event
