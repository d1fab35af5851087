"""lid_tui.provider.payload: every accepted shape, field name and messy row form."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import nested_json, shallow_json

from lid_tui.identity import IdentityError, is_ascii_digits, lid_digits, number_digits
from lid_tui.provider import payload as payload_module
from lid_tui.provider.base import UnusablePayload
from lid_tui.provider.payload import (
    ParsedPage,
    clean_text,
    decode_json,
    parse_count,
    parse_mapping_page,
    parse_resolved,
    provider_message,
)

LID = "123456789012345"
LID2 = "223456789012345"
BR = "5511987654321"
UK = "447911123456"

DOCUMENTED = {"0": {"lid": f"{LID}@lid", "number": BR}, "1": {"lid": f"{LID2}@lid", "number": UK}}
WAHA = [{"lid": f"{LID}@lid", "pn": f"{BR}@c.us"}, {"lid": f"{LID2}@lid", "pn": f"{UK}@c.us"}]
EXPECTED = [(LID, BR), (LID2, UK)]


# --- shapes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        DOCUMENTED,
        WAHA,
        {"data": WAHA},
        {"data": DOCUMENTED},
        {"mappings": WAHA},
        {"lids": WAHA},
        {"results": WAHA},
        {"items": DOCUMENTED},
        {"data": {"items": WAHA}},  # nested envelopes
        {"data": WAHA, "count": 2, "offset": 0, "status": 200},  # envelope metadata ignored
        {"success": True, "message": "ok", "data": DOCUMENTED},
    ],
    ids=lambda p: orjson.dumps(p).decode()[:40],
)
def test_every_shape(payload: Any) -> None:
    page = parse_mapping_page(payload)
    assert page.rows == EXPECTED
    assert (page.raw_rows, page.skipped, page.bad_numbers) == (2, 0, 0)


@pytest.mark.parametrize("payload", [{}, [], {"data": []}, {"data": {}}, {"mappings": []}])
def test_empty_page_is_the_end(payload: Any) -> None:
    page = parse_mapping_page(payload)
    assert page == ParsedPage(rows=[], raw_rows=0, skipped=0, bad_numbers=0)


@pytest.mark.parametrize(
    ("payload", "said"),
    [
        (None, "null"),
        (5, "a number"),
        ("oops", "a string"),
        (True, "a boolean"),
        ({"lid": f"{LID}@lid", "number": BR}, "keys lid, number"),  # one row, not a page
        ({"status": 401, "message": "Invalid token"}, 'it said "Invalid token"'),
        ({"data": None}, "keys data"),
        ({"data": "nope"}, "keys data"),
        ({"0": {"lid": f"{LID}@lid"}, "next": "x"}, "keys 0, next"),
        ({"count": 2}, "keys count"),
    ],
)
def test_other_shapes_are_unusable(payload: Any, said: str) -> None:
    with pytest.raises(UnusablePayload, match="not a mapping list") as caught:
        parse_mapping_page(payload)
    assert said in str(caught.value)


# --- field names and messy forms -----------------------------------------------------------


@pytest.mark.parametrize("key", ["number", "pn", "phone", "phoneNumber"])
def test_every_phone_field(key: str) -> None:
    page = parse_mapping_page([{"lid": f"{LID}@lid", key: BR}])
    assert page.rows == [(LID, BR)]


def test_phone_fields_in_order_of_preference() -> None:
    row = {"lid": f"{LID}@lid", "phoneNumber": "14155552671", "pn": f"{UK}@c.us", "number": BR}
    assert parse_mapping_page([row]).rows == [(LID, BR)]
    row = {"lid": f"{LID}@lid", "number": None, "pn": f"{UK}@c.us"}  # null falls through
    assert parse_mapping_page([row]).rows == [(LID, UK)]


@pytest.mark.parametrize(
    "phone",
    [
        BR,
        "+55 11 98765-4321",
        "+55 (11) 98765-4321",
        "0055 11 98765 4321",
        f"{BR}@c.us",
        f"{BR}@s.whatsapp.net",
        f"{BR}:12@s.whatsapp.net",
        f"{BR}_1:12@s.whatsapp.net",
        f" {BR} ",
        int(BR),
    ],
)
def test_messy_phones_become_digits(phone: Any) -> None:
    page = parse_mapping_page([{"lid": f"{LID}@lid", "number": phone}])
    assert page.rows == [(LID, BR)]
    assert page.bad_numbers == 0


@pytest.mark.parametrize(
    "lid",
    [f"{LID}@lid", f"{LID}:12@lid", f"{LID}_1:12@lid", f"{LID}@LID", LID, f" {LID}@lid", int(LID)],
)
def test_messy_lids_become_digits(lid: Any) -> None:
    assert parse_mapping_page([{"lid": lid, "number": BR}]).rows == [(LID, BR)]


@pytest.mark.parametrize("phone", [None, "", "   ", 0])
def test_missing_phone_is_a_hidden_number(phone: Any) -> None:
    page = parse_mapping_page([{"lid": f"{LID}@lid", "number": phone}, {"lid": f"{LID2}@lid"}])
    assert page.rows == [(LID, None), (LID2, None)]
    assert (page.raw_rows, page.skipped, page.bad_numbers) == (2, 0, 0)


@pytest.mark.parametrize(
    "phone",
    ["garbage", f"{LID2}@lid", "123", "120363025246125486@g.us", 1.5, True, ["x"], {"n": 1}],
)
def test_unusable_phone_keeps_the_lid_hidden_and_is_counted(phone: Any) -> None:
    page = parse_mapping_page([{"lid": f"{LID}@lid", "number": phone}])
    assert page.rows == [(LID, None)]
    assert (page.raw_rows, page.skipped, page.bad_numbers) == (1, 0, 1)


@pytest.mark.parametrize(
    "row",
    [
        {"lid": None, "number": BR},
        {"number": BR},
        {"lid": "", "number": BR},
        {"lid": "not-digits@lid", "number": BR},
        {"lid": "120363025246125486@g.us", "number": BR},  # a group
        {"lid": f"{BR}@c.us", "number": BR},  # a phone given as the lid
        {"lid": f"{BR}@s.whatsapp.net"},
        {"lid": "+55 11 98765-4321"},
        {"lid": "1234@lid"},  # too short
        {"lid": f"0{LID}"[:0] + "0000000000@lid"},  # zeros only
        {"lid": f"{LID}@hosted.lid"},
        {"lid": True},
        {"lid": 1.5e14},
        {"lid": [LID]},
        "a string row",
        None,
        42,
        [f"{LID}@lid", BR],
    ],
)
def test_rows_without_a_usable_lid_are_skipped(row: Any) -> None:
    page = parse_mapping_page([row, {"lid": f"{LID2}@lid", "number": UK}])
    assert page.rows == [(LID2, UK)]
    assert (page.raw_rows, page.skipped) == (2, 1)


def test_counts_on_a_mixed_page() -> None:
    payload = {
        "0": {"lid": f"{LID}:3@lid", "number": "+55 11 98765-4321"},
        "1": {"lid": "120363025246125486@g.us"},
        "2": {"lid": f"{LID2}@lid", "phone": "nonsense"},
        "3": "junk",
        "4": {"lid": f"{LID}@lid", "number": BR},  # the same LID again: kept
        "5": {"lid": "333456789012345@lid"},
    }
    page = parse_mapping_page(payload)
    assert page.rows == [(LID, BR), (LID2, None), (LID, BR), ("333456789012345", None)]
    assert (page.raw_rows, page.skipped, page.bad_numbers) == (6, 2, 1)
    assert page.raw_rows == len(page.rows) + page.skipped


def test_duplicates_are_not_removed() -> None:
    rows = [{"lid": f"{LID}@lid", "number": BR}] * 3
    assert parse_mapping_page(rows).rows == [(LID, BR)] * 3


def test_clean_rows_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clean rows never reach identity's regex-based parsers."""

    def forbidden(text: str) -> str:
        raise AssertionError(f"slow path taken for {text!r}")

    monkeypatch.setattr(payload_module, "lid_digits", forbidden)
    monkeypatch.setattr(payload_module, "number_digits", forbidden)
    for payload in (DOCUMENTED, WAHA, [{"lid": LID, "pn": f"{BR}@s.whatsapp.net"}]):
        assert parse_mapping_page(payload).rows[0] == (LID, BR)


