"""The mapping cache: a TinyDB file of record with in-memory indexes for every read.

Layout of the file (TinyDB's JSON layout, one document per LID keyed by the LID's digits)::

    {"mappings": {"123456789012345": {"n": "5511987654321", "f": 1763800000, "l": 1763900000}},
     "meta": {"1": {"format": 1, "last_refresh": {...}}}}

``n`` is the number (absent when the owner hides it), ``f``/``l`` first and last seen (epoch
seconds), ``h`` the history (``[epoch, code, number, other]``), ``x`` set when the last complete
refresh did not list the LID. Short keys keep the file under 100 bytes a mapping.

Reads never touch TinyDB's query machinery: they go to a :class:`~lid_tui.index.MappingIndex`.
Writes are batched: a whole refresh is one TinyDB table update and one atomic file write.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import astuple, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from tinydb import TinyDB
from tinydb.middlewares import CachingMiddleware
from tinydb.table import Table

from lid_tui.identity import Query, QueryKind, number_variants
from lid_tui.index import MappingIndex, Row, is_digit_strings
from lid_tui.models import MappingRecord, from_epoch
from lid_tui.storage import (
    AtomicJSONStorage,
    CacheCorrupt,
    CacheLock,
    FileSignature,
    atomic_write_bytes,
)

FORMAT_VERSION = 1
MAPPINGS_TABLE = "mappings"
META_TABLE = "meta"
META_DOC_ID = "1"


class MappingTable(Table):
    """A TinyDB table keyed by LID digits, with one bulk-update entry point.

    Every TinyDB write copies the whole table, so lid-tui makes one call per refresh.
    """

    document_id_class = str

    def apply(self, updater: Any) -> None:
        """Run ``updater(table_dict)`` as a single TinyDB write."""
        self._update_table(updater)

    def _update_table(self, updater: Callable[[dict[str, Any]], None]) -> None:
        """TinyDB's read-update-write, without its two whole-table copies.

        TinyDB copies the table twice per write to turn JSON's string ids into ints and back
        (about 1 s at 1M documents). Our ids are strings in the file and in memory, so the
        table dict can be updated in place.
        """
        tables = self._storage.read() or {}
        table = tables.setdefault(self.name, {})
        updater(table)
        self._storage.write(tables)
        self.clear_cache()


class CacheDB(TinyDB):
    table_class = MappingTable
    default_table_name = MAPPINGS_TABLE


@dataclass(frozen=True, slots=True)
class MergeCounts:
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    not_listed: int = 0
    #: LIDs already cached whose number changed (the index patches their entries).
    renumbered: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RefreshInfo:
    """What the cache remembers of the last refresh that wrote to it."""

    at: datetime
    complete: bool
    error: str | None
    fetched: int
    added: int
    changed: int

    @classmethod
    def from_meta(cls, raw: Mapping[str, Any] | None) -> RefreshInfo | None:
        if not raw:
            return None
        try:
            return cls(
                at=from_epoch(raw["at"]),
                complete=bool(raw.get("complete", True)),
                error=raw.get("error"),
                fetched=int(raw.get("fetched", 0)),
                added=int(raw.get("added", 0)),
                changed=int(raw.get("changed", 0)),
            )
        except (KeyError, TypeError, ValueError, OverflowError, OSError):
            return None


@dataclass(frozen=True, slots=True)
class Recovery:
    """A broken cache file was moved aside; the store started empty."""

    moved_to: Path
    reason: str


class MappingStore:
    """The cache of one instance. Open with :meth:`open`; refresh inside :meth:`writing`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = CacheLock(path)
        self.recovery: Recovery | None = None
        self._db: CacheDB | None = None
        self._storage: CachingMiddleware | None = None
        self._meta: dict[str, Any] = {}
        self._index = MappingIndex.empty()
        self._signature: FileSignature | None = None

    # -- opening ----------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path) -> MappingStore:
        """Open (or create on first write) the cache at ``path`` and build its indexes.

        A file that is not a cache this version can read is moved aside, never deleted;
        :attr:`recovery` then says where it went and why.
        """
        store = cls(Path(path).expanduser())
        store.reload()
        return store

    def reload(self, *, keep_documents: bool = False) -> None:
        """Read the file again and rebuild the indexes (another process may have refreshed)."""
        try:
            self._load(keep_documents=keep_documents)
        except CacheCorrupt as error:
            self.recovery = Recovery(self._move_aside(), str(error))
            self._load(keep_documents=keep_documents)

    def _load(self, *, keep_documents: bool = False) -> None:
        if not keep_documents and self._load_saved_index():
            return
        db, middleware, docs, meta = self._read_documents()
        self._db, self._storage = db, middleware
        self._meta = meta
        self._index = _build_index(docs)
        self._signature = middleware.storage.signature
        self._save_index()
        if not keep_documents:
            # Readers only need the index: drop the parsed documents (hundreds of MB at 1M).
            middleware.cache = None

    def _read_documents(
        self,
    ) -> tuple[CacheDB, CachingMiddleware, dict[str, Any], dict[str, Any]]:
        """Parse the file of record through TinyDB (slow at 1M: about 2 s)."""
        storage = CachingMiddleware(AtomicJSONStorage)
        storage.WRITE_CACHE_SIZE = 1 << 30  # flushed explicitly, once per refresh
        db = CacheDB(self.path, storage=storage)
        middleware: CachingMiddleware = db.storage  # type: ignore[assignment]
        data = middleware.read() or {}
        docs, meta = _validated(data)
        return db, middleware, docs, meta

    @property
    def index_path(self) -> Path:
        """The saved index beside the cache: derived data, rebuilt whenever it does not match."""
        return self.path.with_name(self.path.name + ".idx")

    def _load_saved_index(self) -> bool:
        """Load the saved index if it was made from the file as it is now. Never raises."""
        try:
            data = self.index_path.read_bytes()
        except OSError:
            return False
        signature = FileSignature.of(self.path)
        if signature is None:
            return False
        try:
            index, extra = MappingIndex.from_bytes(data)
        except (ValueError, KeyError, TypeError, IndexError, orjson.JSONDecodeError):
            return False
        meta = extra.get("meta")
        if extra.get("signature") != list(astuple(signature)) or not isinstance(meta, dict):
            return False
        self._db = self._storage = None
        self._index, self._meta, self._signature = index, meta, signature
        return True

    def _save_index(self) -> None:
        """Save the index for the next open; best effort (a reader may lack write access)."""
        if self._signature is None:
            return
        extra = {"signature": list(astuple(self._signature)), "meta": self._meta}
        with contextlib.suppress(OSError):
            atomic_write_bytes(self.index_path, self._index.to_bytes(extra))

    def _move_aside(self) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        target = self.path.with_name(f"{self.path.name}.broken-{stamp}")
        counter = 1
        while target.exists():
            counter += 1
            target = self.path.with_name(f"{self.path.name}.broken-{stamp}-{counter}")
        self.path.replace(target)
        with contextlib.suppress(OSError):
            self.index_path.unlink()
        return target

    # -- state ------------------------------------------------------------------------------

    @property
    def index(self) -> MappingIndex:
        """The current index. Grab it once per operation: a refresh may swap it."""
        return self._index

    def __len__(self) -> int:
        return len(self._index)

    @property
    def last_refresh(self) -> RefreshInfo | None:
        return RefreshInfo.from_meta(self._meta.get("last_refresh"))

    @property
    def last_complete_refresh(self) -> datetime | None:
        at = self._meta.get("last_complete_refresh")
        return from_epoch(at) if isinstance(at, int | float) else None

    def changed_on_disk(self) -> bool:
        """True when another process replaced the file since this store read it."""
        return FileSignature.of(self.path) != self._signature

    # -- reading ----------------------------------------------------------------------------

    def get(self, lid_digits: str) -> MappingRecord | None:
        index = self._index
        row = index.row_of_lid(lid_digits)
        return None if row is None else index.record(row)

    def row_of_number(self, number: str) -> int | None:
        """The row of a number, trying WhatsApp's variants of it (Brazil, Mexico)."""
        index = self._index
        row = index.row_of_number(number)
        if row is not None:
            return row
        for variant in number_variants(number)[1:]:
            row = index.row_of_number(variant)
            if row is not None:
                return row
        return None

    def lookup_row(self, query: Query) -> int | None:
        """Exact look-up of a classified query; bare digits are tried as a number and a LID."""
        index = self._index
        if query.kind is QueryKind.NUMBER:
            row = self.row_of_number(query.digits)
            if row is None and query.maybe_lid:
                row = index.row_of_lid(query.digits)
            return row
        if query.kind in (QueryKind.LID, QueryKind.PARTIAL) and query.digits:
            row = index.row_of_lid(query.digits)
            return self.row_of_number(query.digits) if row is None else row
        return None

    def lookup(self, query: Query) -> MappingRecord | None:
        """The full record for :meth:`lookup_row`."""
        index = self._index
        row = self.lookup_row(query)
        return None if row is None else index.record(row)

    def matching_rows(self, query: Query, limit: int | None = None) -> list[int]:
        """Rows for a search box: the exact match first, then partial matches on the digits."""
        index = self._index
        first = self.lookup_row(query)
        rows = [] if first is None else [first]
        partial = index.rows_containing(query.digits, None if limit is None else limit + 1)
        rows.extend(row for row in partial if row != first)  # rows_containing has no repeats
        return rows[:limit]

    def search(self, query: Query, limit: int | None = None) -> list[MappingRecord]:
        """Records for :meth:`matching_rows`."""
        index = self._index
        return [index.record(row) for row in self.matching_rows(query, limit)]

    def rows(self, start: int, stop: int) -> list[Row]:
        return self._index.rows(start, stop)

    def iter_record_dicts(self) -> Iterator[dict[str, Any]]:
        """Every record in its JSON form, in cache order (for exports)."""
        index = self._index
        for row in range(len(index)):
            yield index.record_dict(row)

    # -- writing ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def writing(self, command: str = "") -> Iterator[MappingStore]:
        """Hold the writers' lock; re-read the file first if another process replaced it."""
        self.lock.acquire(command)
        try:
            if self.changed_on_disk():
                self.reload(keep_documents=True)
            yield self
        finally:
            self.lock.release()

    def apply_refresh(
        self,
        fetched: Mapping[str, str | None],
        *,
        complete: bool,
        refresh_meta: Mapping[str, Any],
        mark_unlisted: bool | None = None,
        now: float | None = None,
        is_refresh: bool = True,
    ) -> MergeCounts:
        """Merge what a refresh fetched and write the file once.

        ``fetched`` maps LID digits to the number (None when hidden). When ``complete``, LIDs
        missing from it are marked as not listed (never deleted), unless ``mark_unlisted`` is
        False (a listing that changed while it was read cannot prove a LID is gone).
        ``is_refresh`` False (one mapping learned by a look-up) leaves :attr:`last_refresh` as
        it was, so the status of the last real refresh is not hidden by it. Call inside
        :meth:`writing`.
        """
        if not self.lock.is_held:
            raise RuntimeError("apply_refresh needs the writers' lock (use store.writing())")
        stamp = int(now if now is not None else time.time())
        db = self._require_db()
        counts_box: list[MergeCounts] = []

        index = self._index

        def updater(table: dict[str, dict[str, Any]]) -> None:
            mark = complete if mark_unlisted is None else complete and mark_unlisted
            counts_box.append(_merge(table, index, fetched, complete=mark, now=stamp))

        db.table(MAPPINGS_TABLE).apply(updater)
        counts = counts_box[0]
        meta = dict(self._meta)
        meta["format"] = FORMAT_VERSION
        if is_refresh:
            meta["last_refresh"] = {
                "at": stamp,
                "complete": complete,
                "added": counts.added,
                "changed": counts.changed,
                **refresh_meta,
            }
        if complete:
            meta["last_complete_refresh"] = stamp
        db.table(META_TABLE).apply(lambda table: table.update({META_DOC_ID: meta}))
        renumbered = [index.row_of_lid(lid) for lid in counts.renumbered]
        self._flush_and_reindex(meta, index, [row for row in renumbered if row is not None])
        return counts

    def remember(self, lid_digits: str, number: str | None, now: float | None = None) -> None:
        """Cache one mapping learned outside a refresh (a provider look-up of one number)."""
        with self.writing("lid-tui lookup"):
            self.apply_refresh(
                {lid_digits: number},
                complete=False,
                refresh_meta={"single": True},
                now=now,
                is_refresh=False,
            )

    def _require_db(self) -> CacheDB:
        """The TinyDB handle with its documents loaded, for a write."""
        if self._db is None or self._storage is None or self._storage.cache is None:
            db, middleware, docs, meta = self._read_documents()
            if middleware.storage.signature != self._signature:
                self._index, self._meta = _build_index(docs), meta
                self._signature = middleware.storage.signature
            self._db, self._storage = db, middleware
        return self._db

    def _flush_and_reindex(
        self, meta: dict[str, Any], merged_into: MappingIndex, renumbered: list[int]
    ) -> None:
        """Write the file, then patch ``merged_into`` (the index before the merge) to match."""
        assert self._storage is not None
        self._storage.flush()
        docs = self._storage.cache.get(MAPPINGS_TABLE, {})
        self._index = merged_into.updated(docs, renumbered)
        self._meta = meta
        self._signature = self._storage.storage.signature
        self._save_index()
        self._storage.cache = None

    def close(self) -> None:
        self.lock.release()


