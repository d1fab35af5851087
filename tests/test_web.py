"""``lid-tui web``: textual-serve on loopback, settings handed over without the command line."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from lid_tui.config import Settings
from lid_tui.tui import web

TOKEN = "tok-web-5e6f7a8b"
ROOT = Path(__file__).resolve().parent.parent


def configured() -> Settings:
    return Settings.model_validate(
        {
            "base_url": "https://gw.example.com",
            "instance_id": "inst-1",
            "access_token": TOKEN,
            "cache": "/data/lids.json",
        }
    )


def test_the_child_command_carries_no_settings() -> None:
    command = web.child_command(demo=False)
    assert command.endswith(" -m lid_tui")
    assert web.child_command(demo=True).endswith(" -m lid_tui demo")
    assert TOKEN not in command


def test_the_child_environment_carries_the_settings() -> None:
    environ = {"LID_TUI_CACHE": "/stale.json", "PATH": "/bin"}
    web.apply_environment(web.child_environment(configured()), environ)
    assert environ == {
        "PATH": "/bin",
        "LID_TUI_BASE_URL": "https://gw.example.com",
        "LID_TUI_INSTANCE_ID": "inst-1",
        "LID_TUI_ACCESS_TOKEN": TOKEN,
        "LID_TUI_CACHE": "/data/lids.json",
    }
    # Unset settings remove what an earlier value left behind.
    web.apply_environment(web.child_environment(Settings()), environ)
    assert environ == {"PATH": "/bin", "LID_TUI_BASE_URL": "https://api.wawp.net"}


class FakeServer:
    seen: ClassVar[dict[str, Any]] = {}

    def __init__(self, command: str, host: str, port: int, title: str) -> None:
        FakeServer.seen = {"command": command, "host": host, "port": port, "title": title}

    def serve(self) -> None:
        FakeServer.seen["environ"] = dict(os.environ)


@pytest.mark.parametrize(
    ("settings", "demo", "expect_demo"),
    [(configured(), False, False), (configured(), True, True), (Settings(), False, True)],
)
def test_serve_hands_settings_through_the_environment(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    settings: Settings,
    demo: bool,
    expect_demo: bool,
) -> None:
    import textual_serve.server

    monkeypatch.setattr(textual_serve.server, "Server", FakeServer)
    for key in web.child_environment(settings):
        monkeypatch.delenv(key, raising=False)  # restored after the test
    web.serve(settings, port=8123, demo=demo)
    seen = FakeServer.seen
    assert seen["host"] == "127.0.0.1"
    assert seen["port"] == 8123
    assert seen["command"].endswith(" demo") is expect_demo
    assert TOKEN not in seen["command"]
    assert seen["environ"].get("LID_TUI_ACCESS_TOKEN") == (settings.token or None)
    out = capsys.readouterr().out
    assert "http://127.0.0.1:8123" in out
    assert TOKEN not in out


def test_textual_serve_gives_each_app_a_copy_of_our_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The hand-over above relies on this: textual-serve builds the app's environment from
    os.environ. If a new version stops doing so, this fails instead of the app silently
    starting unconfigured."""
    from textual_serve.app_service import AppService

    monkeypatch.setenv("LID_TUI_ACCESS_TOKEN", TOKEN)
    service = AppService(
        "true",
        write_bytes=None,  # type: ignore[arg-type]
        write_str=None,  # type: ignore[arg-type]
        close=None,  # type: ignore[arg-type]
        download_manager=None,  # type: ignore[arg-type]
    )
    assert service._build_environment()["LID_TUI_ACCESS_TOKEN"] == TOKEN


async def first_screen(port: int, timeout: float = 20) -> bytes:
    """Open a browser-like session, collect what the app draws until its title shows, and
    look at the app's process while the session is open."""
    import aiohttp

    received = b""
    url = f"http://127.0.0.1:{port}/ws?width=100&height=30"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as socket_:
        try:
            async with asyncio.timeout(timeout):
                async for message in socket_:
                    if message.type == aiohttp.WSMsgType.BINARY:
                        received += message.data
                    if b"lid-tui" in received:
                        assert_token_only_in_environments()
                        break
        except TimeoutError:
            pass
    return received


def assert_token_only_in_environments() -> None:
    """No process shows the token in its command line; the app has it in its environment."""
    proc = Path("/proc")
    if not proc.is_dir():
        return
    apps = 0
    for entry in proc.iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes()
            if b"lid_tui" not in cmdline:
                continue
            assert TOKEN.encode() not in cmdline
            if cmdline.rstrip(b"\0").split(b"\0")[-2:] == [b"lid_tui", b"demo"]:
                apps += 1
                assert f"LID_TUI_ACCESS_TOKEN={TOKEN}".encode() in (entry / "environ").read_bytes()
        except (FileNotFoundError, PermissionError, ProcessLookupError, NotADirectoryError):
            continue
    assert apps, "the app textual-serve started was not found"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_web_serves_the_page_on_loopback(tmp_path: Path) -> None:
    pytest.importorskip("textual_serve")
    port = free_port()
    environ = {**os.environ, "LID_TUI_ACCESS_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "lid_tui", "web", "--port", str(port), "--demo"],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        response = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        if response is None:
            process.kill()
            output = process.communicate(timeout=5)[0]
            if "No module named" in output and "textual_serve" in output:
                pytest.skip("textual-serve cannot start here")
            pytest.fail(f"lid-tui web never answered on port {port}:\n{output}")
        assert response.status_code == 200
        assert "textual" in response.text.lower()
        assert f"ws://127.0.0.1:{port}/ws" in response.text
        assert TOKEN not in response.text
        screen = asyncio.run(first_screen(port))
        assert b"lid-tui" in screen  # the app itself started, behind the websocket
    finally:
        process.terminate()
        try:
            output = process.communicate(timeout=10)[0]
        except subprocess.TimeoutExpired:
            process.kill()
            output = process.communicate()[0]
    assert f"http://127.0.0.1:{port}" in output
    assert TOKEN not in output