# --- JSON decoding, count, resolve, messages ----------------------------------------------


def test_decode_json() -> None:
    assert decode_json(orjson.dumps(DOCUMENTED)) == DOCUMENTED
    assert decode_json(b"\xef\xbb\xbf[]") == []  # a UTF-8 BOM is tolerated
    with pytest.raises(UnusablePayload, match="truncated or invalid JSON"):
        decode_json(orjson.dumps(WAHA)[:-7])
    with pytest.raises(UnusablePayload, match="empty answer"):
        decode_json(b" \n")


@pytest.mark.parametrize(
    ("payload", "count"),
    [
        (1234, 1234),
        (0, 0),
        ("1234", 1234),
        (" 77 ", 77),
        (1234.0, 1234),
        ({"count": 5}, 5),
        ({"total": 6}, 6),
        ({"count": "7"}, 7),
        ({"data": {"count": 8}}, 8),
        ({"data": 9}, 9),
        ({"data": [], "total": 10}, 10),
        (-1, None),
        (1.5, None),
        (True, None),
        (None, None),
        ("many", None),
        ({"count": None}, None),
        ({}, None),
        ([1, 2], None),
    ],
)
def test_parse_count(payload: Any, count: int | None) -> None:
    assert parse_count(payload) == count


@pytest.mark.parametrize(
    ("payload", "result"),
    [
        ({"lid": f"{LID}@lid", "number": BR}, (LID, BR)),
        ({"lid": f"{LID}:4@lid", "pn": f"{BR}@c.us"}, (LID, BR)),
        ({"lid": f"{LID}@lid", "number": "551187654321"}, (LID, "551187654321")),  # theirs wins
        ({"lid": f"{LID}@lid"}, (LID, BR)),  # no number: the one we asked about
        ({"lid": f"{LID}@lid", "number": "garbage"}, (LID, BR)),
        ({"data": {"lid": f"{LID}@lid", "number": BR}}, (LID, BR)),
        ([{"lid": f"{LID}@lid", "pn": f"{BR}@c.us"}], (LID, BR)),
        ({"lid": None, "number": BR}, None),
        ({"number": BR}, None),
        ({"lid": ""}, None),
        ([], None),
    ],
)
def test_parse_resolved(payload: Any, result: tuple[str, str | None] | None) -> None:
    assert parse_resolved(payload, BR) == result