def _validated(data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The mappings table and the meta document, or :class:`CacheCorrupt` with a reason."""
    docs = data.get(MAPPINGS_TABLE, {})
    meta_table = data.get(META_TABLE, {})
    if not isinstance(docs, dict) or not isinstance(meta_table, dict):
        raise CacheCorrupt("it is JSON but not a lid-tui cache (unexpected tables)")
    meta = meta_table.get(META_DOC_ID, {})
    if not isinstance(meta, dict):
        raise CacheCorrupt("its meta document is not an object")
    version = meta.get("format", FORMAT_VERSION if not docs else None)
    if version is None:
        raise CacheCorrupt("it has mappings but no format version")
    if not isinstance(version, int):
        raise CacheCorrupt(f"its format version {version!r:.20} is not a number")
    if version > FORMAT_VERSION:
        raise CacheCorrupt(
            f"it was written by a newer lid-tui (format {version}; this one reads {FORMAT_VERSION})"
        )
    keys = list(docs)
    if not is_digit_strings(keys) or "" in docs:
        bad = next(key for key in keys if not (key.isascii() and key.isdigit()))
        raise CacheCorrupt(f"a mapping key is not a LID: {bad[:30]!r}")
    return docs, meta


def _merge(
    table: dict[str, dict[str, Any]],
    index: MappingIndex,
    fetched: Mapping[str, str | None],
    *,
    complete: bool,
    now: int,
) -> MergeCounts:
    """Fold a refresh into the table in place and count what changed.

    ``index`` is the index of ``table`` before the merge: it answers who held a number.
    A number seen on a new LID while another LID held it is a re-registration: both LIDs get a
    history entry. A hidden number (None) never erases a number we knew.
    """
    moved: dict[str, str] = {}  # numbers whose holder changed during this merge

    def holder_of(number: str) -> str | None:
        if number in moved:
            return moved[number]
        row = index.row_of_number(number)
        return None if row is None else index.lid_at(row)

    added = changed = unchanged = 0
    renumbered: list[str] = []
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
            renumbered.append(lid)
            if previous:
                doc.setdefault("h", []).append([now, "c", number, previous])
            changed += 1
        if not number:
            continue
        old_owner = holder_of(number)
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
    return MergeCounts(added, changed, unchanged, not_listed, tuple(renumbered))


def _build_index(docs: Mapping[str, Any]) -> MappingIndex:
    try:
        return MappingIndex.build(docs)
    except (KeyError, TypeError, ValueError, IndexError, OverflowError, AttributeError) as error:
        raise CacheCorrupt(f"a mapping entry is malformed ({error!r:.80})") from error
