"""The demo data set: deterministic, unique, valid numbers, realistic, with visible history."""

from __future__ import annotations

import collections
import hashlib
import os
import random
import subprocess
import sys
from pathlib import Path

import phonenumbers
import pytest

from lid_tui.demo.data import DemoDataset, number_templates


def _region(number: str) -> str | None:
    parsed = phonenumbers.parse("+" + number)
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.region_code_for_number(parsed)


def _digest(rows: list[tuple[str, str | None]]) -> str:
    text = "\n".join(f"{lid},{number}" for lid, number in rows)
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(scope="module")
def dataset() -> DemoDataset:
    return DemoDataset(size=20_000, seed=7)


@pytest.fixture(scope="module")
def rows(dataset: DemoDataset) -> list[tuple[str, str | None]]:
    return dataset.all_rows(0)


def test_same_size_and_seed_give_the_same_rows() -> None:
    assert DemoDataset(3000, 7).all_rows(0) == DemoDataset(3000, 7).all_rows(0)
    assert DemoDataset(3000, 7).all_rows(0) != DemoDataset(3000, 8).all_rows(0)


def test_rows_are_the_same_in_another_process_with_another_hash_seed() -> None:
    """Python's str hash changes per process; the data set must not depend on it."""
    code = (
        "import hashlib\n"
        "from lid_tui.demo.data import DemoDataset\n"
        "d = DemoDataset(2000, 11)\n"
        "rows = d.all_rows(2)\n"
        "text = '\\n'.join(f'{lid},{number}' for lid, number in rows)\n"
        "print(hashlib.sha256(text.encode()).hexdigest())\n"
    )
    repository = str(Path(__file__).resolve().parents[1])
    environment = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": repository}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=True
    )
    assert result.stdout.strip() == _digest(DemoDataset(2000, 11).all_rows(2))


def test_pages_are_slices_of_the_whole_list(dataset: DemoDataset, rows: list) -> None:
    assert len(rows) == dataset.total(0) == 20_000
    for offset, limit in [(0, 1), (0, 1000), (999, 7), (19_990, 100), (5_000, 0)]:
        assert dataset.rows(offset, limit, 0) == rows[offset : offset + limit]
    assert dataset.rows(20_000, 100, 0) == []
    assert dataset.rows(50_000, 100, 0) == []
    with pytest.raises(ValueError):
        dataset.rows(-1, 10, 0)


def test_lids_are_unique_long_digit_strings_unlike_the_numbers(rows: list) -> None:
    lids = [lid for lid, _ in rows]
    assert len(set(lids)) == len(lids)
    for lid, number in rows:
        assert lid.isdigit() and lid[0] != "0"
        assert 14 <= len(lid) <= 15
        if number is not None:
            assert number not in lid and lid not in number
    assert {len(lid) for lid in lids} == {14, 15}


def test_numbers_are_unique_digits(rows: list) -> None:
    numbers = [number for _, number in rows if number is not None]
    assert len(set(numbers)) == len(numbers)
    assert all(number.isascii() and number.isdigit() for number in numbers)


def test_about_five_percent_hide_their_number(rows: list) -> None:
    hidden = sum(number is None for _, number in rows) / len(rows)
    assert 0.04 <= hidden <= 0.06


def test_a_sample_of_numbers_is_valid_from_many_countries_with_a_realistic_skew(
    rows: list,
) -> None:
    sample = [number for _, number in rows[::5] if number is not None]
    assert len(sample) >= 3000
    regions = collections.Counter(_region(number) for number in sample)
    assert regions[None] == 0, "every number must be valid for its country"
    assert len(regions) >= 10
    heavy = ("BR", "IN", "ID", "MX")
    light = ("DE", "GB", "FR", "IT", "ZA")
    for region in heavy:
        assert regions[region] > max(regions[other] for other in light)
    assert regions["BR"] + regions["IN"] > len(sample) / 4


def test_every_template_accepts_suffixes_across_its_whole_range() -> None:
    """The data set never calls phonenumbers: each template must be valid for any suffix."""
    rng = random.Random(3)
    invalid = []
    for template in number_templates():
        span = 10**template.digits - template.low
        suffixes = [template.low, 10**template.digits - 1]
        suffixes += [
            template.low + (span * k) // 100 + rng.randrange(span // 100) for k in range(100)
        ]
        for suffix in suffixes:
            number = template.prefix + str(suffix).zfill(template.digits)
            if _region(number) is None:
                invalid.append(number)
    assert invalid == []


