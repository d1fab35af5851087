"""The demo server, over real HTTP on loopback: routes, shapes, errors, generations, quirks
and every injected fault, each observed the way a client would see it."""

from __future__ import annotations

import collections
import http.client
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from lid_tui.demo.data import DemoDataset
from lid_tui.demo.faults import Fault, FaultKind, FaultRoute
from lid_tui.demo.server import DemoServer
from lid_tui.identity import IdentityError, lid_digits, number_digits

AUTH = {"instance_id": "demo", "access_token": "demo-token"}
PHONE_FIELDS = ("number", "pn", "phone", "phoneNumber")

MakeServer = Callable[..., DemoServer]


@pytest.fixture
def make_server() -> Iterator[MakeServer]:
    servers: list[DemoServer] = []

    def make(size: int = 500, seed: int = 7, **options: Any) -> DemoServer:
        server = DemoServer(DemoDataset(size, seed), **options).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def client_for(server: DemoServer, timeout: float = 5.0) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, timeout=timeout)


def listing(client: httpx.Client, offset: int = 0, limit: int = 100) -> httpx.Response:
    return client.get("/v2/lids", params={**AUTH, "limit": limit, "offset": offset})


def page_items(payload: Any) -> list[Any]:
    """The rows of a page in any of the three shapes."""
    if isinstance(payload, dict) and "data" in payload:
        return payload["data"]
    if isinstance(payload, dict):
        return [payload[key] for key in sorted(payload, key=int)]
    return payload


def normalise(item: Any) -> tuple[str, str | None] | None:
    """``(lid_digits, number_digits | None)``, or None for a row with no usable LID."""
    if not isinstance(item, dict) or not isinstance(item.get("lid"), str):
        return None
    try:
        lid = lid_digits(item["lid"])
    except IdentityError:
        return None
    phone = next((item[field] for field in PHONE_FIELDS if item.get(field)), None)
    return lid, None if phone is None else number_digits(phone)


def fetch_everything(client: httpx.Client, limit: int = 1000) -> dict[str, Any]:
    """A naive client: page until an empty page, retry anything that is not a JSON page."""
    mappings: dict[str, str | None] = {}
    seen: collections.Counter[str] = collections.Counter()
    failures: collections.Counter[str] = collections.Counter()
    page_sizes: list[int] = []
    shapes: set[str] = set()
    raw_items: list[Any] = []
    offset = 0
    while True:
        for _attempt in range(5):
            response = listing(client, offset, limit)
            if response.headers["content-type"].startswith("application/json"):
                if response.status_code == 200:
                    break
                failures[f"{response.status_code} json"] += 1
                if response.status_code == 429:
                    failures[f"retry-after {response.headers['retry-after']}"] += 1
            else:
                failures[f"{response.status_code} html"] += 1
        else:
            pytest.fail(f"offset {offset} kept failing")
        payload = response.json()
        shapes.add(type(payload).__name__ + ("+data" if "data" in payload else ""))
        items = page_items(payload)
        if not items:
            break
        page_sizes.append(len(items))
        raw_items.extend(items)
        for item in items:
            row = normalise(item)
            if row is None:
                seen["garbage"] += 1
            elif row[0] in mappings:
                assert mappings[row[0]] == row[1]
                seen["duplicate"] += 1
            else:
                mappings[row[0]] = row[1]
        offset += len(items)
    return {
        "mappings": mappings,
        "seen": seen,
        "failures": failures,
        "page_sizes": page_sizes,
        "shapes": shapes,
        "raw_items": raw_items,
    }


# -- routes and shapes ------------------------------------------------------------------------


