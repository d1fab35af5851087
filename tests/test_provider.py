"""WawpProvider through an injected httpx.MockTransport: requests, errors, secrets, transport."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import orjson
import pytest

from lid_tui import __version__
from lid_tui.identity import IdentityError
from lid_tui.provider.base import (
    BadRequest,
    CredentialsRejected,
    InsecureTransport,
    InstanceNotConnected,
    InvalidBaseUrl,
    ProviderConfigError,
    ProviderError,
    QuotaExceeded,
    RateLimited,
    TransientError,
    UnusablePayload,
    UpstreamFailure,
)
from lid_tui.provider.http import (
    MAX_RETRY_AFTER,
    build_client,
    is_loopback_host,
    parse_retry_after,
    redact,
)
from lid_tui.provider.wawp import WawpProvider

BASE = "https://api.wawp.net"
INSTANCE = "INST-42"
TOKEN = "tok_S3cr3t/with+odd=chars"
LID = "123456789012345"
BR = "5511987654321"

Handler = Callable[[httpx.Request], httpx.Response]


def json_response(status: int, payload: Any, **headers: str) -> httpx.Response:
    return httpx.Response(
        status,
        content=orjson.dumps(payload),
        headers={"content-type": "application/json"} | headers,
    )


@pytest.fixture
def seen() -> list[httpx.Request]:
    return []


@pytest.fixture
def make(seen: list[httpx.Request]) -> Iterator[Callable[[Handler], WawpProvider]]:
    """Build a provider whose requests go to ``handler`` (and are recorded in ``seen``)."""
    clients: list[httpx.Client] = []

    def build(handler: Handler, **options: Any) -> WawpProvider:
        def record(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return handler(request)

        client = httpx.Client(transport=httpx.MockTransport(record))
        clients.append(client)
        return WawpProvider(BASE, INSTANCE, TOKEN, client=client, **options)

    yield build
    for client in clients:
        client.close()


def assert_secret_free(error: BaseException) -> None:
    for text in (str(error), repr(error)):
        assert TOKEN not in text
        assert "S3cr3t" not in text
    assert error.__cause__ is None  # a chained httpx error would print the URL
    assert error.__suppress_context__ or error.__context__ is None


# --- requests ----------------------------------------------------------------------------


def test_list_page_sends_the_documented_query(make: Callable[..., WawpProvider], seen) -> None:
    provider = make(lambda request: json_response(200, {"0": {"lid": f"{LID}@lid", "number": BR}}))
    page = provider.list_page(2000, 1000)
    assert page.rows == [(LID, BR)]
    assert (page.raw_rows, page.skipped) == (1, 0)
    (request,) = seen
    assert request.method == "GET"
    assert request.url.path == "/v2/lids"
    assert dict(request.url.params) == {
        "instance_id": INSTANCE,
        "access_token": TOKEN,
        "limit": "1000",
        "offset": "2000",
    }


def test_list_page_accepts_every_shape(make: Callable[..., WawpProvider]) -> None:
    rows = [{"lid": f"{LID}:3@lid", "pn": f"{BR}@c.us"}, {"lid": "x"}]
    for payload in (rows, {"data": rows}, {"0": rows[0], "1": rows[1]}):
        page = make(lambda request, body=payload: json_response(200, body)).list_page(0, 10)
        assert (page.rows, page.raw_rows, page.skipped) == ([(LID, BR)], 2, 1)


def test_empty_page(make: Callable[..., WawpProvider]) -> None:
    assert make(lambda request: json_response(200, {})).list_page(0, 10).rows == []


def test_bad_page_window_is_refused_before_sending(make: Callable[..., WawpProvider], seen) -> None:
    provider = make(lambda request: json_response(200, []))
    for offset, limit in ((-1, 10), (0, 0)):
        with pytest.raises(ValueError, match="page window"):
            provider.list_page(offset, limit)
    assert seen == []


@pytest.mark.parametrize(
    ("status", "body", "count"),
    [
        (200, 1234, 1234),
        (200, "1234", 1234),
        (200, {"count": 12}, 12),
        (200, {"total": 13}, 13),
        (200, {"data": {"count": 14}}, 14),
        (200, {"count": "nope"}, None),
        (404, {"message": "Cannot GET /v2/lids/count"}, None),
        (405, {"message": "Method Not Allowed"}, None),
        (501, {"message": "Not Implemented"}, None),
    ],
)
def test_count(make: Callable[..., WawpProvider], seen, status: int, body: Any, count: int | None):
    assert make(lambda request: json_response(status, body)).count() == count
    assert seen[0].url.path == "/v2/lids/count"
    assert dict(seen[0].url.params) == {"instance_id": INSTANCE, "access_token": TOKEN}


def test_count_unparseable_body_is_unknown(make: Callable[..., WawpProvider]) -> None:
    assert make(lambda request: httpx.Response(200, content=b'{"count": 1')).count() is None
    assert make(lambda request: httpx.Response(200, content=b"")).count() is None


def test_count_still_raises_on_auth_errors(make: Callable[..., WawpProvider]) -> None:
    provider = make(lambda request: json_response(401, {"message": "Invalid access token"}))
    with pytest.raises(CredentialsRejected):
        provider.count()


@pytest.mark.parametrize(
    ("status", "body", "result"),
    [
        (200, {"lid": f"{LID}@lid", "number": BR}, (LID, BR)),
        (200, {"lid": f"{LID}:2@lid", "pn": f"{BR}@c.us"}, (LID, BR)),
        (200, {"lid": f"{LID}@lid"}, (LID, BR)),
        (200, {"data": {"lid": f"{LID}@lid", "number": BR}}, (LID, BR)),
        (200, {"lid": None, "number": BR}, None),
        (200, {"number": BR}, None),
        (404, {"message": "not found"}, None),
    ],
)
def test_resolve_number(make: Callable[..., WawpProvider], seen, status: int, body: Any, result):
    provider = make(lambda request: json_response(status, body))
    assert provider.resolve_number("+55 (11) 98765-4321") == result
    assert seen[0].url.path == f"/v2/lids/pn/{BR}"
    assert dict(seen[0].url.params) == {"instance_id": INSTANCE, "access_token": TOKEN}


def test_resolve_number_refuses_non_numbers_without_sending(make, seen) -> None:
    provider = make(lambda request: json_response(200, {}))
    for text in (f"{LID}@lid", "12", "../v2/lids?x="):
        with pytest.raises(IdentityError):
            provider.resolve_number(text)
    assert seen == []


def test_resolve_number_refuses_a_non_lid_answer(make: Callable[..., WawpProvider]) -> None:
    provider = make(lambda request: json_response(200, {"lid": "120363025246125486@g.us"}))
    with pytest.raises(UnusablePayload):
        provider.resolve_number(BR)


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "expected"),
    [
        (400, BadRequest, "The provider refused a parameter (400): "),
        (401, CredentialsRejected, "The provider rejected the credentials (401): "),
        (403, QuotaExceeded, "The provider refused the call: quota or plan limit (403): "),
        (
            422,
            InstanceNotConnected,
            "The instance is not connected to WhatsApp; reconnect it at the provider (422): ",
        ),
        (429, RateLimited, "The provider is limiting the request rate (429): "),
        (500, UpstreamFailure, "The provider failed to answer (500): "),
        (502, UpstreamFailure, "The provider failed to answer (502): "),
        (503, UpstreamFailure, "The provider failed to answer (503): "),
        (408, UpstreamFailure, "The provider failed to answer (408): "),
        (418, ProviderError, "The provider answered with status 418: "),
    ],
)
def test_error_statuses(
    make: Callable[..., WawpProvider], status: int, kind: type[ProviderError], expected: str
) -> None:
    body = {"status": status, "message": f"Invalid access token {TOKEN}", "error": "Oops"}
    provider = make(lambda request: json_response(status, body))
    with pytest.raises(ProviderError) as caught:
        provider.list_page(0, 100)
    error = caught.value
    assert type(error) is kind
    assert str(error).startswith(expected)
    assert "Invalid access token ***" in str(error)  # the provider's message, token redacted
    assert_secret_free(error)


def test_error_message_for_people(make: Callable[..., WawpProvider]) -> None:
    body = {"status": 401, "message": "Invalid access token", "error": "Unauthorized"}
    provider = make(lambda request: json_response(401, body))
    with pytest.raises(CredentialsRejected) as caught:
        provider.list_page(0, 100)
    assert str(caught.value) == "The provider rejected the credentials (401): Invalid access token"
    assert caught.value.exit_status == 3


def test_error_message_is_one_short_clean_line(make: Callable[..., WawpProvider]) -> None:
    message = "first line\nsecond\tline \x1b[31mred\u202e " + "blah " * 300
    provider = make(lambda request: json_response(400, {"message": message}))
    with pytest.raises(BadRequest) as caught:
        provider.list_page(0, 100)
    text = str(caught.value)
    assert text.startswith("The provider refused a parameter (400): first line second line ")
    assert text.endswith("…")
    assert len(text) < 250
    assert all(ch.isprintable() for ch in text)
    assert "\u202e" not in text


def test_error_without_a_json_body(make: Callable[..., WawpProvider]) -> None:
    provider = make(lambda request: httpx.Response(401, content=b"Unauthorized"))
    with pytest.raises(CredentialsRejected, match=r"credentials \(401\): Unauthorized$"):
        provider.list_page(0, 1)
    provider = make(lambda request: httpx.Response(401))
    with pytest.raises(CredentialsRejected, match=r"credentials \(401\)$"):
        provider.list_page(0, 1)


def test_error_with_an_html_page(make: Callable[..., WawpProvider]) -> None:
    page = b"<html><body>502 Bad Gateway</body></html>"
    provider = make(lambda request: httpx.Response(502, content=page))
    with pytest.raises(UpstreamFailure, match=r"\(502\): it answered with an HTML page"):
        provider.list_page(0, 1)


def test_error_embedded_in_a_200_answer(make: Callable[..., WawpProvider]) -> None:
    body = {"status": 422, "message": "session status is not as expected", "error": "x"}
    provider = make(lambda request: json_response(200, body))
    with pytest.raises(InstanceNotConnected, match="session status is not as expected"):
        provider.list_page(0, 1)


def test_list_404_points_at_the_base_url(make: Callable[..., WawpProvider]) -> None:
    provider = make(lambda request: json_response(404, {"message": "Cannot GET /v2/lids"}))
    with pytest.raises(ProviderError) as caught:
        provider.list_page(0, 1)
    assert str(caught.value) == (
        "The provider has no /v2/lids endpoint at api.wawp.net (404): Cannot GET /v2/lids; "
        "check the base URL"
    )


def test_redirects_are_not_followed(make: Callable[..., WawpProvider], seen) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        location = f"http://mirror.example.net/v2/lids?access_token={TOKEN}"
        return httpx.Response(301, headers={"location": location})

    with pytest.raises(ProviderError, match="redirected the request \\(301\\) to mirror") as caught:
        make(handler).list_page(0, 1)
    assert len(seen) == 1
    assert_secret_free(caught.value)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds(make: Callable[..., WawpProvider], status: int) -> None:
    provider = make(
        lambda request: json_response(status, {"message": "slow"}, **{"retry-after": "7"})
    )
    with pytest.raises(TransientError) as caught:
        provider.list_page(0, 1)
    assert caught.value.retry_after == 7.0
    assert str(caught.value).endswith("slow; retry in 7 s")


def test_retry_after_http_date(make: Callable[..., WawpProvider]) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    provider = make(lambda request: json_response(429, {}, **{"retry-after": when}))
    with pytest.raises(RateLimited) as caught:
        provider.list_page(0, 1)
    assert caught.value.retry_after is not None
    assert 110 <= caught.value.retry_after <= 120


def test_rate_limited_without_retry_after(make: Callable[..., WawpProvider]) -> None:
    with pytest.raises(RateLimited) as caught:
        make(lambda request: json_response(429, {})).list_page(0, 1)
    assert caught.value.retry_after is None
    assert str(caught.value) == "The provider is limiting the request rate (429)"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("0", 0.0),
        ("30", 30.0),
        ("2.5", 2.5),
        ("99999", MAX_RETRY_AFTER),
        ("Sun, 22 Nov 2026 10:01:00 GMT", 60.0),
        ("Sun, 22 Nov 2026 09:00:00 GMT", 0.0),  # in the past: no wait
        ("Mon, 23 Nov 2026 10:00:00 GMT", MAX_RETRY_AFTER),
        ("Sunday, 22-Nov-26 10:00:30 GMT", 30.0),  # RFC 850, still allowed by HTTP
        ("-5", None),
        ("soon", None),
        ("inf", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    now = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)
    assert parse_retry_after(value, now) == seconds


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, content=b"<!DOCTYPE html><title>Login</title>"),
        httpx.Response(200, content=b"\n  <html>", headers={"content-type": "application/json"}),
        httpx.Response(200, content=b"{}", headers={"content-type": "text/html; charset=utf-8"}),
    ],
)
def test_html_with_status_200(make: Callable[..., WawpProvider], response: httpx.Response) -> None:
    with pytest.raises(UpstreamFailure, match="answered with an HTML page \\(status 200\\)"):
        make(lambda request: response).list_page(0, 1)


@pytest.mark.parametrize("body", [b'{"0": {"lid": "123456789012345@lid", "num', b"[", b"nul"])
def test_truncated_json(make: Callable[..., WawpProvider], body: bytes) -> None:
    with pytest.raises(UnusablePayload, match="truncated or invalid JSON"):
        make(lambda request: httpx.Response(200, content=body)).list_page(0, 1)


def test_wrong_shape(make: Callable[..., WawpProvider]) -> None:
    with pytest.raises(UnusablePayload, match="not a mapping list \\(a string\\)"):
        make(lambda request: json_response(200, "hello")).list_page(0, 1)


@pytest.mark.parametrize(
    ("exception", "expected"),
    [
        (httpx.ConnectTimeout, "The provider at api.wawp.net did not connect in time"),
        (httpx.ReadTimeout, "The provider at api.wawp.net did not answer in time"),
        (httpx.ConnectError, "Could not connect to the provider at api.wawp.net"),
        (httpx.RemoteProtocolError, "The provider at api.wawp.net broke off the answer"),
        (httpx.ReadError, "The request to the provider at api.wawp.net failed"),
    ],
)
def test_transport_failures(
    make: Callable[..., WawpProvider], exception: type[httpx.RequestError], expected: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exception(f"boom while fetching {request.url}", request=request)

    with pytest.raises(UpstreamFailure) as caught:
        make(handler).list_page(0, 1)
    assert str(caught.value).startswith(expected)
    assert "access_token=***" in str(caught.value)
    assert_secret_free(caught.value)


# --- secrets -----------------------------------------------------------------------------


def test_display_name_and_repr_hide_the_token(make: Callable[..., WawpProvider]) -> None:
    provider = make(lambda request: json_response(200, []))
    assert provider.display_name == f"api.wawp.net · {INSTANCE}"
    assert TOKEN not in repr(provider)
    assert INSTANCE in repr(provider)


def test_redact() -> None:
    url = f"https://api.wawp.net/v2/lids?instance_id=I&access_token={TOKEN}&limit=5"
    assert redact(url) == "https://api.wawp.net/v2/lids?instance_id=I&access_token=***&limit=5"
    assert redact("access_token=abc", ()) == "access_token=***"
    assert redact("ACCESS_TOKEN=abc def") == "ACCESS_TOKEN=*** def"
    assert redact("token: zzzzyyyy", ("zzzzyyyy",)) == "token: ***"
    assert redact(str(httpx.URL(url))).count("***") == 1
    encoded = str(httpx.URL(BASE, params={"x": TOKEN}))
    assert TOKEN not in encoded  # httpx encodes it; the encoded form is known too
    assert "S3cr3t" not in redact(encoded)


def test_httpx_log_records_are_redacted(
    make: Callable[..., WawpProvider], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    make(lambda request: json_response(200, [])).list_page(0, 10)
    logging.getLogger("httpx").debug("retrying %s", f"{BASE}/v2/lids?access_token={TOKEN}")
    httpx_records = [record for record in caplog.records if record.name == "httpx"]
    assert len(httpx_records) == 2
    assert "access_token=***" in httpx_records[0].getMessage()
    assert "HTTP Request: GET" in httpx_records[0].getMessage()
    assert "S3cr3t" not in caplog.text
    assert TOKEN not in caplog.text


# --- construction and transport ------------------------------------------------------------


@pytest.mark.parametrize(
    "base_url",
    ["http://127.0.0.1:8080", "http://localhost:9000/", "http://[::1]:9000", "http://127.5.6.7"],
)
def test_plain_http_to_loopback_is_allowed(base_url: str) -> None:
    with WawpProvider(base_url, INSTANCE, TOKEN) as provider:
        assert provider.display_name.endswith(INSTANCE)


@pytest.mark.parametrize(
    "base_url", ["http://api.wawp.net", "http://10.0.0.1:8080", "http://localhost.evil.example"]
)
def test_plain_http_elsewhere_is_refused(base_url: str) -> None:
    with pytest.raises(InsecureTransport, match="travel unencrypted") as caught:
        WawpProvider(base_url, INSTANCE, TOKEN)
    assert caught.value.exit_status == 2
    with WawpProvider(base_url, INSTANCE, TOKEN, allow_insecure_http=True) as provider:
        assert provider.display_name.endswith(INSTANCE)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.255.0.9", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        ("LOCALHOST.", True),
        ("128.0.0.1", False),
        ("0.0.0.0", False),
        ("example.com", False),
        ("localhost.example.com", False),
    ],
)
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(
    ("base_url", "message"),
    [
        ("", "must start with https://"),
        ("api.wawp.net", "must start with https://"),
        ("ftp://api.wawp.net", "must start with https://"),
        ("ftp://user:S3cr3t@api.wawp.net", "'ftp://\\*\\*\\*@api.wawp.net' must start with"),
        ("https://", "has no host name"),
        ("https://user:pw@api.wawp.net", "user name or password"),
        (f"https://api.wawp.net/?access_token={TOKEN}", "query or fragment"),
        ("https://exa mple.com", "not a valid URL"),
        ("https://exa\x00mple.com", "not a valid URL"),
        ("https://api.wawp.net:99999", "bad port"),
        ("https://[::1", "not a valid URL"),
    ],
)
def test_invalid_base_url(base_url: str, message: str) -> None:
    with pytest.raises(InvalidBaseUrl, match=message) as caught:
        WawpProvider(base_url, INSTANCE, TOKEN)
    assert isinstance(caught.value, ValueError)
    assert caught.value.exit_status == 2
    assert_secret_free(caught.value)


@pytest.mark.parametrize(
    ("instance", "token", "message"),
    [("", TOKEN, "instance id is missing"), (INSTANCE, "  ", "access token is missing")],
)
def test_missing_settings(instance: str, token: str, message: str) -> None:
    with pytest.raises(ProviderConfigError, match=message) as caught:
        WawpProvider(BASE, instance, token)
    assert caught.value.exit_status == 2


def test_international_host_name_is_accepted() -> None:
    with WawpProvider("https://bücher.example", INSTANCE, TOKEN) as provider:
        assert provider.display_name == f"xn--bcher-kva.example · {INSTANCE}"


def test_base_url_keeps_a_path_prefix(seen: list[httpx.Request]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return json_response(200, [])

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        provider = WawpProvider("https://gw.example.com:8443/wawp/", INSTANCE, TOKEN, client=client)
        provider.list_page(0, 1)
        assert provider.display_name == f"gw.example.com:8443 · {INSTANCE}"
    assert seen[0].url.path == "/wawp/v2/lids"


def test_own_client_settings_and_close() -> None:
    client = build_client(15.0)
    assert client.headers["user-agent"] == f"lid-tui/{__version__}"
    assert client.timeout.read == 15.0
    assert client.timeout.connect == 10.0
    assert not client.follow_redirects
    client.close()
    provider = WawpProvider(BASE, INSTANCE, TOKEN)
    with provider:
        pass
    assert provider._client.is_closed


def test_injected_client_is_left_open() -> None:
    with httpx.Client(
        transport=httpx.MockTransport(lambda request: json_response(200, []))
    ) as client:
        WawpProvider(BASE, INSTANCE, TOKEN, client=client).close()
        assert not client.is_closed
