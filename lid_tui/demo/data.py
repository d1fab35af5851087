"""A deterministic, realistic set of LID ↔ number mappings for the demo provider.

Nothing is stored per row: row ``i`` is computed from the seed and ``i`` with bijective
arithmetic, so a million rows cost no memory and uniqueness holds by construction:

- a *LID serial* ``s`` becomes a LID through a mixing permutation of ``[0, 2**49)`` (multiply by
  an odd constant, xor-shift, twice), offset by ``10**13``: 14 or 15 digits, never repeated;
- a *number serial* ``s`` picks a template (a country prefix known to accept any suffix in a
  range, checked by the tests with ``phonenumbers``) by hashing ``s``, then an affine
  permutation of the template's suffix range. Two serials give the same number only if they
  are equal modulo the range, and every serial stays below the smallest range.

Initially row ``i`` has LID serial ``i`` and number serial ``i`` (or no number, for about 5% of
rows). Each later *generation* records a few changes (a new number for a LID, a new LID for a
number, new rows at the end) as small per-position overrides, so history can be demonstrated.
Numbers never need ``phonenumbers`` at run time: it costs ~60 µs a call.
"""

from __future__ import annotations

import random
import threading
from bisect import bisect_left
from dataclasses import dataclass
from math import gcd
from typing import NamedTuple

Row = tuple[str, str | None]

# (region, weight in percent, suffix digits, lowest suffix, prefixes = country code + leading
# digits). Every prefix accepts every suffix in [lowest, 10**digits): tests/test_demo_data.py
# checks that with phonenumbers. Heavier weights where WhatsApp is most used.
_COUNTRY_TEMPLATES: tuple[tuple[str, int, int, int, tuple[str, ...]], ...] = (
    (
        "BR",
        20,
        8,
        0,
        tuple(
            f"55{area}9"
            for area in ("11", "21", "31", "41", "51", "61", "71", "81", "85", "19", "27", "48")
        ),
    ),
    ("IN", 18, 8, 0, ("9198", "9199", "9197", "9196", "9194", "9190", "9188", "9181", "9170")),
    ("ID", 13, 8, 0, ("62812", "62813", "62821", "62852", "62857", "62878", "62896", "62819")),
    ("MX", 9, 8, 2 * 10**7, ("5255", "5233", "5281")),
    ("US", 6, 7, 2 * 10**6, ("1212", "1415", "1305", "1312", "1646", "1713", "1617", "1206")),
    ("NG", 4, 7, 0, ("234803", "234806", "234813", "234703", "234905", "234812")),
    ("PK", 3, 7, 0, ("92300", "92301", "92321", "92333", "92345")),
    ("PH", 3, 7, 0, ("63917", "63918", "63905", "63927", "63995")),
    ("EG", 3, 8, 0, ("2010", "2011", "2012")),
    ("AR", 3, 7, 0, ("549112", "549115", "549116")),
    ("CO", 3, 7, 0, ("57300", "57310", "57312", "57315", "57320")),
    ("ES", 3, 8, 0, ("346",)),
    ("DE", 2, 8, 0, ("49151", "49160", "49170", "49176")),
    ("GB", 2, 8, 0, ("4475", "4478", "4474")),
    ("IT", 2, 8, 0, ("3932", "3933", "3934", "3939")),
    ("FR", 2, 7, 0, ("3360", "3361", "3366", "3376")),
    ("ZA", 2, 7, 0, ("2782", "2783", "2784", "2772")),
)

_SLOT_BITS = 10
_SLOTS = 1 << _SLOT_BITS
_SLOT_SHIFT = 64 - _SLOT_BITS  # the top bits of a 64-bit hash pick a template slot
_MASK64 = (1 << 64) - 1
_GOLDEN64 = 0x9E3779B97F4A7C15  # odd multiplier whose products have well spread high bits
_HIDE_BITS = 1023  # bits 20..29 of the same hash decide whether the owner hides the number
_HIDDEN_BELOW = 51  # 51/1024: about 5% of owners hide their number

#: A LID is 10**13 + a permutation of [0, 2**49) (2**49 ≈ 5.6e14): 14 or 15 digits.
_LID_LOW = 10**13
_LID_MASK = (1 << 49) - 1
#: LID serials from here on are never used by generations; they serve :meth:`spare_rows`.
_SPARE_LID_SERIAL = 1 << 48

#: Number serials must stay below every template's suffix range (the smallest is 8 * 10**6).
_NUMBER_SERIAL_CAP = 7_800_000
_SPARE_NUMBER_SERIALS = 190_000  # [cap, cap + this) serve spare_rows
MAX_SIZE = 5_000_000

