"""A real HTTP server speaking the provider's ``/v2/lids`` protocol over a :class:`DemoDataset`.

It lets the app, the tests and curl talk to something that behaves like the hosted provider:
paginated listing in the documented shape (or WAHA's list, or a gateway's envelope), a count,
one-number lookups, the documented errors, and on request the provider's bad days: capped
pages, messy rows, transient failures and injected faults.

Generations: the server starts at generation 0 and moves to the next one when a new listing
(offset 0) or a count request arrives after every row of the current generation was served, so
a second refresh sees a few changes. "Every row served" (not "the last page was served") keeps
a client that fetches pages concurrently, offset 0 last, inside one generation. The count
moves too, so a client that reads the count first learns the new total before it pages.
"""

from __future__ import annotations

import contextlib
import enum
import hmac
import logging
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import orjson

from lid_tui.demo.data import DemoDataset, Row
from lid_tui.demo.faults import Fault, FaultKind, FaultRoute, error_body
from lid_tui.identity import IdentityError, number_digits, number_variants

JsonValue = Any
_log = logging.getLogger(__name__)

#: Page cap in quirks mode: shorter than the 1000 clients are advised to ask for.
QUIRKS_PAGE_CAP = 700

_LIST_PATH = "/v2/lids"
_COUNT_PATH = "/v2/lids/count"
_PN_PREFIX = "/v2/lids/pn/"

# Quirks mode lays the list out in blocks of 100 raw rows: slot 0 repeats the row before it
# (a duplicate, on the next page for a client paging by a multiple of 100), three slots hold
# rows with no usable LID, the other 96 are the data set's rows in order.
_BLOCK = 100
_GARBAGE_SLOTS = (17, 43, 71)
_SPECIAL_SLOTS = (0, *_GARBAGE_SLOTS)
_RANK_SLOT = tuple(slot for slot in range(_BLOCK) if slot not in _SPECIAL_SLOTS)
_REAL_PER_BLOCK = len(_RANK_SLOT)
_SLOT_TO_RANK = {slot: rank for rank, slot in enumerate(_RANK_SLOT)}
_GARBAGE_KINDS = 6
_PHONE_FIELDS = ("number", "pn", "phone", "phoneNumber")

_HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>Bad Gateway</h1><p>The upstream server did not answer in time.</p></body></html>"
)
_HTML_LOGIN = (
    b"<!DOCTYPE html><html><head><title>Sign in</title></head>"
    b"<body><h1>Please sign in</h1><form><input name='user'></form></body></html>"
)


class ResponseShape(enum.StrEnum):
    """How a listing page is encoded."""

    OBJECT = "object"  # documented: {"0": {"lid": …, "number": …}, …}
    LIST = "list"  # WAHA: [{"lid": …, "pn": "…@c.us"}, …]
    ENVELOPE = "envelope"  # gateways: {"data": [{"lid": …, "phone": …}, …]}
    ROTATE = "rotate"  # the three in turn, page by page, with varied phone field names


class CountStyle(enum.StrEnum):
    """How ``/v2/lids/count`` answers."""

    OBJECT = "object"  # {"count": n}
    BARE = "bare"  # n
    MISSING = "missing"  # 404


class _Answer:
    """A response about to be sent."""

    __slots__ = ("body", "content_type", "headers", "status")

    def __init__(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers or {}


def _json_answer(status: int, payload: JsonValue, headers: dict[str, str] | None = None) -> _Answer:
    return _Answer(status, orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS), headers=headers)


def _error(
    status: int, message: str | None = None, headers: dict[str, str] | None = None
) -> _Answer:
    return _json_answer(status, error_body(status, message), headers)