def test_listing_has_the_documented_shape_by_default(make_server: MakeServer) -> None:
    server = make_server(size=300)
    rows = server.dataset.all_rows(0)
    with client_for(server) as client:
        response = client.get("/v2/lids", params=AUTH)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        payload = response.json()
        assert list(payload) == [str(index) for index in range(100)]  # limit defaults to 100
        assert payload["0"] == {"lid": f"{rows[0][0]}@lid", "number": rows[0][1]}
        payload = listing(client, offset=120, limit=50).json()
        assert [(item["lid"], item["number"]) for item in payload.values()] == [
            (f"{lid}@lid", number) for lid, number in rows[120:170]
        ]
        hidden_at = next(index for index, (_, number) in enumerate(rows) if number is None)
        assert listing(client, hidden_at, 1).json() == {
            "0": {"lid": f"{rows[hidden_at][0]}@lid", "number": None}
        }


def test_pages_are_capped_and_the_end_is_an_empty_page(make_server: MakeServer) -> None:
    server = make_server(size=230, max_page=50)
    with client_for(server) as client:
        result = fetch_everything(client, limit=80)
        assert len(listing(client, 50, 30).json()) == 30
        assert len(listing(client, 200, 1000).json()) == 30
        assert listing(client, 230, 100).json() == {}
        assert listing(client, 10_000, 100).json() == {}
    assert result["page_sizes"] == [50, 50, 50, 50, 30]  # short pages before the end
    assert result["mappings"] == dict(server.dataset.all_rows(0))


def test_list_shape_is_wahas(make_server: MakeServer) -> None:
    server = make_server(size=400, response_shape="list")
    rows = server.dataset.all_rows(0)
    with client_for(server) as client:
        payload = listing(client, 0, 400).json()
        assert listing(client, 400, 10).json() == []
    assert isinstance(payload, list)
    assert payload == [
        {"lid": f"{lid}@lid", "pn": None if number is None else f"{number}@c.us"}
        for lid, number in rows
    ]
    assert any(item["pn"] is None for item in payload)


def test_envelope_shape(make_server: MakeServer) -> None:
    server = make_server(size=40, response_shape="envelope")
    rows = server.dataset.all_rows(0)
    with client_for(server) as client:
        payload = listing(client, 0, 10).json()
        assert listing(client, 40, 10).json() == {"data": []}
    assert payload == {"data": [{"lid": f"{lid}@lid", "phone": n} for lid, n in rows[:10]]}


def test_rotate_cycles_shapes_and_phone_fields(make_server: MakeServer) -> None:
    server = make_server(size=1000, response_shape="rotate")
    with client_for(server) as client:
        payloads = [listing(client, offset, 100).json() for offset in range(0, 600, 100)]
        result = fetch_everything(client, limit=100)
    assert [type(p).__name__ for p in payloads] == ["dict", "list", "dict"] * 2
    assert "data" in payloads[2] and "data" not in payloads[0]
    fields = {field for payload in payloads for item in page_items(payload) for field in item} - {
        "lid"
    }
    assert fields == set(PHONE_FIELDS)
    assert result["shapes"] == {"dict", "list", "dict+data"}
    assert result["mappings"] == dict(server.dataset.all_rows(0))


@pytest.mark.parametrize(
    ("style", "status", "body"),
    [("object", 200, {"count": 321}), ("bare", 200, 321), ("missing", 404, None)],
)
def test_count_styles(make_server: MakeServer, style: str, status: int, body: Any) -> None:
    server = make_server(size=321, count_style=style)
    with client_for(server) as client:
        response = client.get("/v2/lids/count", params=AUTH)
    assert response.status_code == status
    if body is None:
        assert response.json()["status"] == 404 and response.json()["message"]
    else:
        assert response.json() == body
        assert response.content == json.dumps(body, separators=(",", ":")).encode()


def test_resolving_one_number(make_server: MakeServer) -> None:
    server = make_server(size=200)
    lid, number = next(row for row in server.dataset.all_rows(0) if row[1] is not None)
    with client_for(server) as client:
        found = client.get(f"/v2/lids/pn/{number}", params=AUTH)
        typed = client.get(f"/v2/lids/pn/%2B{number}", params=AUTH)
        as_jid = client.get(f"/v2/lids/pn/{number}@c.us", params=AUTH)
        unknown = client.get("/v2/lids/pn/5511900000000", params=AUTH)
        invalid = client.get("/v2/lids/pn/not-a-number", params=AUTH)
    assert found.json() == {"lid": f"{lid}@lid", "number": number}
    assert typed.json() == found.json() == as_jid.json()
    assert unknown.json() == {"lid": None, "number": "5511900000000"}
    assert invalid.status_code == 400 and invalid.json()["status"] == 400