@pytest.mark.parametrize("payload", [{"lid": "120363025246125486@g.us"}, {"lid": "x"}, "x", 5])
def test_parse_resolved_refuses_what_is_not_a_lid(payload: Any) -> None:
    with pytest.raises(UnusablePayload):
        parse_resolved(payload, BR)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            {"status": 401, "message": "Invalid access token", "error": "Unauthorized"},
            "Invalid access token",
        ),
        ({"error": "Unauthorized"}, "Unauthorized"),
        (
            {"message": ["limit must be a number", "offset must be positive"]},
            "limit must be a number; offset must be positive",
        ),
        ({"error": {"message": "nested"}}, "nested"),
        ({"detail": "FastAPI style"}, "FastAPI style"),
        ({"message": "  "}, None),
        ({"status": 500}, None),
        ([], None),
        ("text", None),
    ],
)
def test_provider_message(payload: Any, message: str | None) -> None:
    assert provider_message(payload) == message


def test_clean_text() -> None:
    assert clean_text("line one\nline\ttwo\x1b[31m red") == "line one line two [31m red"
    assert clean_text("\u202eevil\u200b text") == "evil text"
    assert clean_text("x" * 500, 20) == "x" * 19 + "…"
    assert clean_text("مرحبا 🙂") == "مرحبا 🙂"


