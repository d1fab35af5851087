"""The TinyDB cache: layout, merge semantics, history, indexes, locking and recovery."""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import astuple
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from merge_model import merge_documents

from lid_tui.identity import classify
from lid_tui.index import MappingIndex
from lid_tui.storage import CacheBusy, CacheLock
from lid_tui.store import FORMAT_VERSION, MappingStore

T0 = 1_763_800_000
T1 = T0 + 3600

LID_A = "123456789012345"
LID_B = "223456789012345"
LID_C = "323456789012345"
LID_D = "423456789012345"


def refresh(store: MappingStore, rows: dict[str, str | None], *, now: int, complete: bool = True):
    with store.writing():
        return store.apply_refresh(rows, complete=complete, refresh_meta={}, now=now)


@pytest.fixture
def store(cache_path: Path) -> MappingStore:
    store = MappingStore.open(cache_path)
    refresh(
        store,
        {LID_A: "5511987654321", LID_B: None, LID_C: "447911123456"},
        now=T0,
    )
    return store


def test_missing_file_opens_empty_and_is_not_created(cache_path: Path) -> None:
    store = MappingStore.open(cache_path)
    assert len(store) == 0
    assert not cache_path.exists()


def test_file_is_tinydb_layout_keyed_by_lid_digits(store: MappingStore, cache_path: Path) -> None:
    data = orjson.loads(cache_path.read_bytes())
    assert set(data) == {"mappings", "meta"}
    assert data["mappings"][LID_A] == {"n": "5511987654321", "f": T0, "l": T0}
    assert data["mappings"][LID_B] == {"f": T0, "l": T0}  # hidden number: no "n"
    assert data["meta"]["1"]["format"] == FORMAT_VERSION
    assert oct(cache_path.stat().st_mode & 0o777) == "0o600"


def test_first_refresh_counts_and_records(store: MappingStore) -> None:
    record = store.get(LID_A)
    assert record is not None
    assert record.lid == f"{LID_A}@lid"
    assert record.number == "5511987654321"
    assert record.to_json_dict() == {
        "lid": f"{LID_A}@lid",
        "number": "5511987654321",
        "first_seen": "2025-11-22T08:26:40Z",
        "last_seen": "2025-11-22T08:26:40Z",
        "history": [],
    }
    hidden = store.get(LID_B)
    assert hidden is not None and hidden.number is None


def test_second_refresh_changes_moves_and_unlisted(store: MappingStore, cache_path: Path) -> None:
    counts = refresh(
        store,
        {LID_A: "5511987654322", LID_D: "447911123456", LID_B: None},
        now=T1,
    )
    assert (counts.added, counts.changed, counts.unchanged, counts.not_listed) == (1, 1, 1, 1)

    changed = store.get(LID_A)
    assert changed is not None and changed.number == "5511987654322"
    assert [(e.event, e.previous_number, e.number) for e in changed.history] == [
        ("number_changed", "5511987654321", "5511987654322")
    ]
    # A re-registration: the number moved from LID_C to LID_D; both keep the story.
    moved_in = store.get(LID_D)
    assert moved_in is not None
    assert [(e.event, e.other_lid) for e in moved_in.history] == [
        ("number_moved_in", f"{LID_C}@lid")
    ]
    old = store.get(LID_C)
    assert old is not None and not old.listed
    assert old.history[-1].event == "number_moved_out"
    # The number now resolves to the LID that holds it.
    found = store.lookup(classify("+44 7911 123456"))
    assert found is not None and found.lid == f"{LID_D}@lid"
    # Unchanged LIDs get a new last_seen, keep their first_seen.
    hidden = store.get(LID_B)
    assert hidden is not None
    assert hidden.first_seen.timestamp() == T0 and hidden.last_seen.timestamp() == T1
    # Nothing was deleted, and a reopened store sees the same.
    reopened = MappingStore.open(cache_path)
    assert len(reopened) == 4
    assert reopened.get(LID_C) is not None


def test_incomplete_refresh_marks_nothing_unlisted(store: MappingStore) -> None:
    counts = refresh(store, {LID_A: "5511987654321"}, now=T1, complete=False)
    assert counts.not_listed == 0
    assert all(store.get(lid).listed for lid in (LID_A, LID_B, LID_C))  # type: ignore[union-attr]
    assert store.last_refresh is not None and not store.last_refresh.complete