def test_concurrent_clients_get_consistent_pages(make_server: MakeServer) -> None:
    server = make_server(size=3000, max_page=250)
    results: dict[int, Any] = {}

    def fetch(offset: int) -> None:
        with client_for(server) as client:
            results[offset] = page_items(listing(client, offset, 250).json())

    threads = [threading.Thread(target=fetch, args=(offset,)) for offset in range(0, 3000, 250)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    rows = [normalise(item) for offset in sorted(results) for item in results[offset]]
    assert rows == server.dataset.all_rows(0)


def test_connections_are_kept_alive(make_server: MakeServer) -> None:
    server = make_server(size=50)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    query = "instance_id=demo&access_token=demo-token&limit=5"
    try:
        for offset in (0, 5, 10):
            connection.request("GET", f"/v2/lids?{query}&offset={offset}")
            response = connection.getresponse()
            body = response.read()
            assert response.status == 200
            assert int(response.headers["Content-Length"]) == len(body)
            assert response.headers.get("Connection") != "close"
        socket_before = connection.sock
        connection.request("GET", "/v2/lids/count?instance_id=demo&access_token=demo-token")
        connection.getresponse().read()
        assert connection.sock is socket_before  # the same connection served every request
    finally:
        connection.close()
    assert server.requests_served == 4


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"access_token": "demo-token"}, 400, "instance_id is required"),
        ({"instance_id": "other", "access_token": "demo-token"}, 400, "Invalid instance_id"),
        ({"instance_id": "demo"}, 401, "Invalid access token"),
        ({"instance_id": "demo", "access_token": "wrong"}, 401, "Invalid access token"),
        ({**AUTH, "limit": "ten"}, 400, "limit must be a whole number"),
        ({**AUTH, "offset": "-5"}, 400, "offset must be a whole number"),
        ({**AUTH, "limit": "0"}, 400, "limit must be at least 1"),
    ],
)
def test_bad_requests_get_the_providers_error_shape(
    make_server: MakeServer, params: dict[str, str], status: int, message: str
) -> None:
    server = make_server(size=10)
    with client_for(server) as client:
        response = client.get("/v2/lids", params=params)
    assert response.status_code == status
    reason = {400: "Bad Request", 401: "Unauthorized"}[status]
    assert response.json() == {"status": status, "message": message, "error": reason}


def test_every_route_checks_credentials_and_unknown_paths_are_404(
    make_server: MakeServer,
) -> None:
    server = make_server(size=10)
    with client_for(server) as client:
        for path in ("/v2/lids", "/v2/lids/count", "/v2/lids/pn/5511987654321"):
            assert client.get(path, params={**AUTH, "access_token": "x"}).status_code == 401
        missing = client.get("/v2/contacts", params=AUTH)
    assert missing.status_code == 404
    assert missing.json()["error"] == "Not Found"


def test_the_access_token_is_never_logged(make_server: MakeServer) -> None:
    lines: list[str] = []
    server = make_server(size=10, access_token="s3cret-t0ken", request_log=lines.append)
    with client_for(server) as client:
        client.get("/v2/lids", params={"instance_id": "demo", "access_token": "s3cret-t0ken"})
        client.get("/v2/lids", params={"instance_id": "demo", "access_token": "guess"})
    assert len(lines) == 2
    assert all("access_token=***" in line for line in lines)
    assert not any("s3cret" in line or "guess" in line for line in lines)
    assert lines[0].endswith(" 200") and lines[1].endswith(" 401")


# -- generations ------------------------------------------------------------------------------


