"""Turn what a ``/v2/lids``-style provider sends into clean ``(lid_digits, number)`` rows.

Pure functions, no I/O. :func:`parse_mapping_page` runs once per row of the whole mapping
list (a million rows for a large cache), so clean rows take a fast path of plain string checks
and only messy ones go through :mod:`lid_tui.identity`'s parsers.

Row rules:

- a row without a usable LID (missing, null, not digits, a group, a phone number given as the
  LID, not an object) is dropped and counted in ``skipped``;
- a row whose phone is absent, null or empty keeps the LID with ``None``: the owner hides it;
- a row whose phone is present but unusable (garbage, or itself a LID) also keeps the LID with
  ``None`` — dropping it would make a listed LID look unlisted — and is counted in
  ``bad_numbers``, not in ``skipped``, so ``raw_rows == len(rows) + skipped`` always holds;
- duplicates are kept: de-duplication belongs to the sync engine, which sees every page.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import orjson

from lid_tui.identity import (
    MAX_LID_DIGITS,
    MAX_NUMBER_DIGITS,
    MIN_LID_DIGITS,
    MIN_NUMBER_DIGITS,
    IdentityError,
    is_ascii_digits,
    is_digit_strings,
    lid_digits,
    number_digits,
)
from lid_tui.models import ProviderPage
from lid_tui.provider.base import UnusablePayload
from lid_tui.provider.redaction import redact

#: Where a row's phone may be, in order of preference.
NUMBER_KEYS = ("number", "pn", "phone", "phoneNumber")
#: Keys under which gateways wrap the row list.
ENVELOPE_KEYS = ("data", "mappings", "lids", "results", "items")
_MAX_ENVELOPE_DEPTH = 3
_UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(slots=True)
class ParsedPage(ProviderPage):
    """A :class:`ProviderPage` that also counts rows kept with an unusable phone hidden."""

    bad_numbers: int = 0


def decode_json(body: bytes) -> Any:
    """Decode a JSON body with orjson; truncated or invalid JSON is :class:`UnusablePayload`."""
    if body.startswith(_UTF8_BOM):
        body = body[len(_UTF8_BOM) :]
    if not body.strip():
        raise UnusablePayload("The provider sent an empty answer instead of JSON")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise UnusablePayload(
            f"The provider sent truncated or invalid JSON ({len(body)} bytes; {exc.msg})"
        ) from None


def parse_mapping_page(payload: Any) -> ParsedPage:
    """Clean one page of mappings in any accepted shape; an empty object or list is the end.

    Accepted: ``{"0": row, "1": row}``, ``[row, …]`` and an envelope such as
    ``{"data": [...]}`` around either. Anything else raises :class:`UnusablePayload`.
    """
    raw = _rows_of(payload, 0)
    rows: list[tuple[str, str | None]] = []
    append = rows.append
    skipped = 0
    bad_numbers = 0
    # Local names: this loop is the hot path of a refresh (one pass per row).
    min_lid, max_lid = MIN_LID_DIGITS, MAX_LID_DIGITS
    min_number, max_number = MIN_NUMBER_DIGITS, MAX_NUMBER_DIGITS
    for row in raw:
        if not isinstance(row, dict):
            skipped += 1
            continue
        # LID fast path: "<digits>@lid" or bare digits, already canonical.
        lid = row.get("lid")
        if type(lid) is str:
            digits = lid.removesuffix("@lid")
            if not (
                digits.isascii()
                and digits.isdigit()
                and min_lid <= len(digits) <= max_lid
                and digits[0] != "0"
            ):
                digits = _slow_lid(lid)
        else:
            digits = _slow_lid(lid)
        if digits is None:
            skipped += 1
            continue
        number = row.get("number")
        if not number:
            number = row.get("pn") or row.get("phone") or row.get("phoneNumber")
            if not number:
                append((digits, None))
                continue
        # Number fast path: bare digits, "<digits>@c.us" or "<digits>@s.whatsapp.net".
        if type(number) is str:
            candidate = number.removesuffix("@c.us")
            if candidate is number:
                candidate = number.removesuffix("@s.whatsapp.net")
            if (
                candidate.isascii()
                and candidate.isdigit()
                and min_number <= len(candidate) <= max_number
                and candidate[0] != "0"
            ):
                append((digits, candidate))
                continue
        clean = _slow_number(number)
        if clean is None and not _is_blank(number):
            bad_numbers += 1
        append((digits, clean))
    return ParsedPage(rows=rows, raw_rows=len(raw), skipped=skipped, bad_numbers=bad_numbers)


def parse_count(payload: Any, _depth: int = 0) -> int | None:
    """The total from ``1234``, ``"1234"``, ``{"count": n}``, ``{"total": n}`` or
    ``{"data": {"count": n}}``; None when the answer says nothing usable."""
    if isinstance(payload, bool):
        return None
    if isinstance(payload, int):
        return payload if payload >= 0 else None
    if isinstance(payload, float):
        return int(payload) if payload.is_integer() and payload >= 0 else None
    if isinstance(payload, str):
        text = payload.strip()
        return int(text) if is_ascii_digits(text) and len(text) <= 18 else None
    if isinstance(payload, dict) and _depth < _MAX_ENVELOPE_DEPTH:
        for key in ("count", "total", "data"):
            if key in payload:
                found = parse_count(payload[key], _depth + 1)
                if found is not None:
                    return found
    return None


def parse_resolved(payload: Any, asked: str) -> tuple[str, str | None] | None:
    """One number's answer ``{"lid": "…@lid" | null, "number": "…"}`` → ``(lid, number)``.

    None when the provider knows no LID for the number. ``asked`` (the digits we sent) stands
    in when the answer carries no usable number: the LID was resolved from it.
    """
    answer = payload
    for _ in range(_MAX_ENVELOPE_DEPTH):
        if isinstance(answer, list):
            if not answer:
                return None
            answer = answer[0]
        elif (
            isinstance(answer, dict)
            and "lid" not in answer
            and isinstance(answer.get("data"), dict | list)
        ):
            answer = answer["data"]
        else:
            break
    if not isinstance(answer, dict):
        raise UnusablePayload(
            f"The provider's answer is not a LID lookup result ({_shape(answer)})"
        )
    lid = answer.get("lid")
    if lid is None or lid == "":
        return None
    digits = _slow_lid(lid)
    if digits is None:
        raise UnusablePayload("The provider answered the lookup with something that is not a LID")
    number = None
    for key in NUMBER_KEYS:
        value = answer.get(key)
        if value:
            number = _slow_number(value)
            break
    return digits, number or asked


def provider_message(payload: Any) -> str | None:
    """The human message in an error body ``{"status": …, "message": …, "error": …}``."""
    if not isinstance(payload, dict):
        return None
    for key in ("message", "error", "detail", "msg"):
        value = payload.get(key)
        if isinstance(value, list):  # validation errors: a list of sentences
            value = "; ".join(str(item) for item in value if isinstance(item, str | int | float))
        if isinstance(value, str) and value.strip():
            return value
        if isinstance(value, dict):
            nested = provider_message(value)
            if nested:
                return nested
    return None


def clean_text(text: str, limit: int = 160) -> str:
    """One printable line from untrusted text: control and format characters become spaces,
    runs of whitespace collapse, and long text is cut with an ellipsis."""
    if not (text.isascii() and text.isprintable()):
        text = "".join(
            " " if unicodedata.category(ch)[0] in "CZ" else ch
            for ch in text[: limit * 4]  # bound the work on huge inputs
        )
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def _rows_of(payload: Any, depth: int) -> Collection[Any]:
    """The row collection inside any accepted shape."""
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):
        if not payload:
            return ()
        if depth < _MAX_ENVELOPE_DEPTH:
            for key in ENVELOPE_KEYS:
                inner = payload.get(key)
                if isinstance(inner, list | dict):
                    return _rows_of(inner, depth + 1)
        if "" not in payload and is_digit_strings(list(payload)):
            return list(payload.values())
    raise UnusablePayload(f"The provider's answer is not a mapping list ({_shape(payload)})")


def _parsed_or_none(value: Any, parse: Callable[[str], str]) -> str | None:
    """``parse(value)`` for a string or an integer, None for anything it refuses."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        return None
    try:
        return parse(value)
    except IdentityError:
        return None


