"""TinyDB storage that never leaves a half-written file, and the writers' lock.

Every write replaces the file whole (temp file in the same folder, fsync, ``os.replace``), so
a reader — in this process or another — always sees one complete generation and needs no
lock. Only a refresh writes; it holds :class:`CacheLock` for as long as it runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from filelock import FileLock, Timeout
from tinydb.storages import Storage


class CacheError(Exception):
    """The cache cannot be used. Maps to exit status 5."""

    exit_status = 5


class CacheBusy(CacheError):
    """Another process holds the cache for a refresh."""

    def __init__(self, path: Path, owner: dict[str, Any] | None) -> None:
        self.path = path
        self.owner = owner or {}
        who = describe_owner(self.owner)
        super().__init__(f"the cache {path} is being refreshed by {who}; try again when it ends")


class CacheUnreadable(CacheError):
    """The cache file exists but cannot be read (permissions, I/O error)."""


class CacheCorrupt(Exception):
    """The cache file is not a lid-tui cache this version can read. Carries the reason."""


@dataclass(frozen=True, slots=True)
class FileSignature:
    """Identifies one generation of a file: an atomic replace always changes the inode."""

    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> FileSignature | None:
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        return cls(st.st_ino, st.st_size, st.st_mtime_ns)


def atomic_write_bytes(path: Path, data: bytes | Iterable[bytes], mode: int = 0o600) -> None:
    """Write ``data`` (bytes, or pieces of it) to ``path`` so that readers see the old file or
    the new one, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            if isinstance(data, bytes):
                handle.write(data)
            else:
                handle.writelines(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    _fsync_directory(path.parent)


def stale_temp_files(path: Path) -> list[Path]:
    """Temp files an interrupted :func:`atomic_write_bytes` of ``path`` left in its folder.

    The name is matched exactly (``tempfile.mkstemp``: prefix, eight random characters from
    ``[a-z0-9_]``, suffix), so the temp file of another file in the folder — an export to
    ``instance.json.csv``, say — never looks like one of ``path``'s.
    """
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[a-z0-9_]{{8}}\.tmp")
    try:
        with os.scandir(path.parent) as entries:
            return [
                Path(entry.path)
                for entry in entries
                if pattern.fullmatch(entry.name) and entry.is_file(follow_symlinks=False)
            ]
    except OSError:
        return []


def _fsync_directory(folder: Path) -> None:
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


class AtomicJSONStorage(Storage):
    """A TinyDB storage: orjson on read and write, atomic replace on write.

    A missing or empty file reads as an empty database. Anything that does not parse as a JSON
    object raises :class:`CacheCorrupt`; an OS error raises :class:`CacheUnreadable`.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.signature: FileSignature | None = None

    def read(self) -> dict[str, Any] | None:
        try:
            signature = FileSignature.of(self.path)
            raw = self.path.read_bytes()
        except FileNotFoundError:
            self.signature = None
            return None
        except OSError as error:
            raise CacheUnreadable(f"cannot read the cache {self.path}: {error.strerror}") from error
        self.signature = signature
        if not raw.strip():
            return None
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise CacheCorrupt(f"it is not valid JSON ({error})") from error
        if not isinstance(data, dict):
            raise CacheCorrupt("it is JSON but not a lid-tui cache (top level is not an object)")
        return data

    def write(self, data: dict[str, Any]) -> None:
        atomic_write_bytes(self.path, orjson.dumps(data))
        self.signature = FileSignature.of(self.path)

    def close(self) -> None:
        pass


def describe_owner(owner: dict[str, Any]) -> str:
    """'process 1234 (lid-tui sync) on host, since 10:04' from a lock owner record."""
    if not owner:
        return "another process"
    parts = [f"process {owner.get('pid', '?')}"]
    if owner.get("command"):
        parts.append(f"({owner['command']})")
    if owner.get("host") and owner.get("host") != socket.gethostname():
        parts.append(f"on {owner['host']}")
    if isinstance(owner.get("since"), int | float):
        parts.append("since " + time.strftime("%H:%M:%S", time.localtime(owner["since"])))
    return " ".join(parts)


class CacheLock:
    """The writers' lock: an OS file lock on ``<cache>.lock`` plus an owner record beside it.

    The OS releases the lock when its process dies, so a killed refresh never leaves the cache
    locked. The owner record (``<cache>.lock.owner``) only names who holds it, for messages.
    A process killed while writing leaves its temp file behind; the next holder removes it.
    """

    def __init__(self, cache_path: Path) -> None:
        self.lock_path = cache_path.with_name(cache_path.name + ".lock")
        self.owner_path = cache_path.with_name(cache_path.name + ".lock.owner")
        self._lock = FileLock(self.lock_path, timeout=0, is_singleton=False)
        self.cache_path = cache_path

    @property
    def is_held(self) -> bool:
        return self._lock.is_locked

    def acquire(self, command: str = "") -> None:
        """Take the lock now or raise :class:`CacheBusy` naming the holder."""
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise CacheBusy(self.cache_path, self.read_owner()) from None
        self.remove_stale_temp_files()
        owner = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": command or " ".join(["lid-tui", *sys.argv[1:2]]),
            "since": time.time(),
        }
        with contextlib.suppress(OSError):
            atomic_write_bytes(self.owner_path, json.dumps(owner).encode())

    def remove_stale_temp_files(self) -> list[Path]:
        """Delete what killed writers left half-written; returns what was removed.

        Only the lock holder writes the cache and the owner record, so while we hold the lock
        any temp file of theirs belongs to a writer that died before its ``os.replace``. Left
        alone, each SIGKILL during a write would leave a cache-sized file behind.
        """
        if not self._lock.is_locked:
            raise RuntimeError("only the lock holder may remove the cache's temp files")
        removed = []
        for stale in [*stale_temp_files(self.cache_path), *stale_temp_files(self.owner_path)]:
            try:
                stale.unlink()
            except OSError:
                continue  # gone already, or not ours to delete: never a reason to fail a write
            removed.append(stale)
        return removed

    def release(self) -> None:
        if self._lock.is_locked:
            with contextlib.suppress(OSError):
                self.owner_path.unlink()
            self._lock.release()

    def read_owner(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.owner_path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def __enter__(self) -> CacheLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
