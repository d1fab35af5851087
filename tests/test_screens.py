"""Behaviour of the About and Connect screens, hosted in a bare App so they are tested alone."""

from __future__ import annotations

import io
import json
import stat
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from rich.console import Console
from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input

from lid_tui.config import Settings, load_settings
from lid_tui.provider.base import (
    CredentialsRejected,
    InsecureTransport,
    InstanceNotConnected,
    InvalidBaseUrl,
    QuotaExceeded,
    RateLimited,
    UnusablePayload,
    UpstreamFailure,
)
from lid_tui.tui.screens import AboutScreen, ConnectScreen
from lid_tui.tui.screens.about import ABOUT_TEXT

pytestmark = pytest.mark.anyio

TOKEN = "tok-Secret-9f8e7d6c"
NEW_TOKEN = "tok-Fresh-1a2b3c4d"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Host(App[None]):
    """Pushes one screen on mount and records what it dismisses with."""

    def __init__(self, screen: Screen[Any]) -> None:
        super().__init__()
        self._first = screen
        self.results: list[Any] = []

    def on_mount(self) -> None:
        self.push_screen(self._first, callback=self.results.append)


def screen_text(app: App[Any]) -> str:
    """Everything visible on the terminal, as plain text."""
    console = Console(
        width=app.size.width,
        height=app.size.height,
        file=io.StringIO(),
        record=True,
        force_terminal=True,
        color_system="truecolor",
    )
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text()


async def settled_text(pilot: Pilot[Any]) -> str:
    """The screen's text once two frames agree: on a loaded machine one ``pause`` may return
    before a pending layout is drawn (the screen then reads blank)."""
    text = screen_text(pilot.app)
    for _ in range(50):
        await pilot.pause(0.01)
        again = screen_text(pilot.app)
        if again == text and again.strip():
            break
        text = again
    return text


def assert_token_hidden(app: App[Any], *tokens: str) -> None:
    text = screen_text(app)
    for token in tokens:
        assert token not in text
        assert token[4:12] not in text  # not even a fragment of it
    for field in app.screen.query(Input):
        if field.id != "access_token":
            assert all(token not in field.value for token in tokens)


class FakeProvider:
    display_name = "fake.example · inst-1"

    def __init__(self, count: int | None = 0, error: Exception | None = None) -> None:
        self._count = count
        self._error = error
        self.closed = False
        self.calls: list[tuple[str, str, str]] = []

    def count(self) -> int | None:
        if self._error is not None:
            raise self._error
        return self._count

    def close(self) -> None:
        self.closed = True


class Factory:
    """A provider factory that records what it was given."""

    def __init__(self, provider: FakeProvider | None = None, error: Exception | None = None):
        self.provider = provider or FakeProvider()
        self.error = error
        self.calls: list[tuple[str, str, str]] = []

    def __call__(self, base_url: str, instance_id: str, token: str) -> FakeProvider:
        self.calls.append((base_url, instance_id, token))
        if self.error is not None:
            raise self.error
        return self.provider


def saved_settings() -> Settings:
    return Settings.model_validate(
        {"base_url": "https://api.wawp.net", "instance_id": "inst-1", "access_token": TOKEN}
    )


async def run_test_connection(pilot: Pilot[Any], *, click: bool = True) -> str:
    """Start a connection test (with the button, or with its key), wait, return the screen."""
    if click:
        await pilot.click("#test")
    else:
        await pilot.press("ctrl+t")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    return screen_text(pilot.app)


# -- About ------------------------------------------------------------------------------------


async def test_about_opens_and_explains_the_key_facts() -> None:
    app = Host(AboutScreen())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, AboutScreen)
        top = screen_text(app)
        assert "About LIDs" in top
        assert "@lid" in top
        assert "not one" in top  # it looks like a phone number, it is not one
        await pilot.press("end")
        await pilot.pause()
        bottom = screen_text(app)
        for form in ("@c.us", "@s.whatsapp.net", ":12", "@g.us"):
            assert form in bottom
    # Facts that must be in the text, wherever they scroll to.
    for fact in ("Number → LID", "LID → number", "never", "keeps their LID", "new LID", "history"):
        assert fact in ABOUT_TEXT


async def test_about_closes_with_each_of_its_keys() -> None:
    """Installed once (as the app may do, to reopen it instantly), pushed once per key."""
    app = Host(AboutScreen())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("escape")
        app.install_screen(AboutScreen(), name="about")
        for key in ("q", "question_mark", "f1", "escape"):
            await pilot.pause()
            assert not isinstance(app.screen, AboutScreen)
            app.push_screen("about", callback=app.results.append)
            await pilot.pause()
            assert isinstance(app.screen, AboutScreen)
            await pilot.press(key)
        await pilot.pause()
        assert not isinstance(app.screen, AboutScreen)
        assert app.results == [None] * 5