CHANGE_RATE = 0.002  # "a few" changes per generation, per kind


class NumberTemplate(NamedTuple):
    """Numbers ``prefix`` + a suffix in ``[low, 10**digits)``, all valid for ``region``."""

    region: str
    prefix: str
    digits: int
    low: int


def number_templates() -> list[NumberTemplate]:
    """Every template the data set draws numbers from (the tests check them)."""
    return [
        NumberTemplate(region, prefix, digits, low)
        for region, _weight, digits, low, prefixes in _COUNTRY_TEMPLATES
        for prefix in prefixes
    ]


class NumberChange(NamedTuple):
    """A LID's owner now has another number; the LID stays."""

    lid: str
    old_number: str
    new_number: str


class Reregistration(NamedTuple):
    """A number was registered again and got a new LID; the old LID leaves the list."""

    number: str
    old_lid: str
    new_lid: str


@dataclass(frozen=True, slots=True)
class GenerationChanges:
    """What differs between ``generation - 1`` and ``generation`` (empty for generation 0)."""

    generation: int
    number_changes: tuple[NumberChange, ...] = ()
    reregistrations: tuple[Reregistration, ...] = ()
    added: tuple[Row, ...] = ()


@dataclass(frozen=True, slots=True)
class _Generation:
    total: int
    next_lid_serial: int
    next_number_serial: int
    changes: GenerationChanges


class _Template(NamedTuple):
    """A template with its permutation parameters: number = base + (mult * s + add) % span."""

    base: int  # int(prefix) * 10**digits + low
    mult: int
    add: int
    span: int
    inverse: int
    spec: NumberTemplate


