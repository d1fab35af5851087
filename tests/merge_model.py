"""A reference model of a refresh merge: the rules applied one document at a time to plain
dicts in TinyDB's layout (what lid-tui did before merging into index columns). Tests compare
the store's file with it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def merge_documents(
    table: dict[str, dict[str, Any]],
    fetched: Mapping[str, str | None],
    *,
    complete: bool,
    now: int,
) -> tuple[int, int, int, int]:
    """Fold a refresh into ``table`` in place; (added, changed, unchanged, not listed)."""
    holders = _holders(table)
    moved: dict[str, str] = {}
    added = changed = unchanged = 0
    for lid, number in fetched.items():
        doc = table.get(lid)
        if doc is None:
            doc = {"f": now, "l": now}
            if number:
                doc["n"] = number
            table[lid] = doc
            added += 1
        else:
            doc["l"] = now
            doc.pop("x", None)
            previous = doc.get("n")
            if not number or number == previous:
                unchanged += 1
                continue
            doc["n"] = number
            if previous:
                doc.setdefault("h", []).append([now, "c", number, previous])
            changed += 1
        if not number:
            continue
        old_owner = moved.get(number, holders.get(number))
        if old_owner is not None and old_owner != lid and fetched.get(old_owner) != number:
            doc.setdefault("h", []).append([now, "i", number, old_owner])
            table[old_owner].setdefault("h", []).append([now, "o", number, lid])
        moved[number] = lid
    not_listed = 0
    if complete:
        for lid, doc in table.items():
            if lid not in fetched:
                doc["x"] = 1
                not_listed += 1
    return added, changed, unchanged, not_listed


def _holders(table: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Who holds each number before the merge: the newest LID whose number did not move away,
    else the newest LID with it."""
    holders: dict[str, str] = {}
    superseded: dict[str, str] = {}
    for lid, doc in table.items():
        number = doc.get("n")
        if not number:
            continue
        events = doc.get("h")
        if events and events[-1][1] == "o" and events[-1][2] == number:
            superseded[number] = lid
        else:
            holders[number] = lid
    return {**superseded, **holders}