def test_a_second_full_listing_sees_the_next_generation(make_server: MakeServer) -> None:
    server = make_server(size=2000)
    changes = server.dataset.changes(1)
    with client_for(server) as client:
        # An unfinished listing does not advance the generation.
        listing(client, 0, 1000)
        assert listing(client, 0, 1000).status_code == 200
        assert server.generation == 0
        first = fetch_everything(client)
        assert server.generation == 0
        count = client.get("/v2/lids/count", params=AUTH).json()["count"]
        assert server.generation == 1  # the count already reports the grown list
        second = fetch_everything(client)
    assert first["mappings"] == server.expected_mappings(0) == dict(server.dataset.all_rows(0))
    assert second["mappings"] == server.expected_mappings(1)
    assert count == len(second["mappings"]) == 2000 + len(changes.added)
    for change in changes.number_changes:
        assert (first["mappings"][change.lid], second["mappings"][change.lid]) == (
            change.old_number,
            change.new_number,
        )
    for change in changes.reregistrations:
        assert change.old_lid in first["mappings"] and change.old_lid not in second["mappings"]
        assert second["mappings"][change.new_lid] == change.number


def test_pages_fetched_out_of_order_stay_in_one_generation(make_server: MakeServer) -> None:
    """A concurrent client may get the last page before the first: no advance in between."""
    server = make_server(size=1000, max_page=250)
    with client_for(server) as client:
        order = [750, 1000, 250, 500, 0]
        first = [normalise(i) for o in order for i in page_items(listing(client, o, 250).json())]
        assert server.generation == 0
        second = fetch_everything(client, limit=250)
    assert sorted(first) == sorted(server.dataset.all_rows(0))
    assert server.generation == 1
    assert second["mappings"] == server.expected_mappings(1)


def test_listing_offset_zero_advances_after_the_end_was_seen(make_server: MakeServer) -> None:
    server = make_server(size=100, max_page=100)
    with client_for(server) as client:
        assert len(listing(client, 0, 100).json()) == 100  # reaches the total: end seen
        assert len(listing(client, 0, 100).json()) == 100
        assert server.generation == 1
        assert len(listing(client, 100, 100).json()) == 3  # generation 1 grew by 3
    assert server.advance() == 2
    assert server.generation == 2


# -- quirks -----------------------------------------------------------------------------------


def test_quirks_mode_is_messy_but_holds_exactly_the_data_set(make_server: MakeServer) -> None:
    server = make_server(size=5000, quirks=True, quirks_retry_after=0)
    with client_for(server) as client:
        count = client.get("/v2/lids/count", params=AUTH).json()["count"]
        result = fetch_everything(client, limit=1000)
    assert result["mappings"] == server.expected_mappings(0) == dict(server.dataset.all_rows(0))
    assert result["seen"]["garbage"] == server.garbage_rows() > 100
    assert result["seen"]["duplicate"] == server.duplicate_rows() > 10
    assert count == sum(result["page_sizes"]) == server.total_rows()
    assert max(result["page_sizes"]) == 700  # capped below the 1000 asked for
    assert result["shapes"] == {"dict", "list", "dict+data"}
    # Transient failures, once each: a retry of the same request worked.
    assert result["failures"] == {
        "502 html": 1,
        "429 json": 1,
        "retry-after 0": 1,
        "200 html": 1,
    }
    text = json.dumps(result["raw_items"])
    for form in (":7@lid", "@s.whatsapp.net", ":12@s.whatsapp.net", "@c.us", '"+', "@g.us"):
        assert form in text
    assert any(isinstance(item, str) for item in result["raw_items"])
    assert any(isinstance(item, dict) and item.get("lid") is None for item in result["raw_items"])


def test_quirks_duplicates_land_on_the_next_page(make_server: MakeServer) -> None:
    server = make_server(size=1500, quirks=True, quirks_retry_after=0)
    with client_for(server) as client:
        result = fetch_everything(client, limit=700)
    items = result["raw_items"]
    first_page, second_page = items[:700], items[700:1400]
    last_real = next(row for row in map(normalise, reversed(first_page)) if row is not None)
    assert normalise(second_page[0]) == last_real