class DemoDataset:
    """``size`` mappings derived from ``seed``, plus a history of small changes per generation.

    Thread-safe: generations are built lazily under a lock; reading rows never blocks.
    """

    def __init__(self, size: int = 5000, seed: int = 7, change_rate: float = CHANGE_RATE) -> None:
        """``change_rate``: the share of rows touched per generation, for each kind of change
        (number changes, re-registrations, new rows)."""
        if not 0 <= size <= MAX_SIZE:
            raise ValueError(f"size must be between 0 and {MAX_SIZE}")
        if not 0 <= change_rate <= 0.1:
            raise ValueError("change_rate must be between 0 and 0.1")
        self.size = size
        self.seed = seed
        rng = random.Random(seed)
        self._lid_offset = rng.getrandbits(49)
        self._lid_mult1 = rng.getrandbits(49) | 1  # odd: a bijection modulo 2**49
        self._lid_mult2 = rng.getrandbits(49) | 1
        self._number_hash_offset = rng.getrandbits(64)
        self._templates: list[_Template] = []
        for spec in number_templates():
            span = 10**spec.digits - spec.low
            mult = _coprime(rng, span)
            self._templates.append(
                _Template(
                    base=int(spec.prefix) * 10**spec.digits + spec.low,
                    mult=mult,
                    add=rng.randrange(span),
                    span=span,
                    inverse=pow(mult, -1, span),
                    spec=spec,
                )
            )
        self._slots = self._template_slots(rng)
        #: The same table as plain tuples (base, mult, add, span): faster to index in bulk.
        self._slot_params = [(t.base, t.mult, t.add, t.span) for t in self._slots]
        self._by_prefix = {t.spec.prefix: t for t in self._templates}
        self._prefix_lengths = sorted({len(prefix) for prefix in self._by_prefix})
        self.changes_per_kind = max(3, round(size * change_rate))
        #: position -> versions ``(generation, lid_serial, number_serial)``, oldest first.
        self._versions: dict[int, tuple[tuple[int, int, int | None], ...]] = {}
        #: number serial >= size -> (generation it was given out, position holding it).
        self._number_owner: dict[int, tuple[int, int]] = {}
        #: Sorted positions that have versions; replaced whole, never mutated in place.
        self._changed_positions: tuple[int, ...] = ()
        self._generations = [_Generation(size, size, size, GenerationChanges(0))]
        self._lock = threading.Lock()

    # -- rows -------------------------------------------------------------------------------

    def total(self, generation: int) -> int:
        """How many rows the list has in ``generation``."""
        return self._generation(generation).total

    def rows(self, offset: int, limit: int, generation: int) -> list[Row]:
        """Rows ``offset .. offset + limit - 1`` of ``generation`` as ``(lid_digits, number)``."""
        if offset < 0 or limit < 0:
            raise ValueError("offset and limit must not be negative")
        end = min(offset + limit, self._generation(generation).total)
        positions = range(offset, end)
        # The original rows, computed in bulk: these comprehensions inline _lid() and
        # _number() for serial = position (a function call per row would cost ~25% more).
        lid_offset, lid_mult1, lid_mult2 = self._lid_offset, self._lid_mult1, self._lid_mult2
        mixed = [((p + lid_offset) * lid_mult1) & _LID_MASK for p in positions]
        mixed = [((x ^ (x >> 23)) * lid_mult2) & _LID_MASK for x in mixed]
        lids = [str(_LID_LOW + (x ^ (x >> 26))) for x in mixed]
        slots, hash_offset = self._slot_params, self._number_hash_offset
        numbers = [
            None
            if ((h := (p * _GOLDEN64 + hash_offset) & _MASK64) >> 20) & _HIDE_BITS < _HIDDEN_BELOW
            else str((t := slots[h >> _SLOT_SHIFT])[0] + (t[1] * p + t[2]) % t[3])
            for p in positions
        ]
        rows = list(zip(lids, numbers, strict=True))
        # Then the few rows that changed in some generation.
        changed = self._changed_positions
        for index in range(bisect_left(changed, offset), bisect_left(changed, end)):
            position = changed[index]
            lid_serial, number_serial = self._state(position, generation)
            rows[position - offset] = (self._lid(lid_serial), self._number(number_serial))
        return rows

    def all_rows(self, generation: int) -> list[Row]:
        """Every row of ``generation``, in list order."""
        return self.rows(0, self.total(generation), generation)

    def lookup_number(self, number: str, generation: int) -> str | None:
        """The LID digits holding ``number`` (WhatsApp digits) in ``generation``, or None."""
        gen = self._generation(generation)
        serial = self._number_serial(number)
        if serial is None or serial >= gen.next_number_serial:
            return None
        if serial < self.size:
            position = serial
        else:
            owner = self._number_owner.get(serial)
            if owner is None or owner[0] > generation:
                return None
            position = owner[1]
        lid_serial, number_serial = self._state(position, generation)
        return self._lid(lid_serial) if number_serial == serial else None

    def changes(self, generation: int) -> GenerationChanges:
        """What ``generation`` changed compared with the one before it."""
        return self._generation(generation).changes

    def spare_rows(self, start: int, count: int) -> list[Row]:
        """Rows that belong to no generation, unique and never in :meth:`rows`.

        For a server that simulates a list growing under a client's feet. Row ``start + k``
        is always the same row.
        """
        if start < 0 or start + count > _SPARE_NUMBER_SERIALS:
            raise ValueError("no spare rows left")
        return [
            (
                self._lid(_SPARE_LID_SERIAL + k),
                self._number(_NUMBER_SERIAL_CAP + k),
            )
            for k in range(start, start + count)
        ]

    # -- generations ------------------------------------------------------------------------

    def _generation(self, generation: int) -> _Generation:
        if generation < 0:
            raise ValueError("generation must not be negative")
        generations = self._generations
        if generation < len(generations):
            return generations[generation]
        with self._lock:
            while len(self._generations) <= generation:
                self._generations.append(self._build_generation(len(self._generations)))
        return self._generations[generation]

    def _build_generation(self, generation: int) -> _Generation:
        """Derive ``generation`` from the one before: a few number changes, re-registrations
        and new rows, chosen by a generator seeded from (seed, generation)."""
        previous = self._generations[generation - 1]
        rng = random.Random(self.seed * 1_000_003 + generation)
        next_lid, next_number = previous.next_lid_serial, previous.next_number_serial
        wanted = self.changes_per_kind
        if next_number + 2 * wanted > _NUMBER_SERIAL_CAP:
            raise RuntimeError("the demo data set ran out of phone numbers")
        chosen: set[int] = set()

        def pick_visible_row() -> tuple[int, int, int] | None:
            """A row of the previous generation that shows a number and is not yet chosen."""
            for _ in range(wanted * 50):
                position = rng.randrange(previous.total)
                if position in chosen:
                    continue
                lid_serial, number_serial = self._state(position, generation - 1)
                if number_serial is not None:
                    chosen.add(position)
                    return position, lid_serial, number_serial
            return None

        number_changes: list[NumberChange] = []
        reregistrations: list[Reregistration] = []
        for _ in range(wanted if previous.total else 0):
            picked = pick_visible_row()
            if picked is None:
                break
            position, lid_serial, number_serial = picked
            self._add_version(position, generation, lid_serial, next_number)
            self._number_owner[next_number] = (generation, position)
            number_changes.append(
                NumberChange(
                    self._lid(lid_serial), self._number(number_serial), self._number(next_number)
                )
            )
            next_number += 1
        for _ in range(wanted if previous.total else 0):
            picked = pick_visible_row()
            if picked is None:
                break
            position, lid_serial, number_serial = picked
            self._add_version(position, generation, next_lid, number_serial)
            reregistrations.append(
                Reregistration(
                    self._number(number_serial), self._lid(lid_serial), self._lid(next_lid)
                )
            )
            next_lid += 1
        added: list[Row] = []
        for position in range(previous.total, previous.total + wanted):
            hidden = rng.randrange(_HIDE_BITS + 1) < _HIDDEN_BELOW
            number_serial = None if hidden else next_number
            self._add_version(position, generation, next_lid, number_serial)
            if number_serial is not None:
                self._number_owner[number_serial] = (generation, position)
                next_number += 1
            added.append((self._lid(next_lid), self._number(number_serial)))
            next_lid += 1
        self._changed_positions = tuple(
            sorted(
                {*self._changed_positions, *chosen, *range(previous.total, previous.total + wanted)}
            )
        )
        return _Generation(
            total=previous.total + wanted,
            next_lid_serial=next_lid,
            next_number_serial=next_number,
            changes=GenerationChanges(
                generation, tuple(number_changes), tuple(reregistrations), tuple(added)
            ),
        )

    def _add_version(
        self, position: int, generation: int, lid_serial: int, number_serial: int | None
    ) -> None:
        # Replace the tuple whole: readers of older generations never see a half-built entry.
        history = self._versions.get(position, ())
        self._versions[position] = (*history, (generation, lid_serial, number_serial))

    # -- serials ----------------------------------------------------------------------------

    def _state(self, position: int, generation: int) -> tuple[int, int | None]:
        """``(lid_serial, number_serial)`` of the row at ``position`` in ``generation``."""
        for version_generation, lid_serial, number_serial in reversed(
            self._versions.get(position, ())
        ):
            if version_generation <= generation:
                return lid_serial, number_serial
        if position >= self.size:
            raise IndexError(f"row {position} does not exist in generation {generation}")
        return position, (None if self._initially_hidden(position) else position)

    def _initially_hidden(self, position: int) -> bool:
        hashed = (position * _GOLDEN64 + self._number_hash_offset) & _MASK64
        return (hashed >> 20) & _HIDE_BITS < _HIDDEN_BELOW

    def _lid(self, serial: int) -> str:
        """LID digits for a serial: a bijection of [0, 2**49) (odd multiply, xor-shift, twice)."""
        mixed = ((serial + self._lid_offset) * self._lid_mult1) & _LID_MASK
        mixed ^= mixed >> 23
        mixed = (mixed * self._lid_mult2) & _LID_MASK
        return str(_LID_LOW + (mixed ^ (mixed >> 26)))

    def _number(self, serial: int | None) -> str | None:
        if serial is None:
            return None
        template = self._template_of(serial)
        return str(template.base + (template.mult * serial + template.add) % template.span)

    def _template_of(self, serial: int) -> _Template:
        hashed = (serial * _GOLDEN64 + self._number_hash_offset) & _MASK64
        return self._slots[hashed >> _SLOT_SHIFT]

    def _number_serial(self, number: str) -> int | None:
        """The serial that produces ``number``, found by inverting the template's permutation."""
        if not number.isascii() or not number.isdigit():
            return None
        for length in self._prefix_lengths:
            template = self._by_prefix.get(number[:length])
            if template is None or len(number) != length + template.spec.digits:
                continue
            value = int(number[length:]) - template.spec.low
            if not 0 <= value < template.span:
                return None
            serial = (value - template.add) * template.inverse % template.span
            if serial >= _NUMBER_SERIAL_CAP or self._template_of(serial) is not template:
                return None
            return serial
        return None

    def _template_slots(self, rng: random.Random) -> list[_Template]:
        """A shuffled table of ``_SLOTS`` templates, each country taking its weight's share."""
        total_weight = sum(weight for _, weight, _, _, _ in _COUNTRY_TEMPLATES)
        slots: list[_Template] = []
        index = 0
        for _region, weight, _digits, _low, prefixes in _COUNTRY_TEMPLATES:
            share = round(weight * _SLOTS / total_weight)
            country = self._templates[index : index + len(prefixes)]
            slots.extend(country[k % len(country)] for k in range(share))
            index += len(prefixes)
        slots = (slots + slots[: _SLOTS - len(slots)])[:_SLOTS]
        rng.shuffle(slots)
        return slots


def _coprime(rng: random.Random, modulus: int) -> int:
    """A multiplier in the middle of ``[1, modulus)`` that is invertible modulo ``modulus``."""
    while True:
        candidate = rng.randrange(modulus // 5, modulus - modulus // 5)
        if gcd(candidate, modulus) == 1:
            return candidate
