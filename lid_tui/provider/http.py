"""httpx plumbing shared by provider adapters: secret redaction, transport checks, and
turning HTTP answers and httpx failures into the typed errors of :mod:`lid_tui.provider.base`.

The access token travels in the query string, so every URL httpx prints carries it. Everything
that leaves this layer as text (exception messages, log records of httpx and httpcore) goes
through :func:`redact` first.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import re
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from lid_tui import __version__
from lid_tui.provider.base import (
    BadRequest,
    CredentialsRejected,
    InsecureTransport,
    InstanceNotConnected,
    InvalidBaseUrl,
    ProviderError,
    QuotaExceeded,
    RateLimited,
    UnusablePayload,
    UpstreamFailure,
)
from lid_tui.provider.payload import clean_text, decode_json, provider_message
from lid_tui.provider.redaction import redact
from lid_tui.provider.redaction import register_secret as _register_secret

USER_AGENT = f"lid-tui/{__version__}"
#: Longest wait we accept from a Retry-After header; a larger one is clamped to this.
MAX_RETRY_AFTER = 300.0
#: Loggers that may print request URLs. Filters on a logger do not apply to records coming
#: from its children, so each one is named.
_HTTP_LOGGERS = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)
#: A host name (IDNA already applied by httpx) or an IP address, IPv6 included.
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.\-]*[A-Za-z0-9])?\.?|[0-9A-Fa-f:.]+")

_USERINFO = re.compile(r"//[^/?#@]*@")

_filter_lock = threading.Lock()
_filter_installed = False


def register_secret(secret: str) -> None:
    """Remember a secret so :func:`redact` (and the httpx log filter) hide it everywhere."""
    _register_secret(secret, str(httpx.QueryParams({"t": secret}))[2:])  # httpx's encoding


class RedactingFilter(logging.Filter):
    """Rewrites log records so a URL with the token is never formatted by any handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record: leave it to logging's own error handling
            return True
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        return True


def install_log_redaction() -> None:
    """Attach :class:`RedactingFilter` to httpx's and httpcore's loggers (once per process)."""
    global _filter_installed
    with _filter_lock:
        if _filter_installed:
            return
        _filter_installed = True
    redacting = RedactingFilter()
    for name in _HTTP_LOGGERS:
        logging.getLogger(name).addFilter(redacting)


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1 (also as an IPv4-mapped address)."""
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def checked_base_url(base_url: str, *, allow_insecure_http: bool = False) -> httpx.URL:
    """The base URL, parsed and vetted: absolute http(s), a host, no credentials, no query.

    Plain ``http://`` is refused unless the host is loopback or ``allow_insecure_http`` is set:
    the access token is part of every request.
    """
    text = base_url.strip()
    shown = clean_text(redact(_USERINFO.sub("//***@", text)), 80)
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise InvalidBaseUrl(f"The base URL {shown!r} is not a valid URL") from None
    if url.scheme not in ("http", "https"):
        raise InvalidBaseUrl(
            f"The base URL {shown!r} must start with https:// (or http:// for a local server)"
        )
    if not url.host:
        raise InvalidBaseUrl(f"The base URL {shown!r} has no host name")
    if not _HOST.fullmatch(url.raw_host.decode("ascii", "replace")):
        raise InvalidBaseUrl(f"The base URL {shown!r} is not a valid URL: bad host name")
    if url.port is not None and not 0 < url.port < 65536:
        raise InvalidBaseUrl(f"The base URL {shown!r} is not a valid URL: bad port")
    if url.userinfo:
        raise InvalidBaseUrl("The base URL must not carry a user name or password")
    if url.query or url.fragment:
        raise InvalidBaseUrl(
            "The base URL must not carry a query or fragment; the instance id and the access "
            "token are separate settings"
        )
    if url.scheme == "http" and not allow_insecure_http and not is_loopback_host(url.host):
        raise InsecureTransport(
            f"Refusing plain http:// to {url.host}: the access token would travel unencrypted. "
            "Use https://, or allow insecure http explicitly"
        )
    return url


def build_client(timeout: float) -> httpx.Client:
    """A keep-alive client for one provider: bounded timeouts, no redirects (a redirect could
    carry the token elsewhere, even to plain http)."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        limits=httpx.Limits(max_connections=16, max_keepalive_connections=8, keepalive_expiry=30),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        follow_redirects=False,
    )


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date),
    clamped to ``[0, MAX_RETRY_AFTER]``; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"\d{1,12}(\.\d{1,6})?", value):
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def looks_like_html(response: httpx.Response) -> bool:
    """Proxies and captive portals answer with HTML pages, sometimes with status 200."""
    content_type = response.headers.get("content-type", "").lower()
    if "text/html" in content_type or "application/xhtml" in content_type:
        return True
    return response.content[:256].lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def json_body(response: httpx.Response) -> object:
    """The decoded body of a successful answer; HTML pages and bad JSON raise typed errors."""
    if looks_like_html(response):
        raise UpstreamFailure(
            f"The provider answered with an HTML page (status {response.status_code}) instead "
            "of JSON; a proxy or gateway in between is probably failing"
        )
    return decode_json(response.content)


