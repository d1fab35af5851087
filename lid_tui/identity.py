"""Parse, normalise and classify WhatsApp identifiers: LIDs, phone numbers and JIDs.

Everything here is a pure function. The only exception raised on purpose is
:class:`IdentityError`; anything a person can type gets either a result or that error.

Vocabulary:
- a *LID* is ``<digits>@lid``; it looks like a phone number but never is one;
- a *number* is the digits of an international phone number, as WhatsApp gives them
  (no ``+``, no spaces);
- a *JID* is ``user[:device]@server`` (``user`` may carry ``_agent`` or ``.agent``).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers

from lid_tui.regions import REGION_NAMES

LID_SERVER = "lid"
NUMBER_SERVERS = frozenset({"c.us", "s.whatsapp.net"})
NOT_PERSONAL_SERVERS = frozenset({"g.us", "newsletter", "broadcast", "hosted", "hosted.lid"})

#: Shortest and longest digit strings accepted as a full phone number (E.164 allows 15).
MIN_NUMBER_DIGITS = 7
MAX_NUMBER_DIGITS = 15
#: LIDs seen in practice have 14-16 digits; we accept a little either side.
MIN_LID_DIGITS = 8
MAX_LID_DIGITS = 20

_MAX_INPUT = 256  # longer input is never an identifier; refuse before any regex work
_NUMBER_PUNCTUATION = re.compile(r"[\s.\-()\[\]/\u00a0\u2010-\u2015\u2212]+")
#: Invisible format characters that copy-paste carries along: WhatsApp Desktop and Web wrap
#: numbers in bidi embeddings (U+202A…U+202C) or marks (U+200E), some apps add a BOM or ZWSP.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]+")


class IdentityError(ValueError):
    """The text is not an identifier of the kind asked for. The message says why."""


class QueryKind(enum.StrEnum):
    """What a person typed into a search box, as we understood it."""

    LID = "LID"
    NUMBER = "number"
    PARTIAL = "partial"
    NOT_PERSONAL = "not personal"
    INVALID = "invalid"
    EMPTY = "empty"


@dataclass(frozen=True, slots=True)
class Jid:
    """A parsed JID with device and agent suffixes dropped."""

    user: str
    server: str

    @property
    def is_lid(self) -> bool:
        return self.server == LID_SERVER

    @property
    def is_number(self) -> bool:
        return self.server in NUMBER_SERVERS

    @property
    def is_personal(self) -> bool:
        return self.server not in NOT_PERSONAL_SERVERS


@dataclass(frozen=True, slots=True)
class Query:
    """A classified search query.

    ``digits`` holds the normalised digits (LID digits for a LID, the number for a number,
    the digits typed for a partial query). ``maybe_lid`` is set for bare digit strings that
    could be a LID as well as a number, so an exact lookup can try both.
    """

    kind: QueryKind
    digits: str
    text: str
    maybe_lid: bool = False

    @property
    def label(self) -> str:
        """A short human description of what was understood."""
        if self.kind is QueryKind.LID:
            return f"LID {self.digits}@lid"
        if self.kind is QueryKind.NUMBER:
            return f"number +{self.digits}"
        if self.kind is QueryKind.PARTIAL:
            return f"partial digits {self.digits}"
        if self.kind is QueryKind.NOT_PERSONAL:
            return "a group, channel or broadcast, not a person"
        if self.kind is QueryKind.EMPTY:
            return "nothing typed yet"
        return "not a number or a LID"


def is_ascii_digits(text: str) -> bool:
    """True for a non-empty string of ASCII digits (``str.isdigit`` also accepts '²', '٣'...)."""
    return text.isascii() and text.isdigit()


def is_digit_strings(items: list[str]) -> bool:
    """True when every item is a str of ASCII digits (empty allowed), checked in C speed.

    ``"".join`` raises TypeError on a non-string; one ``isdigit`` over the joined text
    replaces a million Python-level checks.
    """
    try:
        joined = "".join(items)
    except TypeError:
        return False
    return not joined or (joined.isascii() and joined.isdigit())


def _clean(text: str) -> str:
    """Strip surrounding whitespace and invisible format characters (fast for ASCII text)."""
    text = text.strip()
    if not text.isascii():
        text = _INVISIBLE.sub("", text).strip()
    return text


def parse_jid(text: str) -> Jid:
    """Parse ``user[_agent|.agent][:device]@server`` and drop the agent and device suffixes."""
    text = _clean(text)
    if len(text) > _MAX_INPUT or "@" not in text:
        raise IdentityError(f"not a JID: {_preview(text)}")
    user, _, server = text.rpartition("@")
    server = server.lower()
    user = user.split(":", 1)[0]
    if server not in NOT_PERSONAL_SERVERS:
        user = re.split(r"[_.]", user, maxsplit=1)[0]
    if not user or not server:
        raise IdentityError(f"not a JID: {_preview(text)}")
    return Jid(user=user, server=server)


def lid_digits(text: str) -> str:
    """The digits of a LID given as ``123@lid``, ``123:7@lid`` or bare digits."""
    raw = _clean(text)
    if len(raw) > _MAX_INPUT:
        raise IdentityError("not a LID: the text is too long")
    if "@" in raw:
        jid = parse_jid(raw)
        if not jid.is_lid:
            raise IdentityError(f"not a LID: {_preview(raw)} is a {jid.server} address")
        raw = jid.user
    elif ":" in raw:
        raw, _, device = raw.partition(":")
        if not is_ascii_digits(device):
            raise IdentityError(f"not a LID: {_preview(_clean(text))} has a bad device suffix")
    if not is_ascii_digits(raw):
        raise IdentityError(f"not a LID: {_preview(_clean(text))} is not digits")
    raw = raw.lstrip("0") or "0"
    if not MIN_LID_DIGITS <= len(raw) <= MAX_LID_DIGITS:
        raise IdentityError(f"not a LID: {len(raw)} digits is not a LID's length")
    return raw


def normalize_lid(text: str) -> str:
    """``<digits>@lid`` for any LID form (device suffix dropped)."""
    return f"{lid_digits(text)}@lid"


def number_digits(text: str) -> str:
    """The digits of a phone number typed in any common form, or given as a number JID.

    Drops ``+``, a leading international ``00``, spaces, dots, dashes and brackets.
    A LID or a group address is refused: it is not a phone number.
    """
    raw = _clean(text)
    if len(raw) > _MAX_INPUT:
        raise IdentityError("not a phone number: the text is too long")
    if "@" in raw:
        jid = parse_jid(raw)
        if jid.is_lid:
            raise IdentityError("a LID is not a phone number and cannot be turned into one")
        if not jid.is_number:
            raise IdentityError(f"not a phone number: {_preview(raw)} is a {jid.server} address")
        raw = jid.user
    digits = _NUMBER_PUNCTUATION.sub("", raw)
    if digits.startswith("+"):
        digits = digits[1:]
    elif digits.startswith("00"):
        digits = digits[2:]
    if not is_ascii_digits(digits):
        raise IdentityError(f"not a phone number: {_preview(raw)}")
    if not MIN_NUMBER_DIGITS <= len(digits) <= MAX_NUMBER_DIGITS:
        raise IdentityError(f"not a phone number: {len(digits)} digits")
    if digits[0] == "0":
        raise IdentityError("not an international number: add the country code")
    return digits


def classify(text: str) -> Query:
    """Understand what a person typed: a LID, a full number, or partial digits."""
    stripped = _clean(text)
    if not stripped:
        return Query(QueryKind.EMPTY, "", text)
    if len(stripped) > _MAX_INPUT:
        return Query(QueryKind.INVALID, "", text)
    if "@" in stripped:
        try:
            jid = parse_jid(stripped)
        except IdentityError:
            return Query(QueryKind.INVALID, "", text)
        if not jid.is_personal:
            return Query(QueryKind.NOT_PERSONAL, "", text)
        try:
            if jid.is_lid:
                return Query(QueryKind.LID, lid_digits(stripped), text)
            if jid.is_number:
                return Query(QueryKind.NUMBER, number_digits(stripped), text)
        except IdentityError:
            return Query(QueryKind.INVALID, "", text)
        return Query(QueryKind.INVALID, "", text)

    bare = stripped.split(":", 1)[0] if ":" in stripped else stripped
    if is_ascii_digits(bare) and ":" in stripped:
        # "123456789012345:7" is a LID with a device suffix.
        try:
            return Query(QueryKind.LID, lid_digits(stripped), text)
        except IdentityError:
            return Query(QueryKind.INVALID, "", text)

    explicit_international = stripped.startswith(("+", "00"))
    digits = _NUMBER_PUNCTUATION.sub("", stripped).lstrip("+")
    if not is_ascii_digits(digits):
        return Query(QueryKind.INVALID, "", text)
    if explicit_international:
        try:
            return Query(QueryKind.NUMBER, number_digits(stripped), text)
        except IdentityError:
            return Query(QueryKind.PARTIAL, digits, text)
    # WhatsApp's own form may be invalid to phonenumbers while a dialled variant is valid
    # (Brazil without the ninth digit, Mexico's 521): both are full numbers.
    if any(is_valid_number(variant) for variant in number_variants(digits)):
        maybe_lid = MIN_LID_DIGITS <= len(digits) <= MAX_LID_DIGITS
        return Query(QueryKind.NUMBER, digits, text, maybe_lid=maybe_lid)
    if len(digits) >= 14 and digits[0] != "0" and len(digits) <= MAX_LID_DIGITS:
        return Query(QueryKind.LID, digits, text)
    return Query(QueryKind.PARTIAL, digits, text)


def number_variants(digits: str) -> tuple[str, ...]:
    """The forms a number may take at WhatsApp: itself first, then the alternatives.

    Brazil: mobile numbers with and without the ninth digit (``55 AA 9XXXX-XXXX``).
    Mexico: mobile numbers with and without the ``1`` after the country code.
    """
    variants = [digits]
    if digits.startswith("55"):
        if len(digits) == 13 and digits[4] == "9":
            variants.append(digits[:4] + digits[5:])
        elif len(digits) == 12 and digits[4] in "6789":
            variants.append(digits[:4] + "9" + digits[4:])
    elif digits.startswith("52"):
        if len(digits) == 13 and digits[2] == "1":
            variants.append("52" + digits[3:])
        elif len(digits) == 12:
            variants.append("521" + digits[2:])
    return tuple(variants)


@lru_cache(maxsize=4096)
def _parse_number(digits: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return None


def is_valid_number(digits: str) -> bool:
    """True when ``digits`` is a valid international number by phonenumbers' metadata."""
    parsed = _parse_number(digits)
    return parsed is not None and phonenumbers.is_valid_number(parsed)