# -- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 403, 422, 429, 500, 502, 503])
def test_status_faults_fire_once_with_a_json_error(make_server: MakeServer, status: int) -> None:
    server = make_server(size=50, faults=[Fault(FaultKind.STATUS, status=status)])
    with client_for(server) as client:
        failed = listing(client)
        recovered = listing(client)
    assert failed.status_code == status
    body = failed.json()
    assert body["status"] == status and body["message"] and body["error"]
    if status == 422:
        assert body["message"] == "session status is not as expected"
    assert failed.headers.get("retry-after") == ("1" if status == 429 else None)
    assert recovered.status_code == 200


def test_fault_timing_start_times_route_and_runtime_changes(make_server: MakeServer) -> None:
    server = make_server(size=50)
    server.set_faults([Fault(FaultKind.STATUS, start=2, times=2, status=503, retry_after=3)])
    with client_for(server) as client:
        statuses = [listing(client).status_code for _ in range(5)]
        assert statuses == [200, 503, 503, 200, 200]
        server.set_faults([Fault(FaultKind.STATUS, start=2, times=None, status=500)])
        statuses = [listing(client).status_code for _ in range(4)]
        assert statuses == [200, 500, 500, 500]
        server.set_faults([Fault(FaultKind.STATUS, status=403, route=FaultRoute.COUNT)])
        assert listing(client).status_code == 200
        assert client.get("/v2/lids/count", params=AUTH).status_code == 403
        assert client.get("/v2/lids/count", params=AUTH).status_code == 200
        server.set_faults([Fault(FaultKind.STATUS, start=3, status=502, route=FaultRoute.ANY)])
        client.get("/v2/lids/count", params=AUTH)
        listing(client)
        assert client.get("/v2/lids/pn/5511987654321", params=AUTH).status_code == 502
        server.set_faults([])
        assert listing(client).status_code == 200