def error_for_response(response: httpx.Response, secrets: Iterable[str] = ()) -> ProviderError:
    """The typed error for a non-2xx answer, with the provider's own message when it has one."""
    status = response.status_code
    if 300 <= status < 400:
        try:
            target = httpx.URL(response.headers.get("location", "")).host
        except (httpx.InvalidURL, TypeError, ValueError):
            target = ""
        where = f" to {clean_text(redact(target, secrets), 60)}" if target else ""
        return ProviderError(
            f"The provider redirected the request ({status}){where}; set the base URL to the "
            "final address (redirects are not followed, to keep the token safe)"
        )
    said = response_message(response, secrets)
    return error_for_status(status, said, parse_retry_after(response.headers.get("retry-after")))


def response_message(response: httpx.Response, secrets: Iterable[str] = ()) -> str:
    """The provider's message in an error answer, cleaned and redacted ("" when none)."""
    if looks_like_html(response):
        return "it answered with an HTML page, probably from a proxy or firewall"
    try:
        message = provider_message(decode_json(response.content))
    except UnusablePayload:
        message = None
    if message is None:
        text = response.content[:400].decode("utf-8", "replace").strip()
        if text and not text.startswith(("{", "[")):
            message = text  # a plain-text error
    return clean_text(redact(message, secrets)) if message else ""


def error_for_status(
    status: int, said: str = "", retry_after: float | None = None
) -> ProviderError:
    """The typed error for an HTTP error status; ``said`` is the provider's cleaned message."""
    detail = f": {said}" if said else ""
    if status == 400:
        return BadRequest(f"The provider refused a parameter (400){detail}")
    if status == 401:
        return CredentialsRejected(f"The provider rejected the credentials (401){detail}")
    if status == 403:
        return QuotaExceeded(f"The provider refused the call: quota or plan limit (403){detail}")
    if status == 422:
        return InstanceNotConnected(
            f"The instance is not connected to WhatsApp; reconnect it at the provider (422){detail}"
        )
    wait = f"; retry in {retry_after:.0f} s" if retry_after is not None else ""
    if status == 429:
        return RateLimited(
            f"The provider is limiting the request rate (429){detail}{wait}", retry_after
        )
    if status == 408 or status >= 500:
        return UpstreamFailure(
            f"The provider failed to answer ({status}){detail}{wait}", retry_after
        )
    return ProviderError(f"The provider answered with status {status}{detail}")


def error_for_transport(
    exc: httpx.HTTPError, host: str, secrets: Iterable[str] = ()
) -> UpstreamFailure:
    """A transient error for a failure below HTTP: timeout, refused connection, broken answer."""
    reason = clean_text(redact(str(exc), secrets), 120)
    reason = f" ({reason})" if reason else ""
    if isinstance(exc, httpx.TimeoutException):
        kind = "connect" if isinstance(exc, httpx.ConnectTimeout) else "answer"
        return UpstreamFailure(f"The provider at {host} did not {kind} in time{reason}")
    if isinstance(exc, httpx.ConnectError):
        return UpstreamFailure(f"Could not connect to the provider at {host}{reason}")
    if isinstance(exc, httpx.RemoteProtocolError):
        return UpstreamFailure(f"The provider at {host} broke off the answer{reason}")
    return UpstreamFailure(f"The request to the provider at {host} failed{reason}")