def _slow_lid(value: Any) -> str | None:
    """The LID digits of any accepted form, or None when the value is not a LID."""
    return _parsed_or_none(value, lid_digits)


def _slow_number(value: Any) -> str | None:
    """The digits of a messy phone (``+55 11 …``, ``…:12@s.whatsapp.net``), or None."""
    return _parsed_or_none(value, number_digits)


def _is_blank(value: Any) -> bool:
    """Blank phones mean "hidden", not "garbage"."""
    return isinstance(value, str) and not value.strip()


def _shape(payload: Any) -> str:
    """A short, safe description of an unexpected answer for error messages."""
    if isinstance(payload, dict):
        # Redacted before being cut short: a provider may echo the token, and a cut token
        # would no longer match it.
        keys = ", ".join(clean_text(redact(str(key)), 24) for key in list(payload)[:5])
        more = ", …" if len(payload) > 5 else ""
        message = provider_message(payload)
        said = f'; it said "{clean_text(redact(message))}"' if message else ""
        return f"an object with keys {keys}{more}{said}"
    if isinstance(payload, list):
        return "a list"
    if payload is None:
        return "null"
    if isinstance(payload, bool):
        return "a boolean"
    if isinstance(payload, int | float):
        return "a number"
    if isinstance(payload, str):
        return "a string"
    return type(payload).__name__
