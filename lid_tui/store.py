"""The mapping cache: a TinyDB file of record with in-memory indexes for every read.

Layout of the file (TinyDB's JSON layout, one document per LID keyed by the LID's digits)::

    {"mappings": {"123456789012345": {"n": "5511987654321", "f": 1763800000, "l": 1763900000}},
     "meta": {"1": {"format": 1, "last_refresh": {...}}}}

``n`` is the number (absent when the owner hides it), ``f``/``l`` first and last seen (epoch
seconds), ``h`` the history (``[epoch, code, number, other]``), ``x`` set when the last complete
refresh did not list the LID. Short keys keep the file under 100 bytes a mapping.

Reads never touch TinyDB's query machinery: they go to a :class:`~lid_tui.index.MappingIndex`,
also saved beside the file so opening does not parse it. A refresh is merged into a new index
(columns, not a million dicts) and written as one atomic replace of the whole file, its
mappings table generated from the index: at 1M mappings TinyDB's own table update would first
need the file parsed into dicts (about 2 s) and then copied.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from dataclasses import astuple, dataclass
from datetime import datetime
from itertools import chain
from pathlib import Path
from typing import Any

import orjson
from tinydb import TinyDB

from lid_tui.identity import Query, QueryKind, is_digit_strings, number_variants
from lid_tui.index import MappingIndex, MergeCounts, Row, Scan
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

    def reload(self) -> None:
        """Read the file again and rebuild the indexes (another process may have refreshed)."""
        try:
            self._load()
        except CacheCorrupt as error:
            self.recovery = Recovery(self._move_aside(), str(error))
            self._load()

    def _load(self) -> None:
        if self._load_saved_index():
            return
        docs, meta, signature = self._read_documents()
        self._meta = meta
        self._index = _build_index(docs)
        self._signature = signature
        self._save_index()

    def _read_documents(self) -> tuple[dict[str, Any], dict[str, Any], FileSignature | None]:
        """Parse the file of record with TinyDB (slow at 1M: about 2 s; the saved index spares
        it). Returns the mappings, the meta document and the signature of the file read."""
        with TinyDB(self.path, storage=AtomicJSONStorage) as db:
            storage: AtomicJSONStorage = db.storage  # type: ignore[assignment]
            docs, meta = _validated(storage.read() or {})
            return docs, meta, storage.signature

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
        return self.search_rows(query, limit)[0]

    def search_rows(
        self, query: Query, limit: int | None = None, previous: Scan | None = None
    ) -> tuple[list[int], Scan]:
        """:meth:`matching_rows` and the partial scan behind it; pass that scan back as
        ``previous`` for the next query typed, which may then only narrow it."""
        index = self._index
        first = self.lookup_row(query)
        rows = [] if first is None else [first]
        scan = index.scan(query.digits, None if limit is None else limit + 1, previous)
        rows.extend(row for row in scan.rows if row != first)  # a scan has no repeats
        return rows[:limit], scan

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
                self.reload()
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
        mark = complete if mark_unlisted is None else complete and mark_unlisted
        index, counts = self._index.merged(fetched, complete=mark, now=stamp)
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
        self._write(index, meta)
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

    def _write(self, index: MappingIndex, meta: dict[str, Any]) -> None:
        """Replace the file of record (one atomic write), then swap in ``index`` and save it.

        The file keeps TinyDB's layout; the mappings table is written from the index's columns
        in pieces (see :meth:`MappingIndex.table_json_chunks`).
        """
        atomic_write_bytes(
            self.path,
            chain(
                [b'{"' + MAPPINGS_TABLE.encode() + b'":'],
                index.table_json_chunks(),
                [b',"' + META_TABLE.encode() + b'":', orjson.dumps({META_DOC_ID: meta}), b"}"],
            ),
        )
        self._index, self._meta = index, meta
        self._signature = FileSignature.of(self.path)
        self._save_index()

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


def _build_index(docs: Mapping[str, Any]) -> MappingIndex:
    try:
        return MappingIndex.build(docs)
    except (KeyError, TypeError, ValueError, IndexError, OverflowError, AttributeError) as error:
        raise CacheCorrupt(f"a mapping entry is malformed ({error!r:.80})") from error