# --- properties ----------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=12),
)
#: Keys that matter to the parser, plus noise.
json_keys = st.one_of(
    st.sampled_from(["0", "1", "lid", "number", "pn", "data", "items", "count", "status"]),
    st.text(max_size=4),
)
json_values = nested_json(json_scalars, json_keys, width=4)
lid_values = st.one_of(
    st.sampled_from(
        [f"{LID}@lid", f"{LID}:9@lid", LID, f"{BR}@c.us", "120363025246125486@g.us", "", None]
    ),
    st.integers(min_value=-10, max_value=10**20),
    st.builds(
        "".join,
        st.tuples(
            st.text("0123456789٣ ", max_size=22),
            st.sampled_from(["", ":9", ":a", "_1:2"]),
            st.sampled_from(["", "@lid", "@LID", "@c.us", "@g.us", "@hosted.lid"]),
        ),
    ),
    json_scalars,
)
phone_values = st.one_of(
    st.sampled_from(
        [BR, "+55 11 98765-4321", f"{BR}@c.us", f"{BR}:2@s.whatsapp.net", f"{LID}@lid", "", None]
    ),
    st.builds(
        "".join,
        st.tuples(
            st.sampled_from(["", "+", "00", " "]),
            st.text("0123456789 ().-", max_size=18),
            st.sampled_from(["", "@c.us", "@s.whatsapp.net", "@lid", ":3@s.whatsapp.net"]),
        ),
    ),
    json_scalars,
)
rows = st.one_of(
    st.builds(
        lambda lid, key, phone: {"lid": lid, key: phone},
        lid_values,
        st.sampled_from(["number", "pn", "phone", "phoneNumber"]),
        phone_values,
    ),
    st.builds(lambda lid: {"lid": lid, "number": None, "pn": f"{BR}@c.us"}, lid_values),
    shallow_json(json_scalars, json_keys),
)


def _wrap(items: list[Any], shape: int) -> Any:
    """The same rows in each accepted shape."""
    keyed = {str(index): row for index, row in enumerate(items)}
    return [
        items,
        keyed,
        {"data": items},
        {"results": keyed},
        {"data": items, "count": len(items)},
        {"mappings": {"data": items}},
    ][shape]


near_miss_pages = st.builds(_wrap, st.lists(rows, max_size=4), st.integers(0, 5))
_PROPERTY = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _assert_clean(page: ParsedPage) -> None:
    assert page.raw_rows == len(page.rows) + page.skipped
    assert 0 <= page.bad_numbers <= len(page.rows)
    for lid, number in page.rows:
        assert is_ascii_digits(lid)
        assert lid_digits(lid) == lid
        assert number is None or (is_ascii_digits(number) and number_digits(number) == number)


@_PROPERTY
@given(st.one_of(json_values, near_miss_pages))
def test_any_payload_gives_a_clean_page_or_unusable(payload: Any) -> None:
    try:
        page = parse_mapping_page(payload)
    except UnusablePayload as error:
        assert str(error)
    else:
        _assert_clean(page)


def _reference(row: Any) -> tuple[str, str | None] | None:
    """What identity's own parsers make of a row: the fast path must agree with it."""
    if not isinstance(row, dict):
        return None
    lid = row.get("lid")
    if isinstance(lid, int) and not isinstance(lid, bool):
        lid = str(lid)
    if not isinstance(lid, str):
        return None
    try:
        digits = lid_digits(lid)
    except IdentityError:
        return None
    phone = next((row[k] for k in ("number", "pn", "phone", "phoneNumber") if row.get(k)), None)
    if isinstance(phone, int) and not isinstance(phone, bool):
        phone = str(phone)
    try:
        return digits, number_digits(phone) if isinstance(phone, str) else None
    except IdentityError:
        return digits, None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(rows, max_size=4))
def test_parser_agrees_with_identity(items: list[Any]) -> None:
    page = parse_mapping_page(items)
    expected = [result for result in map(_reference, items) if result is not None]
    assert page.rows == expected
    assert page.skipped == len(items) - len(expected)
