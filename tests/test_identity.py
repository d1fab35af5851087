"""lid_tui.identity: every identifier form of DESIGN.md, and robustness against any text."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lid_tui.identity import (
    IdentityError,
    Jid,
    QueryKind,
    chat_jids,
    classify,
    describe_number,
    is_ascii_digits,
    lid_digits,
    mask_digits,
    normalize_lid,
    number_digits,
    number_variants,
    parse_jid,
)

LID = "123456789012345"
BR = "5511987654321"

# --- numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("+55 (11) 98765-4321", BR),
        ("+55 11 98765-4321", BR),
        ("55.11.98765.4321", BR),
        ("0044 7911 123456", "447911123456"),
        ("+44 7911 123456", "447911123456"),
        (f"{BR}@c.us", BR),
        (f"{BR}@s.whatsapp.net", BR),
        (f"{BR}:12@s.whatsapp.net", BR),
        (f"{BR}_1:12@s.whatsapp.net", BR),
        (f"{BR}.0:12@s.whatsapp.net", BR),
        (f"  {BR}@C.US  ", BR),
        ("+55\u00a011\u00a098765\u22124321", BR),  # no-break spaces, minus sign
        ("\u202a+55 11 98765-4321\u202c", BR),  # bidi embedding, as WhatsApp Desktop copies
        ("\u200e+44 7911 123456", "447911123456"),
        (BR, BR),
    ],
)
def test_number_digits_accepts_common_forms(text: str, digits: str) -> None:
    assert number_digits(text) == digits


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (f"{LID}@lid", "a LID is not a phone number"),
        ("120363025246125486@g.us", "g.us address"),
        ("status@broadcast", "broadcast address"),
        ("123", "3 digits"),
        ("1234567890123456", "16 digits"),
        ("011 98765 4321", "country code"),
        ("+55 11 98765-432x", "not a phone number"),
        ("٥٥١١٩٨٧٦٥٤٣٢١", "not a phone number"),  # Arabic-Indic digits are not ASCII
        ("", "not a phone number"),
        ("9" * 300, "too long"),
    ],
)
def test_number_digits_refuses_non_numbers(text: str, reason: str) -> None:
    with pytest.raises(IdentityError, match=reason):
        number_digits(text)


# --- LIDs and JIDs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f"{LID}@lid",
        f"{LID}:7@lid",
        f"{LID}_1:7@lid",
        f"{LID}.1:7@lid",
        f"{LID}@LID",
        LID,
        f"{LID}:7",
        f" {LID}@lid\n",
        f"\ufeff{LID}@lid",
    ],
)
def test_lid_forms(text: str) -> None:
    assert lid_digits(text) == LID
    assert normalize_lid(text) == f"{LID}@lid"


@pytest.mark.parametrize(
    "text",
    [
        f"{BR}@c.us",  # a number is not a LID
        f"{BR}@s.whatsapp.net",
        "120363025246125486@g.us",
        f"{LID}@hosted.lid",
        "1234567@lid",  # too short
        "1" * 21 + "@lid",
        "abc@lid",
        "@lid",
        f"{LID}:x",  # device suffix must be digits
        "",
    ],
)
def test_lid_digits_refuses(text: str) -> None:
    with pytest.raises(IdentityError):
        lid_digits(text)


@pytest.mark.parametrize(
    ("text", "jid"),
    [
        (f"{LID}:7@lid", Jid(LID, "lid")),
        (f"{BR}_1:12@s.whatsapp.net", Jid(BR, "s.whatsapp.net")),
        (f"{BR}.1:12@s.whatsapp.net", Jid(BR, "s.whatsapp.net")),
        (f"{BR}@c.us", Jid(BR, "c.us")),
        ("120363025246125486@g.us", Jid("120363025246125486", "g.us")),
        ("status@broadcast", Jid("status", "broadcast")),
    ],
)
def test_parse_jid_drops_agent_and_device(text: str, jid: Jid) -> None:
    assert parse_jid(text) == jid


@pytest.mark.parametrize(
    "text",
    [
        "120363025246125486@g.us",
        "120363123456789012@newsletter",
        "status@broadcast",
        f"{LID}@hosted",
        f"{LID}@hosted.lid",
    ],
)
def test_not_personal_addresses(text: str) -> None:
    jid = parse_jid(text)
    assert not jid.is_personal
    assert not jid.is_lid
    assert not jid.is_number
    assert classify(text).kind is QueryKind.NOT_PERSONAL


@pytest.mark.parametrize("text", ["no-at-sign", "@lid", "123@", "a" * 300 + "@lid"])
def test_parse_jid_refuses(text: str) -> None:
    with pytest.raises(IdentityError):
        parse_jid(text)


# --- classify ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "digits"),
    [
        (f"{LID}@lid", QueryKind.LID, LID),
        (f"{LID}:7@lid", QueryKind.LID, LID),
        (f"{LID}:7", QueryKind.LID, LID),
        (LID, QueryKind.LID, LID),  # 15 digits that no phone number matches
        ("+55 (11) 98765-4321", QueryKind.NUMBER, BR),
        ("0044 7911 123456", QueryKind.NUMBER, "447911123456"),
        (f"{BR}@c.us", QueryKind.NUMBER, BR),
        (BR, QueryKind.NUMBER, BR),
        ("553187654321", QueryKind.NUMBER, "553187654321"),  # Brazil, WhatsApp's 12-digit form
        ("5215512345678", QueryKind.NUMBER, "5215512345678"),  # Mexico, WhatsApp's 521 form
        ("98765", QueryKind.PARTIAL, "98765"),
        ("987-65", QueryKind.PARTIAL, "98765"),
        ("+1234", QueryKind.PARTIAL, "1234"),
        ("", QueryKind.EMPTY, ""),
        ("   ", QueryKind.EMPTY, ""),
        ("hello", QueryKind.INVALID, ""),
        ("abc@lid", QueryKind.INVALID, ""),
        (f"{LID}:x", QueryKind.INVALID, ""),
        ("x" * 1000, QueryKind.INVALID, ""),
    ],
)
def test_classify(text: str, kind: QueryKind, digits: str) -> None:
    query = classify(text)
    assert query.kind is kind
    assert query.digits == digits
    assert query.text == text
    assert query.label  # always something to show


def test_classify_marks_bare_numbers_that_could_be_lids() -> None:
    assert classify(BR).maybe_lid  # 13 digits: a LID of that length is possible
    assert not classify("+55 11 98765-4321").maybe_lid  # the + says it is a number
    assert classify(BR).label == f"number +{BR}"
    assert classify(f"{LID}@lid").label == f"LID {LID}@lid"


# --- variants, display ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("digits", "variants"),
    [
        (BR, (BR, "551187654321")),  # drop Brazil's ninth digit
        ("551187654321", ("551187654321", BR)),  # add it
        ("551133334444", ("551133334444",)),  # landline: no ninth digit
        ("5215512345678", ("5215512345678", "525512345678")),  # Mexico: drop the 1
        ("525512345678", ("525512345678", "5215512345678")),  # add it
        ("447911123456", ("447911123456",)),
    ],
)
def test_number_variants(digits: str, variants: tuple[str, ...]) -> None:
    assert number_variants(digits) == variants


def test_describe_number() -> None:
    info = describe_number(BR)
    assert (info.international, info.region, info.valid, info.line_type) == (
        "+55 11 98765-4321",
        "BR",
        True,
        "mobile",
    )
    assert info.country == "Brazil"
    uk = describe_number("447400123456")
    assert (uk.international, uk.region) == ("+44 7400 123456", "GB")


@pytest.mark.parametrize("digits", ["999", "", "12", "9" * 40])
def test_describe_number_never_raises(digits: str) -> None:
    info = describe_number(digits)
    assert info.international == f"+{digits}"
    assert not info.valid
    assert info.line_type == "unknown"


def test_mask_digits() -> None:
    assert mask_digits("+55 11 98765-4321") == "+•• •• •••••-•321"
    assert mask_digits(f"{LID}@lid", keep=4) == "•" * 11 + "2345@lid"
    assert mask_digits("12", keep=3) == "12"
    assert mask_digits("123", keep=0) == "•••"
    assert mask_digits("no digits") == "no digits"


def test_chat_jids() -> None:
    assert chat_jids(BR) == (f"{BR}@c.us", f"{BR}@s.whatsapp.net")


# --- properties ----------------------------------------------------------------------------

_ID_ALPHABET = st.sampled_from(
    list("0123456789") * 4
    + list("@:._+-() /lidcusgwhatnewsletrbo")
    + ["\u00a0", "\u202a", "\u202c", "\u200e", "\ufeff", "\u0663", "²", "\n", "\x00"]
)
#: Near-identifiers: digit runs with servers, suffixes and noise.
identifier_like = st.one_of(
    st.text(_ID_ALPHABET, max_size=40),
    st.builds(
        lambda user, device, server: f"{user}{device}@{server}",
        st.text(_ID_ALPHABET, max_size=20),
        st.sampled_from(["", ":0", ":12", ":x", "_1", ".0:3"]),
        st.sampled_from(["lid", "c.us", "s.whatsapp.net", "g.us", "hosted.lid", "LID", ""]),
    ),
)
#: Anything people can paste: unicode (RTL, emoji, control characters) and very long text.
any_text = st.one_of(
    st.text(),
    st.text(st.characters(codec="utf-8")),
    st.text("\u202e\u200f\u0627\u05d0🙂\x1b[0m\t\r\x00 ", max_size=30),
    st.builds(lambda piece, times: piece * times, st.text(min_size=1, max_size=5), st.just(10_000)),
    identifier_like,
)
_PROPERTY = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_PROPERTY
@given(identifier_like)
def test_normalising_is_idempotent(text: str) -> None:
    try:
        lid = normalize_lid(text)
    except IdentityError:
        pass
    else:
        assert normalize_lid(lid) == lid
        assert lid_digits(lid) + "@lid" == lid
    try:
        number = number_digits(text)
    except IdentityError:
        pass
    else:
        assert number_digits(number) == number
        assert is_ascii_digits(number)


@_PROPERTY
@given(any_text)
def test_parsers_raise_only_identity_errors(text: str) -> None:
    query = classify(text)
    assert query.kind in QueryKind
    if query.kind in (QueryKind.LID, QueryKind.NUMBER, QueryKind.PARTIAL):
        assert is_ascii_digits(query.digits)
    for parse in (lid_digits, number_digits, parse_jid, normalize_lid):
        with contextlib.suppress(IdentityError):  # anything else fails the test
            parse(text)


def test_region_names_agree_with_phonenumbers_geocoder() -> None:
    """lid_tui/regions.py is generated from phonenumbers' data; it must still agree."""
    import phonenumbers
    from phonenumbers import geocoder

    from lid_tui.regions import REGION_NAMES

    for region in ("BR", "MX", "IN", "ID", "US", "GB", "DE", "NG", "ZA", "FR"):
        example = phonenumbers.example_number(region)
        assert REGION_NAMES[region] == geocoder.country_name_for_number(example, "en")
    assert describe_number("5511987654321").country == "Brazil"