def test_hidden_number_never_erases_a_known_one(store: MappingStore) -> None:
    refresh(store, {LID_A: None, LID_B: None, LID_C: "447911123456"}, now=T1)
    record = store.get(LID_A)
    assert record is not None and record.number == "5511987654321"
    assert record.history == []


def test_lookup_forms(store: MappingStore) -> None:
    for text in (
        "+55 (11) 98765-4321",
        "5511987654321@c.us",
        "5511987654321@s.whatsapp.net",
        "5511987654321:12@s.whatsapp.net",
        f"{LID_A}@lid",
        f"{LID_A}:7@lid",
        LID_A,
        "+55 11 8765-4321",  # Brazil without the ninth digit
    ):
        found = store.lookup(classify(text))
        assert found is not None, text
        assert found.lid == f"{LID_A}@lid", text


def test_partial_search_matches_lids_and_numbers_once(store: MappingStore) -> None:
    hits = [record.lid for record in store.search(classify("2345678901234"))]
    assert hits == [f"{LID_A}@lid", f"{LID_B}@lid", f"{LID_C}@lid"]
    by_number = store.search(classify("7911"))
    assert [record.lid for record in by_number] == [f"{LID_C}@lid"]
    assert store.search(classify("2345"), limit=2)[1].lid == f"{LID_B}@lid"
    assert len(store.search(classify("2345"), limit=2)) == 2
    assert store.search(classify("000000")) == []


def test_exact_match_comes_first(store: MappingStore) -> None:
    rows = store.matching_rows(classify(f"{LID_C}@lid"))
    assert store.index.row(rows[0]).lid == LID_C


def test_pages_are_built_on_demand(store: MappingStore) -> None:
    rows = store.rows(1, 10)
    assert [row.lid for row in rows] == [LID_B, LID_C]
    assert rows[0].number is None and rows[1].number == "447911123456"


def test_writes_need_the_lock(store: MappingStore) -> None:
    with pytest.raises(RuntimeError):
        store.apply_refresh({LID_A: None}, complete=False, refresh_meta={})


def test_second_writer_is_refused_with_owner(store: MappingStore, cache_path: Path) -> None:
    other = MappingStore.open(cache_path)
    with store.writing("lid-tui sync"), pytest.raises(CacheBusy) as busy:
        other.lock.acquire()
    assert str(os.getpid()) in str(busy.value)
    assert "lid-tui sync" in str(busy.value)
    # Released: the other process can now write.
    with other.writing():
        pass


def test_writer_rereads_a_file_replaced_by_another_process(
    store: MappingStore, cache_path: Path
) -> None:
    other = MappingStore.open(cache_path)
    refresh(other, {LID_D: "4915123456789"}, now=T1, complete=False)
    assert store.changed_on_disk()
    # store's next write must start from the other process's generation: no lost update.
    refresh(store, {LID_A: "5511987654321"}, now=T1 + 1, complete=False)
    final = MappingStore.open(cache_path)
    assert final.get(LID_D) is not None
    assert len(final) == 4


def test_lock_of_a_dead_holder_is_reclaimed(cache_path: Path) -> None:
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    lock = CacheLock(cache_path)
    # A stale owner record from a killed process does not block anyone: the OS lock is free.
    lock.owner_path.write_text(json.dumps({"pid": 999999, "command": "lid-tui sync"}))
    lock.acquire()
    assert lock.is_held
    lock.release()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"mappings": {"1234', "not valid JSON"),
        (bytes(range(256)) * 4, "not valid JSON"),
        (b"[1, 2, 3]", "not a lid-tui cache"),
        (b'{"mappings": [1, 2]}', "unexpected tables"),
        (b'{"mappings": {"12345678901": {"n": 5}}, "meta": {"1": {"format": 1}}}', "malformed"),
        (b'{"mappings": {"abc": {"f": 1, "l": 1}}, "meta": {"1": {"format": 1}}}', "not a LID"),
        (b'{"mappings": {}, "meta": {"1": {"format": 99}}}', "newer lid-tui"),
    ],
)
def test_broken_files_are_moved_aside(cache_path: Path, content: bytes, reason: str) -> None:
    cache_path.parent.mkdir(parents=True)
    cache_path.write_bytes(content)
    store = MappingStore.open(cache_path)
    assert len(store) == 0
    assert store.recovery is not None
    assert reason in store.recovery.reason
    assert store.recovery.moved_to.read_bytes() == content  # kept, never deleted
    assert not cache_path.exists()
    # ... and the empty cache works.
    refresh(store, {LID_A: "5511987654321"}, now=T0)
    assert MappingStore.open(cache_path).get(LID_A) is not None


