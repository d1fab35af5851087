"""Faults the demo server can inject, so clients can be tested against a misbehaving provider.

A :class:`Fault` says what goes wrong and on which requests: requests are numbered from 1 per
route (``lids`` = listing pages, ``count``, ``pn``, or ``any``), counted from the moment the
fault plan was installed, and the fault fires on requests ``start .. start + times - 1``
(``times=None``: from ``start`` on, forever).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from http import HTTPStatus


class FaultKind(enum.StrEnum):
    """What a fault does to the request it fires on."""

    #: Answer with ``status`` and a JSON error body (429/503 also send ``Retry-After``).
    STATUS = "status"
    #: Answer 200 with an HTML page, as a proxy or a login wall would.
    HTML200 = "html200"
    #: Answer 200 with the real body cut in half (Content-Length matches the cut body).
    TRUNCATED = "truncated"
    #: Close the connection abruptly without any response.
    RESET = "reset"
    #: Sleep ``seconds`` before answering normally (to trip a client's timeout).
    SLOW = "slow"
    #: Answer a listing request with the previous listing page's rows.
    REPEAT_PAGE = "repeat_page"
    #: Grow the list by ``rows`` rows at ``where`` ("front" or "end"), then answer normally.
    GROW = "grow"


class FaultRoute(enum.StrEnum):
    """Which requests a fault counts and fires on."""

    LIDS = "lids"
    COUNT = "count"
    PN = "pn"
    ANY = "any"


#: What the provider says for each status it is known to send (our wording).
ERROR_MESSAGES: dict[int, str] = {
    400: "Invalid request parameter",
    401: "Invalid access token",
    403: "Quota exceeded for this instance",
    404: "Not found",
    422: "session status is not as expected",
    429: "Too many requests, slow down",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service temporarily unavailable",
}


def error_body(status: int, message: str | None = None) -> dict[str, object]:
    """The provider's error shape: ``{"status": 401, "message": "…", "error": "Unauthorized"}``."""
    return {
        "status": status,
        "message": message or ERROR_MESSAGES.get(status, HTTPStatus(status).phrase),
        "error": HTTPStatus(status).phrase,
    }


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected misbehaviour; see the module docstring for when it fires."""

    kind: FaultKind
    start: int = 1
    times: int | None = 1
    route: FaultRoute = FaultRoute.LIDS
    #: For STATUS: the HTTP status to answer with.
    status: int = 500
    #: For STATUS: the Retry-After header in whole seconds (429 sends 1 unless told).
    retry_after: int | None = None
    #: For SLOW: how long to sleep before answering.
    seconds: float = 5.0
    #: For GROW: how many rows appear, and where.
    rows: int = 10
    where: str = "front"

    def __post_init__(self) -> None:
        if self.start < 1 or (self.times is not None and self.times < 1):
            raise ValueError("a fault fires from request 1 on, at least once")
        if self.kind is FaultKind.GROW and self.where not in ("front", "end"):
            raise ValueError("a list grows at the 'front' or at the 'end'")

    def fires_on(self, request_number: int) -> bool:
        """True when this fault applies to the ``request_number``-th request on its route."""
        if request_number < self.start:
            return False
        return self.times is None or request_number < self.start + self.times

    def retry_after_header(self) -> str | None:
        """The Retry-After value to send with a STATUS fault, if any."""
        if self.retry_after is not None:
            return str(self.retry_after)
        return "1" if self.status == 429 else None