def test_generations_show_number_changes_reregistrations_and_growth() -> None:
    dataset = DemoDataset(5000, 7)
    before = dict(dataset.all_rows(0))
    changes = dataset.changes(1)
    after = dict(dataset.all_rows(1))
    assert dataset.changes(0).number_changes == ()
    assert len(changes.number_changes) >= 3
    assert len(changes.reregistrations) >= 3
    assert len(changes.added) >= 3
    assert dataset.total(1) == dataset.total(0) + len(changes.added)

    for change in changes.number_changes:
        assert before[change.lid] == change.old_number
        assert after[change.lid] == change.new_number  # the LID keeps its identity
        assert change.old_number not in after.values()
        assert _region(change.new_number) is not None
    for change in changes.reregistrations:
        assert before[change.old_lid] == change.number
        assert change.old_lid not in after  # the old LID left the list
        assert after[change.new_lid] == change.number
        assert change.new_lid not in before
    assert dataset.all_rows(1)[-len(changes.added) :] == list(changes.added)
    # Positions are stable: everything else is where it was.
    assert dataset.all_rows(0) == list(before.items())
    moved = {c.lid for c in changes.number_changes} | {c.old_lid for c in changes.reregistrations}
    same = [old == new for old, new in zip(dataset.all_rows(0), dataset.all_rows(1), strict=False)]
    assert same.count(False) == len(moved)


def test_generations_are_deterministic_and_keep_numbers_unique() -> None:
    first, second = DemoDataset(3000, 5), DemoDataset(3000, 5)
    assert first.changes(3) == second.changes(3)
    assert first.all_rows(3) == second.all_rows(3)
    assert first.changes(1) != first.changes(2)
    rows = first.all_rows(3)
    numbers = [number for _, number in rows if number is not None]
    assert len(set(numbers)) == len(numbers)
    assert len({lid for lid, _ in rows}) == len(rows)


def test_changes_scale_with_size() -> None:
    assert DemoDataset(100, 1).changes_per_kind == 3
    assert DemoDataset(1_000_000, 1).changes_per_kind == 2000
    assert len(DemoDataset(200, 1).changes(1).number_changes) == 3


def test_lookup_number_finds_the_lid_in_each_generation() -> None:
    dataset = DemoDataset(4000, 9)
    for lid, number in dataset.rows(0, 300, 0):
        if number is not None:
            assert dataset.lookup_number(number, 0) == lid
    assert dataset.lookup_number("5511999999999", 0) is None
    assert dataset.lookup_number("not a number", 0) is None
    changes = dataset.changes(1)
    for change in changes.number_changes:
        assert dataset.lookup_number(change.old_number, 0) == change.lid
        assert dataset.lookup_number(change.old_number, 1) is None
        assert dataset.lookup_number(change.new_number, 0) is None
        assert dataset.lookup_number(change.new_number, 1) == change.lid
    for change in changes.reregistrations:
        assert dataset.lookup_number(change.number, 0) == change.old_lid
        assert dataset.lookup_number(change.number, 1) == change.new_lid
    for lid, number in changes.added:
        if number is not None:
            assert dataset.lookup_number(number, 1) == lid


def test_spare_rows_are_valid_and_never_in_the_list() -> None:
    dataset = DemoDataset(2000, 4)
    spare = dataset.spare_rows(0, 50)
    assert spare == dataset.spare_rows(0, 50)
    assert dataset.spare_rows(10, 5) == spare[10:15]
    listed = dict(dataset.all_rows(2))
    assert not {lid for lid, _ in spare} & listed.keys()
    assert not {number for _, number in spare} & set(listed.values())
    assert all(_region(number) is not None for _, number in spare if number)


def test_size_is_checked() -> None:
    with pytest.raises(ValueError):
        DemoDataset(-1)
    assert DemoDataset(0).all_rows(0) == []
    assert DemoDataset(0).total(1) == 3  # even an empty list grows