# -- Connect: testing the connection -----------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "expected"),
    [(1234, "Connected: 1,234 mappings"), (None, "Connected (count unknown)")],
)
async def test_connect_test_success(tmp_path: Path, count: int | None, expected: str) -> None:
    factory = Factory(FakeProvider(count))
    screen = ConnectScreen(saved_settings(), tmp_path / "c.toml", provider_factory=factory)
    app = Host(screen)
    async with app.run_test(size=(100, 30)) as pilot:
        text = await run_test_connection(pilot)
        assert expected in text
        # The saved token was used although the field stayed empty; nothing was saved.
        assert factory.calls == [("https://api.wawp.net", "inst-1", TOKEN)]
        assert factory.provider.closed
        assert_token_hidden(app, TOKEN)
        assert not (tmp_path / "c.toml").exists()
        assert app.results == []


FAILURES: list[tuple[Exception, str]] = [
    (CredentialsRejected(f"401 for access_token={TOKEN}"), "Credentials rejected"),
    (InstanceNotConnected("session status is not as expected"), "Instance not connected"),
    (UpstreamFailure(f"cannot connect ({TOKEN})"), "Provider unreachable"),
    (InsecureTransport("Refusing plain http:// to example.com"), "Insecure http refused"),
    (InvalidBaseUrl("The base URL 'ftp://x' must start with https://"), "Invalid URL"),
    (RateLimited("429", retry_after=30), "Rate limited"),
    (QuotaExceeded("plan limit"), "quota or plan"),
    (UnusablePayload("not a list"), "Unexpected answer"),
    (RuntimeError(f"boom {TOKEN}"), "Test failed"),
]


async def test_connect_test_failures(tmp_path: Path) -> None:
    """Each failure shows its own headline; none shows a traceback or the token."""
    factory = Factory()
    screen = ConnectScreen(saved_settings(), tmp_path / "c.toml", provider_factory=factory)
    app = Host(screen)
    async with app.run_test(size=(100, 30)) as pilot:
        for error, headline in FAILURES:
            factory.provider = FakeProvider(error=error)
            text = await run_test_connection(pilot, click=False)
            assert headline in text, text
            assert "Traceback" not in text
            assert_token_hidden(app, TOKEN)
            assert factory.provider.closed
            # The button is usable again for another try.
            assert not app.screen.query_one("#test").disabled
        assert app.results == []


async def test_connect_test_failure_while_building_the_provider(tmp_path: Path) -> None:
    """The real adapter refuses an insecure URL in its constructor: that is reported too,
    next to the URL field."""
    factory = Factory(error=InsecureTransport("Refusing plain http:// to example.com"))
    screen = ConnectScreen(saved_settings(), tmp_path / "c.toml", provider_factory=factory)
    app = Host(screen)
    async with app.run_test(size=(100, 30)) as pilot:
        text = await run_test_connection(pilot)
        assert "Insecure http refused" in text
        assert "Use https://" in text  # the inline note under the URL field
        assert app.screen.query_one("#base_url").has_class("-invalid")


async def test_connect_test_with_the_real_adapter_refuses_plain_http(tmp_path: Path) -> None:
    """The default factory builds the real adapter; plain http to a remote host never leaves."""
    screen = ConnectScreen(saved_settings(), tmp_path / "c.toml")
    app = Host(screen)
    async with app.run_test(size=(100, 30)) as pilot:
        field = app.screen.query_one("#base_url", Input)
        field.value = "http://example.com"
        text = await run_test_connection(pilot)
        assert "Insecure http refused" in text
        assert_token_hidden(app, TOKEN)


class _CountHandler(BaseHTTPRequestHandler):
    """A two-route stand-in for a provider: the count, for one instance and token."""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if query.get("access_token") != [TOKEN] or query.get("instance_id") != ["inst-1"]:
            body, status = {"status": 401, "message": "Unauthorized"}, 401
        elif url.path == "/v2/lids/count":
            body, status = {"count": 4321}, 200
        else:
            body, status = {"status": 404, "message": "no route"}, 404
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def count_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CountHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("token", "expected"), [("", "4,321 mappings"), ("wrong", "rejected")])
async def test_connect_test_against_a_local_server(
    tmp_path: Path, count_server: str, token: str, expected: str
) -> None:
    """End to end through the real adapter and HTTP, on loopback."""
    screen = ConnectScreen(saved_settings(), tmp_path / "c.toml")
    app = Host(screen)
    async with app.run_test(size=(100, 30)) as pilot:
        app.screen.query_one("#base_url", Input).value = count_server
        app.screen.query_one("#access_token", Input).value = token
        text = await run_test_connection(pilot)
        assert expected in text
        assert_token_hidden(app, TOKEN)