_LINE_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE: "mobile",
    phonenumbers.PhoneNumberType.FIXED_LINE: "fixed line",
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed line or mobile",
    phonenumbers.PhoneNumberType.TOLL_FREE: "toll free",
    phonenumbers.PhoneNumberType.PREMIUM_RATE: "premium rate",
    phonenumbers.PhoneNumberType.SHARED_COST: "shared cost",
    phonenumbers.PhoneNumberType.VOIP: "VoIP",
    phonenumbers.PhoneNumberType.PERSONAL_NUMBER: "personal",
    phonenumbers.PhoneNumberType.PAGER: "pager",
    phonenumbers.PhoneNumberType.UAN: "UAN",
    phonenumbers.PhoneNumberType.VOICEMAIL: "voicemail",
}


@dataclass(frozen=True, slots=True)
class NumberInfo:
    """How to show a number: international format, region and line type."""

    digits: str
    international: str
    region: str  # ISO 3166 code, "" when unknown
    valid: bool
    line_type: str

    @property
    def country(self) -> str:
        """The country's English name, or its region code when the table has none."""
        return REGION_NAMES.get(self.region, self.region)


@lru_cache(maxsize=4096)
def describe_number(digits: str) -> NumberInfo:
    """Display facts about a stored number. Never raises: unknown numbers show as ``+digits``."""
    parsed = _parse_number(digits)
    if parsed is None:
        return NumberInfo(digits, f"+{digits}", "", False, "unknown")
    valid = phonenumbers.is_valid_number(parsed)
    international = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    region = phonenumbers.region_code_for_number(parsed) or ""
    line_type = _LINE_TYPES.get(phonenumbers.number_type(parsed), "unknown") if valid else "unknown"
    return NumberInfo(digits, international, region, valid, line_type)


def chat_jids(digits: str) -> tuple[str, str]:
    """The two JID dialects for a number: ``@c.us`` and ``@s.whatsapp.net``."""
    return f"{digits}@c.us", f"{digits}@s.whatsapp.net"


def mask_digits(text: str, keep: int = 3) -> str:
    """Replace every digit but the last ``keep`` with a bullet, keeping the punctuation."""
    total = sum(ch.isdigit() for ch in text)
    seen = 0
    out = []
    for ch in text:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > total - keep else "•")
        else:
            out.append(ch)
    return "".join(out)


def _preview(text: str, limit: int = 40) -> str:
    """A short, printable rendering of untrusted text for error messages."""
    shown = "".join(ch if ch.isprintable() else "?" for ch in text[:limit])
    return repr(shown + ("…" if len(text) > limit else ""))