def test_export_dicts_follow_the_contract(store: MappingStore) -> None:
    records = list(store.iter_record_dicts())
    assert [set(r) for r in records] == [
        {"lid", "number", "first_seen", "last_seen", "history"}
    ] * 3
    assert records[1]["number"] is None


def test_open_uses_the_saved_index_without_parsing_the_file(
    store: MappingStore, cache_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert store.index_path.exists()

    def parse_refused(self: MappingStore) -> None:
        raise AssertionError("the file of record was parsed although the index matched")

    monkeypatch.setattr(MappingStore, "_read_documents", parse_refused)
    reopened = MappingStore.open(cache_path)
    assert len(reopened) == 3
    assert reopened.lookup(classify("+55 11 98765-4321")) is not None
    assert reopened.last_refresh is not None


@pytest.mark.parametrize("damage", ["garbage", "truncated", "stale"])
def test_a_saved_index_that_does_not_match_is_rebuilt(
    store: MappingStore, cache_path: Path, damage: str
) -> None:
    saved = store.index_path.read_bytes()
    if damage == "garbage":
        store.index_path.write_bytes(b"not an index at all")
    elif damage == "truncated":
        store.index_path.write_bytes(saved[: len(saved) // 2])
    else:  # the file of record changed behind the index's back (e.g. a crash between writes)
        other = MappingStore.open(cache_path)
        refresh(other, {LID_D: "4915123456789"}, now=T1, complete=False)
        store.index_path.write_bytes(saved)
    reopened = MappingStore.open(cache_path)
    assert reopened.recovery is None
    assert len(reopened) == (4 if damage == "stale" else 3)
    assert reopened.get(LID_A) is not None
    # ... and the rebuilt index was saved for the next open, made from the file as it is now.
    from lid_tui.index import MappingIndex
    from lid_tui.storage import FileSignature

    index, extra = MappingIndex.from_bytes(store.index_path.read_bytes())
    assert len(index) == len(reopened)
    assert extra["signature"] == list(astuple(FileSignature.of(cache_path)))


def test_saved_index_round_trips_every_column(store: MappingStore) -> None:
    from lid_tui.index import MappingIndex

    refresh(store, {LID_A: "5511987654322", LID_D: "447911123456"}, now=T1)
    index, extra = MappingIndex.from_bytes(store.index.to_bytes({"k": 1}))
    assert extra == {"k": 1}
    assert [index.record_dict(r, with_listed=True) for r in range(len(index))] == [
        store.index.record_dict(r, with_listed=True) for r in range(len(store.index))
    ]
    assert index.row_of_number("447911123456") == store.index.row_of_number("447911123456")


def test_moving_a_broken_file_aside_drops_its_index(cache_path: Path) -> None:
    store = MappingStore.open(cache_path)
    refresh(store, {LID_A: "5511987654321"}, now=T0)
    cache_path.write_bytes(b"{broken")
    reopened = MappingStore.open(cache_path)
    assert reopened.recovery is not None and len(reopened) == 0
    assert not reopened.index_path.exists()


# -- the index patched after a merge equals one built afresh ---------------------------------

BASE_LIDS = [f"3{i:014d}" for i in range(200)]
NUMBER_POOL = [
    f"55119{i:08d}" if i % 3 else f"447{i:08d}" for i in range(230)
]  # moves, lengths vary


def canonical(index: MappingIndex) -> tuple[object, ...]:
    """Everything an index answers, independent of the order of equal keys."""
    numbers = sorted({row.number for row in index.iter_rows() if row.number})
    return (
        [index.record_dict(row, with_listed=True) for row in range(len(index))],
        [index.row_of_lid(row.lid) for row in index.iter_rows()],
        [index.row_of_number(number) for number in numbers],
        sorted(zip(index._num_keys, index._num_rows, strict=True)),
        list(zip(index._lid_keys, index._lid_rows, strict=True)),
    )


refresh_step = st.tuples(
    st.dictionaries(  # LIDs listed with a new number (or hidden)
        st.sampled_from(BASE_LIDS + [f"4{i:014d}" for i in range(20)]),
        st.one_of(st.none(), st.sampled_from(NUMBER_POOL)),
        max_size=40,  # over an eighth of the rows: the arrays are sorted afresh
    ),
    st.sets(st.sampled_from(BASE_LIDS), max_size=5),  # LIDs missing from the listing
    st.booleans(),  # complete
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(refresh_step, min_size=1, max_size=4))
def test_merge_writes_what_the_document_model_gives_and_the_index_matches_the_file(
    tmp_path: Path, steps: list[Any]
) -> None:
    check_refreshes(tmp_path, steps)


def test_a_large_change_sorts_the_arrays_afresh_and_agrees(tmp_path: Path) -> None:
    renumbered = {lid: NUMBER_POOL[-1 - i] for i, lid in enumerate(BASE_LIDS[:60])}
    added = {f"4{i:014d}": NUMBER_POOL[i] for i in range(5)}
    check_refreshes(tmp_path, [({**renumbered, **added}, set(BASE_LIDS[-3:]), True)])


def check_refreshes(tmp_path: Path, steps: list[Any]) -> None:
    """After each refresh: the file holds exactly what the rules give applied document by
    document, and the index merged in memory answers like one built afresh from that file."""
    path = tmp_path / f"cache-{uuid.uuid4().hex}.json"
    store = MappingStore.open(path)
    model: dict[str, dict[str, Any]] = {}
    listing: dict[str, str | None] = dict(zip(BASE_LIDS, NUMBER_POOL, strict=False))
    for step, (changes, missing, complete) in enumerate([({}, set(), True), *steps]):
        listing.update(changes)
        shown = {lid: number for lid, number in listing.items() if lid not in missing}
        now = T0 + step * 60
        counts = refresh(store, shown, now=now, complete=complete)
        expected = merge_documents(model, shown, complete=complete, now=now)
        assert astuple(counts) == expected
        docs = orjson.loads(path.read_bytes())["mappings"]
        assert list(docs.items()) == list(model.items())
        assert canonical(store.index) == canonical(MappingIndex.build(docs))
    assert canonical(MappingStore.open(path).index) == canonical(store.index)


def test_table_written_in_pieces_is_one_json_object(store: MappingStore, cache_path: Path) -> None:
    refresh(store, {LID_A: "5511987654322", LID_D: "447911123456"}, now=T1)  # history, unlisted
    whole = orjson.loads(cache_path.read_bytes())["mappings"]
    for rows_per_chunk in (1, 2, 3, 50_000):
        pieces = b"".join(store.index.table_json_chunks(rows_per_chunk))
        assert list(orjson.loads(pieces).items()) == list(whole.items())
    assert whole[LID_B] == {"f": T0, "l": T0, "x": 1}  # hidden number: no "n"
    assert whole[LID_C]["h"] and whole[LID_D]["h"]


@settings(max_examples=200, deadline=None)
@given(
    short=st.text("0123456789", min_size=1, max_size=3),
    before=st.text("0123456789", max_size=2),
    after=st.text("0123456789", max_size=2),
    limit=st.one_of(st.none(), st.integers(1, 40)),
)
def test_a_longer_query_narrowing_a_scan_finds_what_a_full_scan_finds(
    short: str, before: str, after: str, limit: int | None
) -> None:
    docs = {
        lid: {"n": number, "f": T0, "l": T0}
        for lid, number in zip(BASE_LIDS, NUMBER_POOL, strict=False)
    }
    index = MappingIndex.build(docs)
    previous = index.scan(short, limit)
    longer = before + short + after
    assert index.scan(longer, limit, previous) == index.scan(longer, limit)
    assert previous.complete == (len(index.scan(short).rows) == len(previous.rows))


def test_narrowing_checks_only_the_previous_rows(store: MappingStore) -> None:
    index = store.index
    previous = index.scan("55119876")
    assert previous.complete and len(previous.rows) == 1
    narrowed = index.scan("551198765", previous=previous._replace(rows=[]))
    assert narrowed.rows == []  # the blob was not scanned again
    other = MappingIndex.build({LID_A: {"n": "5511987654321", "f": T0, "l": T0}})
    assert index.scan("551198765", previous=other.scan("55119876")).rows == previous.rows