class DemoServer:
    """Serves a :class:`DemoDataset` over HTTP like the hosted provider; see the module doc.

    The port is bound at construction (``OSError`` if it is taken). ``start()`` serves from a
    daemon thread; ``serve_forever()`` serves in the foreground; ``stop()`` ends either.
    """

    def __init__(
        self,
        dataset: DemoDataset,
        host: str = "127.0.0.1",
        port: int = 0,
        instance_id: str = "demo",
        access_token: str = "demo-token",
        max_page: int = 1000,
        *,
        default_limit: int = 100,
        response_shape: ResponseShape | str = ResponseShape.OBJECT,
        count_style: CountStyle | str = CountStyle.OBJECT,
        quirks: bool = False,
        quirks_retry_after: int = 1,
        faults: Iterable[Fault] = (),
        page_delay: float = 0.0,
        request_log: Callable[[str], None] | None = None,
    ) -> None:
        if max_page < 1 or default_limit < 1:
            raise ValueError("max_page and default_limit must be at least 1")
        self.dataset = dataset
        self.host = host
        self.port = port
        self.instance_id = instance_id
        self._access_token = access_token
        self.quirks = quirks
        self.max_page = min(max_page, QUIRKS_PAGE_CAP) if quirks else max_page
        self.default_limit = default_limit
        self.response_shape = ResponseShape.ROTATE if quirks else ResponseShape(response_shape)
        self.count_style = CountStyle(count_style)
        self.quirks_retry_after = quirks_retry_after
        #: Seconds slept before answering each listing request (for deliberately slow demos).
        self.page_delay = page_delay
        self.request_log = request_log
        #: Every request that reached a handler, whatever the answer.
        self.requests_served = 0

        self._lock = threading.RLock()
        self._generation = 0
        #: Disjoint, sorted [start, end) ranges of the listing served in this generation.
        self._served: list[tuple[int, int]] = []
        self._front: list[Row] = []  # rows a GROW fault added before the data set's rows
        self._back: list[Row] = []  # … and after them
        self._spare_rows_used = 0
        self._grown_numbers: dict[str, str] = {}
        self._faults: tuple[Fault, ...] = ()
        self._route_requests: dict[FaultRoute, int] = {}
        self._previous_page: _Page | None = None
        self._pages_answered = 0
        self._quirk_faults_done: set[tuple[int, int]] = set()
        self.set_faults(faults)

        self._thread: threading.Thread | None = None
        self._serving = threading.Event()
        # Bind now: the port is known (base_url is final) and a busy port fails here (OSError).
        server_class = _HTTPServer6 if ":" in host else _HTTPServer
        self._httpd: _HTTPServer | None = server_class((host, port), _RequestHandler)
        self._httpd.demo = self
        self.port = self._httpd.server_address[1]

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Serve in a background daemon thread; returns self."""
        httpd = self._ready_to_serve()
        self._thread = threading.Thread(
            target=self._serve, args=(httpd, 0.05), name=f"demo-server-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` is called from another thread or
        the process is interrupted (Ctrl-C raises KeyboardInterrupt here)."""
        httpd = self._ready_to_serve()
        try:
            self._serve(httpd, 0.2)
        finally:
            self._close()

    def stop(self) -> None:
        """Stop serving, close the port and drop open connections. Safe to call twice."""
        httpd = self._httpd
        if httpd is None:
            return
        if self._serving.is_set():
            httpd.shutdown()  # returns once the serving loop has ended
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._close()

    def __enter__(self) -> Self:
        return self if self._serving.is_set() else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://host:port`` with the real port (the port is bound at construction)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _ready_to_serve(self) -> _HTTPServer:
        if self._httpd is None:
            raise RuntimeError("this demo server was stopped; make a new one")
        if self._serving.is_set():
            raise RuntimeError("the demo server is already serving")
        self._serving.set()
        return self._httpd

    def _serve(self, httpd: _HTTPServer, poll_interval: float) -> None:
        try:
            httpd.serve_forever(poll_interval=poll_interval)
        finally:
            self._serving.clear()

    def _close(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.server_close()
            httpd.drop_connections()

    # -- state --------------------------------------------------------------------------------

    @property
    def generation(self) -> int:
        """The data set generation the server currently lists."""
        return self._generation

    def advance(self) -> int:
        """Move to the next generation now; returns it."""
        with self._lock:
            self._generation += 1
            self._served = []
            self.dataset.total(self._generation)  # build its changes now, not mid-request
            return self._generation

    def set_faults(self, faults: Iterable[Fault]) -> None:
        """Install a fault plan; request numbers count again from 1 on every route."""
        with self._lock:
            self._faults = tuple(faults)
            self._route_requests = dict.fromkeys(FaultRoute, 0)

    @property
    def faults(self) -> tuple[Fault, ...]:
        return self._faults

    def total_rows(self, generation: int | None = None) -> int:
        """Rows the listing has (raw rows, garbage included, in quirks mode)."""
        real = self._real_total(self._generation if generation is None else generation)
        return _virtual_total(real) if self.quirks else real

    def expected_mappings(self, generation: int | None = None) -> dict[str, str | None]:
        """Every valid mapping a complete listing holds: LID digits -> number digits or None."""
        with self._lock:
            gen = self._generation if generation is None else generation
            rows = [*self._front, *self.dataset.all_rows(gen), *self._back]
        return dict(rows)

    def garbage_rows(self, generation: int | None = None) -> int:
        """Rows with no usable LID in a complete listing (quirks mode only, else 0)."""
        if not self.quirks:
            return 0
        total = self.total_rows(generation)
        return _special_slots_before(total) - _duplicates_before(total)

    def duplicate_rows(self, generation: int | None = None) -> int:
        """Rows repeating the row before them in a complete listing (quirks mode only)."""
        return _duplicates_before(self.total_rows(generation)) if self.quirks else 0

    # -- requests -----------------------------------------------------------------------------

    def _handle(self, handler: _RequestHandler) -> None:
        """Answer one request; an unexpected failure becomes a 500, not a dropped connection."""
        with self._lock:
            self.requests_served += 1
        try:
            answer = self._answer(handler.path)
        except Exception:
            _log.exception("demo server failed on %s", _redacted(handler.path))
            answer = _error(500, "The demo server failed on this request")
        if answer is None:
            handler.reset_connection()
        else:
            self._send(handler, answer)

    def _answer(self, raw_path: str) -> _Answer | None:
        """The answer to a GET of ``raw_path``, or None to close the connection unanswered."""
        parts = urlsplit(raw_path)
        path = parts.path.rstrip("/") or "/"
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        route = _route_of(path)
        if route is None:
            return _error(404, f"No route for {path[:80]}")
        refusal = self._check_credentials(query)
        if refusal is not None:
            return refusal

        with self._lock:
            self._route_requests[route] += 1
            self._route_requests[FaultRoute.ANY] += 1
            firing = [
                fault
                for fault in self._faults
                if fault.fires_on(self._route_requests[fault.route])
                and (fault.route is FaultRoute.ANY or fault.route is route)
            ]
        if route is FaultRoute.LIDS and self.page_delay > 0:
            time.sleep(self.page_delay)
        for fault in firing:
            if fault.kind is FaultKind.SLOW:
                time.sleep(fault.seconds)
            elif fault.kind is FaultKind.GROW:
                self._grow(fault.rows, fault.where)
        replacing = next((f for f in firing if f.kind not in _NON_REPLACING), None)
        if replacing is not None and replacing.kind is FaultKind.RESET:
            return None
        if replacing is not None and replacing.kind is FaultKind.STATUS:
            headers = {}
            if (retry_after := replacing.retry_after_header()) is not None:
                headers["Retry-After"] = retry_after
            return _error(replacing.status, None, headers)
        if replacing is not None and replacing.kind is FaultKind.HTML200:
            return _Answer(200, _HTML_LOGIN, "text/html; charset=utf-8")

        repeat = replacing is not None and replacing.kind is FaultKind.REPEAT_PAGE
        if route is FaultRoute.LIDS:
            answer = self._list(query, repeat_previous=repeat)
        elif route is FaultRoute.COUNT:
            answer = self._count()
        else:
            answer = self._resolve(path.removeprefix(_PN_PREFIX))
        if replacing is not None and replacing.kind is FaultKind.TRUNCATED:
            answer.body = _truncated(answer.body)
        return answer

    def _check_credentials(self, query: dict[str, str]) -> _Answer | None:
        instance_id = query.get("instance_id", "")
        if not instance_id:
            return _error(400, "instance_id is required")
        if instance_id != self.instance_id:
            return _error(400, "Invalid instance_id")
        token = query.get("access_token", "")
        if not hmac.compare_digest(token.encode(), self._access_token.encode()):
            return _error(401, "Invalid access token")
        return None

    def _list(self, query: dict[str, str], repeat_previous: bool) -> _Answer:
        try:
            limit = _int_param(query, "limit", self.default_limit, minimum=1)
            offset = _int_param(query, "offset", 0, minimum=0)
        except ValueError as error:
            return _error(400, str(error))
        with self._lock:
            if offset == 0 and self._fully_served():
                self.advance()
            generation = self._generation
            total = self.total_rows(generation)
            count = max(0, min(limit, self.max_page, total - offset))
            quirk = self._quirk_fault(generation, offset) if self.quirks else None
            if quirk is not None:
                return quirk
            shape, phone_field = self._page_format()
            if repeat_previous and self._previous_page is not None:
                page = self._previous_page
            elif self.quirks:
                page = _Page(items=self._quirky_items(offset, count, generation, phone_field))
            else:
                page = _Page(rows=self._real_rows(offset, count, generation))
            self._previous_page = page
            if not repeat_previous:
                self._mark_served(offset, offset + count)
        return _Answer(200, page.encode(shape, phone_field))

    def _count(self) -> _Answer:
        if self.count_style is CountStyle.MISSING:
            return _error(404, "This deployment has no count route")
        with self._lock:
            if self._fully_served():
                self.advance()
            total = self.total_rows()
        if self.count_style is CountStyle.BARE:
            return _json_answer(200, total)
        return _json_answer(200, {"count": total})

    def _resolve(self, raw_number: str) -> _Answer:
        try:
            digits = number_digits(unquote(raw_number))
        except IdentityError:
            return _error(400, "The phone number is not valid")
        generation = self._generation
        for variant in number_variants(digits):
            lid = self._grown_numbers.get(variant) or self.dataset.lookup_number(
                variant, generation
            )
            if lid is not None:
                return _json_answer(200, {"lid": f"{lid}@lid", "number": variant})
        return _json_answer(200, {"lid": None, "number": digits})

    def _send(self, handler: _RequestHandler, answer: _Answer) -> None:
        if self.request_log is not None:  # first: once the client has its answer, it's logged
            self.request_log(f"GET {_redacted(handler.path)} {answer.status}")
        handler.send_response(answer.status)
        handler.send_header("Content-Type", answer.content_type)
        handler.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(answer.body)

    # -- listing ------------------------------------------------------------------------------

    def _mark_served(self, start: int, end: int) -> None:
        """Add ``[start, end)`` to the served ranges, merging overlapping or touching ones."""
        if start >= end:
            return
        kept: list[tuple[int, int]] = []
        for served_start, served_end in self._served:
            if served_end < start or served_start > end:
                kept.append((served_start, served_end))
            else:
                start, end = min(start, served_start), max(end, served_end)
        kept.append((start, end))
        kept.sort()
        self._served = kept

    def _fully_served(self) -> bool:
        """True once every row of the current generation was in some answered page."""
        total = self.total_rows()
        return total > 0 and self._served == [(0, total)]

    def _page_format(self) -> tuple[ResponseShape, str]:
        """The shape and phone field of the next page (rotating ones advance per page)."""
        page = self._pages_answered
        self._pages_answered += 1
        if self.response_shape is ResponseShape.ROTATE:
            shapes = (ResponseShape.OBJECT, ResponseShape.LIST, ResponseShape.ENVELOPE)
            return shapes[page % 3], _PHONE_FIELDS[page % 4]
        field = {ResponseShape.LIST: "pn", ResponseShape.ENVELOPE: "phone"}
        return self.response_shape, field.get(self.response_shape, "number")

    def _real_total(self, generation: int) -> int:
        return len(self._front) + self.dataset.total(generation) + len(self._back)

    def _real_rows(self, offset: int, count: int, generation: int) -> list[Row]:
        """Rows of the list the data set and GROW faults make, before quirks."""
        front, back = self._front, self._back
        rows = front[offset : offset + count]
        dataset_offset = max(0, offset - len(front))
        dataset_total = self.dataset.total(generation)
        if len(rows) < count and dataset_offset < dataset_total:
            rows += self.dataset.rows(dataset_offset, count - len(rows), generation)
        back_offset = max(0, offset - len(front) - dataset_total)
        if len(rows) < count:
            rows += back[back_offset : back_offset + count - len(rows)]
        return rows

    def _quirky_items(
        self, offset: int, count: int, generation: int, phone_field: str
    ) -> list[JsonValue]:
        """Raw rows ``offset .. offset + count - 1`` of the quirks layout (see ``_BLOCK``)."""
        if count <= 0:
            return []
        first_block, last_block = offset // _BLOCK, (offset + count - 1) // _BLOCK
        real_start = max(0, first_block * _REAL_PER_BLOCK - 1)
        real_end = (last_block + 1) * _REAL_PER_BLOCK
        rows = self._real_rows(real_start, real_end - real_start, generation)
        as_jid = phone_field == "pn"  # WAHA's field carries a JID
        items: list[JsonValue] = []
        for position in range(offset, offset + count):
            block, slot = divmod(position, _BLOCK)
            rank = _SLOT_TO_RANK.get(slot)
            if rank is not None:
                real_index = block * _REAL_PER_BLOCK + rank
                lid, number = rows[real_index - real_start]
                items.append(_messy_item(real_index, lid, number, phone_field, as_jid))
            elif slot == 0 and block > 0:
                lid, number = rows[block * _REAL_PER_BLOCK - 1 - real_start]
                items.append(_clean_item(lid, number, phone_field, as_jid))
            else:
                garbage_index = block * len(_SPECIAL_SLOTS) + _SPECIAL_SLOTS.index(slot)
                items.append(_garbage_item(garbage_index, phone_field))
        return items

    def _quirk_fault(self, generation: int, offset: int) -> _Answer | None:
        """Quirks mode fails some pages once each: the first try fails, a retry works."""
        page = offset // self.max_page
        kind = page % 50
        if kind not in (1, 3, 5) or (generation, offset) in self._quirk_faults_done:
            return None
        self._quirk_faults_done.add((generation, offset))
        if kind == 1:
            return _Answer(502, _HTML_PAGE, "text/html; charset=utf-8")
        if kind == 3:
            return _error(429, None, {"Retry-After": str(self.quirks_retry_after)})
        return _Answer(200, _HTML_LOGIN, "text/html; charset=utf-8")

    def _grow(self, count: int, where: str) -> None:
        with self._lock:
            rows = self.dataset.spare_rows(self._spare_rows_used, count)
            self._spare_rows_used += count
            if where == "front":
                self._front = rows + self._front
            else:
                self._back = self._back + rows
            self._grown_numbers.update((number, lid) for lid, number in rows if number)


_NON_REPLACING = frozenset({FaultKind.SLOW, FaultKind.GROW})


def _truncated(body: bytes) -> bytes:
    """The first half of a JSON object or array (never valid JSON); nothing for a bare value,
    which no cut could make invalid."""
    if not body.startswith((b"{", b"[")):
        return b""
    return body[: max(1, len(body) // 2)]


def _route_of(path: str) -> FaultRoute | None:
    if path == _LIST_PATH:
        return FaultRoute.LIDS
    if path == _COUNT_PATH:
        return FaultRoute.COUNT
    if path.startswith(_PN_PREFIX) and len(path) > len(_PN_PREFIX):
        return FaultRoute.PN
    return None


def _int_param(query: dict[str, str], name: str, default: int, minimum: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit():
        raise ValueError(f"{name} must be a whole number")
    value = int(raw)
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}")
    return value


def _redacted(path: str) -> str:
    """The request path with the access token's value hidden, for logs."""
    parts = urlsplit(path)
    if not parts.query:
        return parts.path
    query = [
        (name, "***" if name == "access_token" else value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return f"{parts.path}?{urlencode(query, safe='*@')}"


class _Page:
    """One listing page: clean data set rows, or quirks-mode items (already JSON values)."""

    __slots__ = ("items", "rows")

    def __init__(self, rows: list[Row] | None = None, items: list[JsonValue] | None = None) -> None:
        self.rows = rows
        self.items = items

    def encode(self, shape: ResponseShape, phone_field: str) -> bytes:
        if self.rows is not None:
            return _encode_rows(self.rows, shape, phone_field)
        items = self.items or []
        if shape is ResponseShape.LIST:
            return orjson.dumps(items)
        if shape is ResponseShape.ENVELOPE:
            return orjson.dumps({"data": items})
        return orjson.dumps(dict(enumerate(items)), option=orjson.OPT_NON_STR_KEYS)


def _encode_rows(rows: list[Row], shape: ResponseShape, phone_field: str) -> bytes:
    """JSON for clean rows, written directly: LIDs and numbers are digit strings, so no
    escaping is needed, and this is about twice as fast as building dicts for orjson."""
    suffix = "@c.us" if phone_field == "pn" else ""  # WAHA's field carries a JID
    items = [
        f'{{"lid":"{lid}@lid","{phone_field}":"{number}{suffix}"}}'
        if number is not None
        else f'{{"lid":"{lid}@lid","{phone_field}":null}}'
        for lid, number in rows
    ]
    if shape is ResponseShape.LIST:
        return f"[{','.join(items)}]".encode()
    if shape is ResponseShape.ENVELOPE:
        return f'{{"data":[{",".join(items)}]}}'.encode()
    return (
        "{" + ",".join([f'"{index}":{item}' for index, item in enumerate(items)]) + "}"
    ).encode()


def _clean_item(lid: str, number: str | None, phone_field: str, as_jid: bool) -> JsonValue:
    if as_jid and number is not None:
        number = f"{number}@c.us"
    return {"lid": f"{lid}@lid", phone_field: number}


def _messy_item(
    real_index: int, lid: str, number: str | None, phone_field: str, as_jid: bool
) -> JsonValue:
    """A real row, written in one of the ways providers were seen to write it."""
    variant = (((real_index * 0x9E3779B1) & 0xFFFFFFFF) >> 16) % 16
    if number is None:
        # A hidden number: sometimes null, sometimes no key at all.
        return {"lid": f"{lid}@lid"} if variant % 2 else {"lid": f"{lid}@lid", phone_field: None}
    if variant == 0:
        phone = f"+{number[:2]} {number[2:4]} {number[4:-4]}-{number[-4:]}"
    elif variant == 1:
        phone = f"{number}@c.us"
    elif variant == 2:
        phone = f"{number}@s.whatsapp.net"
    elif variant == 3:
        phone = f"{number}:12@s.whatsapp.net"
    elif variant == 4:
        return {"lid": f"{lid}:7@lid", phone_field: f"{number}@c.us" if as_jid else number}
    else:
        return _clean_item(lid, number, phone_field, as_jid)
    return {"lid": f"{lid}@lid", phone_field: phone}


def _garbage_item(index: int, phone_field: str) -> JsonValue:
    """A row with no usable LID; six kinds in turn."""
    kind = index % _GARBAGE_KINDS
    filler = f"{(index * 7919) % 10**8:08d}"
    if kind == 0:
        return {"lid": None, phone_field: f"55119{filler}"}
    if kind == 1:
        return {"lid": "abc@lid", phone_field: None}
    if kind == 2:
        return {"lid": f"120363{filler}4321@g.us", phone_field: None}
    if kind == 3:
        return "not a mapping"
    if kind == 4:
        return {phone_field: f"52155{filler}"}
    return {"lid": f"{index % 9000 + 1000}@lid", phone_field: None}  # too short for a LID


def _virtual_total(real_total: int) -> int:
    """Raw rows in the quirks layout holding ``real_total`` real rows (ends on a real row)."""
    if real_total == 0:
        return 0
    block, rank = divmod(real_total - 1, _REAL_PER_BLOCK)
    return block * _BLOCK + _RANK_SLOT[rank] + 1


def _special_slots_before(total: int) -> int:
    full, partial = divmod(total, _BLOCK)
    return full * len(_SPECIAL_SLOTS) + sum(slot < partial for slot in _SPECIAL_SLOTS)


def _duplicates_before(total: int) -> int:
    return (total - 1) // _BLOCK if total > 0 else 0


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "lid-tui-demo"
    timeout = 120  # idle keep-alive connections are closed after this
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _HTTPServer

    def do_GET(self) -> None:
        self.server.demo._handle(self)

    def version_string(self) -> str:
        return self.server_version  # no Python version in the Server header

    def log_message(self, format: str, *args: object) -> None:
        """Silent: request lines carry the access token. Use ``request_log`` instead."""

    def reset_connection(self) -> None:
        """Close abruptly: an RST, no response."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # drop the file's reference so close() really closes the socket
        self.connection.close()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    demo: DemoServer

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Wake handler threads waiting on idle keep-alive connections so they end."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its client
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up (timeouts, resets) are normal here; log anything else."""
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError | TimeoutError):
            _log.error("demo server connection failed", exc_info=error)


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6