def test_html_with_status_200(make_server: MakeServer) -> None:
    server = make_server(size=50, faults=[Fault(FaultKind.HTML200)])
    with client_for(server) as client:
        response = listing(client)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_truncated_body(make_server: MakeServer) -> None:
    server = make_server(size=50, faults=[Fault(FaultKind.TRUNCATED)])
    with client_for(server) as client:
        response = listing(client, 0, 20)
        whole = listing(client, 0, 20)
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(response.content)
    assert whole.content.startswith(response.content)
    assert 0 < len(response.content) < len(whole.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_truncating_a_bare_count_leaves_no_valid_number(make_server: MakeServer) -> None:
    fault = Fault(FaultKind.TRUNCATED, route=FaultRoute.COUNT)
    server = make_server(size=5000, count_style="bare", faults=[fault])
    with client_for(server) as client:
        response = client.get("/v2/lids/count", params=AUTH)
    assert response.status_code == 200
    assert response.content == b"" and response.headers["content-length"] == "0"


def test_faults_are_checked_when_made() -> None:
    with pytest.raises(ValueError):
        Fault(FaultKind.STATUS, start=0)
    with pytest.raises(ValueError):
        Fault(FaultKind.GROW, where="middle")


def test_a_server_bug_is_a_json_500_not_a_dropped_connection(
    make_server: MakeServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    server = make_server(size=50)

    def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(server.dataset, "rows", broken)
    with client_for(server) as client:
        response = listing(client)
        assert client.get("/v2/lids/count", params=AUTH).status_code == 200
    assert response.status_code == 500
    assert response.json()["status"] == 500
    assert "demo-token" not in caplog.text and "access_token=***" in caplog.text


def test_connection_reset(make_server: MakeServer) -> None:
    server = make_server(size=50, faults=[Fault(FaultKind.RESET)])
    with client_for(server) as client:
        with pytest.raises(httpx.TransportError):
            listing(client)
        assert listing(client).status_code == 200


def test_slow_answer_trips_a_client_timeout(make_server: MakeServer) -> None:
    server = make_server(size=50, faults=[Fault(FaultKind.SLOW, seconds=0.6)])
    with client_for(server, timeout=0.2) as client:
        with pytest.raises(httpx.ReadTimeout):
            listing(client)
        assert listing(client).status_code == 200


def test_page_delay_slows_every_listing_request(make_server: MakeServer) -> None:
    server = make_server(size=50, page_delay=0.15)
    with client_for(server) as client:
        started = time.perf_counter()
        listing(client)
        listing(client, 10)
        assert time.perf_counter() - started >= 0.3
        started = time.perf_counter()
        client.get("/v2/lids/count", params=AUTH)
        assert time.perf_counter() - started < 0.15


def test_repeat_page_answers_the_previous_page_again(make_server: MakeServer) -> None:
    server = make_server(size=100, faults=[Fault(FaultKind.REPEAT_PAGE, start=2)])
    with client_for(server) as client:
        first = listing(client, 0, 30).json()
        repeated = listing(client, 30, 30).json()
        real = listing(client, 30, 30).json()
    assert repeated == first
    assert real != first
    assert real["0"]["lid"] == f"{server.dataset.all_rows(0)[30][0]}@lid"


def test_growing_at_the_front_shifts_offsets(make_server: MakeServer) -> None:
    server = make_server(size=100, faults=[Fault(FaultKind.GROW, start=2, rows=5, where="front")])
    with client_for(server) as client:
        first = [normalise(item) for item in listing(client, 0, 50).json().values()]
        second = [normalise(item) for item in listing(client, 50, 50).json().values()]
        count = client.get("/v2/lids/count", params=AUTH).json()["count"]
        rest = [normalise(item) for item in listing(client, 100, 50).json().values()]
    assert second[:5] == first[-5:]  # the same LIDs again: the list moved under the client
    assert count == 105
    seen = dict(row for row in first + second + rest if row is not None)
    assert seen == dict(server.dataset.all_rows(0))  # the new front rows were missed
    expected = server.expected_mappings()
    assert len(expected) == 105 and expected.items() >= seen.items()


def test_growing_at_the_end_adds_valid_new_rows(make_server: MakeServer) -> None:
    server = make_server(size=100, faults=[Fault(FaultKind.GROW, start=2, rows=4, where="end")])
    original = dict(server.dataset.all_rows(0))
    with client_for(server) as client:
        listing(client, 0, 60)
        result = fetch_everything(client, limit=60)
        grown = {lid: n for lid, n in result["mappings"].items() if lid not in original}
        lid, number = next(iter(grown.items()))
        resolved = client.get(f"/v2/lids/pn/{number}", params=AUTH).json()
    assert result["mappings"] == server.expected_mappings()
    assert len(grown) == 4 and all(grown.values())
    assert list(result["mappings"])[-4:] == list(grown)  # at the end of the list
    assert resolved == {"lid": f"{lid}@lid", "number": number}


def test_stop_closes_the_port(make_server: MakeServer) -> None:
    server = make_server(size=10)
    with client_for(server) as client:
        assert listing(client).status_code == 200
    server.stop()
    server.stop()  # twice is fine
    with (
        httpx.Client(base_url=server.base_url, timeout=2) as client,
        pytest.raises(httpx.ConnectError),
    ):
        listing(client)


def test_context_manager_and_foreground_serving() -> None:
    dataset = DemoDataset(20)
    with DemoServer(dataset) as server, client_for(server) as client:
        assert listing(client).status_code == 200
    foreground = DemoServer(dataset)
    assert foreground.port != 0  # bound at construction: base_url is final before serving
    thread = threading.Thread(target=foreground.serve_forever, daemon=True)
    thread.start()
    with client_for(foreground) as client:
        assert listing(client).status_code == 200
    foreground.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()
    with pytest.raises(RuntimeError):
        foreground.start()


def test_a_busy_port_fails_at_construction(make_server: MakeServer) -> None:
    server = make_server(size=10)
    with pytest.raises(OSError):
        DemoServer(DemoDataset(10), port=server.port)