# -- Connect: saving ---------------------------------------------------------------------------


async def test_save_writes_a_private_file_and_dismisses_with_settings(tmp_path: Path) -> None:
    config = tmp_path / "lid-tui" / "config.toml"
    screen = ConnectScreen(Settings(), config, provider_factory=Factory())
    app = Host(screen)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert_token_hidden(app, NEW_TOKEN)
        app.screen.query_one("#base_url", Input).value = "https://gw.example.com/"
        app.screen.query_one("#instance_id", Input).value = "  inst-7 "
        app.screen.query_one("#access_token", Input).value = NEW_TOKEN
        await pilot.pause()
        assert_token_hidden(app, NEW_TOKEN)  # typed, but shown masked
        await pilot.click("#save")
        await pilot.pause()
        assert not isinstance(app.screen, ConnectScreen)
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert tomllib.loads(config.read_text()) == {
        "base_url": "https://gw.example.com",
        "instance_id": "inst-7",
        "access_token": NEW_TOKEN,
    }
    (result,) = app.results
    assert isinstance(result, Settings)
    assert (result.base_url, result.instance_id, result.token) == (
        "https://gw.example.com",
        "inst-7",
        NEW_TOKEN,
    )
    # What was written reads back as the same settings.
    assert load_settings(path=config, environ={}) == result


async def test_save_with_an_empty_token_field_keeps_the_saved_token(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('cache = "/data/lids.json"\naccess_token = "old"\n')
    screen = ConnectScreen(saved_settings(), config, provider_factory=Factory())
    app = Host(screen)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        token_field = app.screen.query_one("#access_token", Input)
        assert token_field.value == ""
        assert "saved" in token_field.placeholder
        assert "saved" in await settled_text(pilot)
        app.screen.query_one("#instance_id", Input).value = "inst-2"
        await pilot.press("ctrl+s")
        await pilot.pause()
    written = tomllib.loads(config.read_text())
    assert written["access_token"] == TOKEN
    assert written["instance_id"] == "inst-2"
    assert written["cache"] == "/data/lids.json"  # the file's own setting survives
    (result,) = app.results
    assert result.token == TOKEN


async def test_enter_moves_through_the_fields_and_saves_on_the_last(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    app = Host(ConnectScreen(Settings(), config, provider_factory=Factory()))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.focused is not None and app.focused.id == "instance_id"
        await pilot.press(*"i3", "enter", *"t9", "enter")
        await pilot.pause()
    assert app.results and app.results[0].instance_id == "i3"
    assert tomllib.loads(config.read_text())["access_token"] == "t9"


BAD_FIELDS = [
    ("instance_id", "", "Enter the instance id"),
    ("base_url", "", "Enter the API address"),
    ("base_url", "api.wawp.net", "Must start with https://"),
    ("base_url", "http://example.com", "Use https://"),
    ("base_url", "https://x.example/?access_token=1", "must not carry a query"),
]


async def test_save_refuses_bad_fields_inline(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    app = Host(ConnectScreen(saved_settings(), config, provider_factory=Factory()))
    async with app.run_test(size=(100, 30)) as pilot:
        for field, value, complaint in BAD_FIELDS:
            widget = app.screen.query_one(f"#{field}", Input)
            widget.value = value
            await pilot.click("#save")
            await pilot.pause()
            assert isinstance(app.screen, ConnectScreen)
            assert complaint in await settled_text(pilot), complaint
            assert widget.has_class("-invalid")
            # Editing the field withdraws the complaint; then put a good value back.
            widget.value = "https://api.wawp.net" if field == "base_url" else "inst-1"
            await pilot.pause()
            assert not widget.has_class("-invalid")
            assert complaint not in await settled_text(pilot)
    assert not config.exists()
    assert app.results == []


async def test_save_without_any_token_complains(tmp_path: Path) -> None:
    settings = Settings.model_validate({"instance_id": "inst-1"})
    app = Host(ConnectScreen(settings, tmp_path / "c.toml", provider_factory=Factory()))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.click("#save")
        await pilot.pause()
        assert "Enter the access token" in await settled_text(pilot)
        assert app.results == []


@pytest.mark.parametrize("how", ["escape", "button"])
async def test_cancel_dismisses_with_none_and_writes_nothing(tmp_path: Path, how: str) -> None:
    config = tmp_path / "config.toml"
    app = Host(ConnectScreen(saved_settings(), config, provider_factory=Factory()))
    async with app.run_test(size=(100, 30)) as pilot:
        app.screen.query_one("#instance_id", Input).value = "changed"
        if how == "escape":
            await pilot.press("escape")
        else:
            await pilot.click("#cancel")
        await pilot.pause()
    assert app.results == [None]
    assert not config.exists()
