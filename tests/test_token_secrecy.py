"""The access token never leaks: not on stdout or stderr, not in any file lid-tui writes (cache,
lock, index, exports, config folder, logs), not on the TUI's screen or in its notifications —
on success and on every failure mode, whether the token comes from the environment or from
``--access-token``.

The token is distinctive and random, and holds characters that URL encoding changes, so both
its plain and its encoded forms are searched for (and its random core alone, which a cut or
re-encoded copy would still contain).

Covered elsewhere, not repeated: the Connect screen writes the config file with mode 0600 and
shows the token masked (``test_screens.py``:
``test_save_writes_a_private_file_and_dismisses_with_settings``); plain http to a host that is
not loopback is refused without ``--allow-insecure-http`` (``test_cli.py``:
``test_plain_http_to_a_remote_host_is_refused`` and ``…_needs_the_explicit_flag``). Here the
refusal is one of the failure modes, checked for leaks.
"""

from __future__ import annotations

import io
import secrets
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from cli_support import Runner, closed_port, lid_tui_command, seed_cache
from tui_support import make_app, settle, spy_notices

from lid_tui.cli import ProgressLine
from lid_tui.demo.data import DemoDataset
from lid_tui.demo.faults import Fault, FaultKind, FaultRoute
from lid_tui.demo.server import DemoServer
from lid_tui.provider.wawp import WawpProvider
from lid_tui.store import MappingStore
from lid_tui.sync import SyncError, SyncOptions, run_sync

CORE = secrets.token_hex(8)
#: "/", "+" and "=" all change under URL encoding.
TOKEN = f"tok-SECRET-{CORE}/+="
FORMS = (TOKEN, quote(TOKEN, safe=""), quote_plus(TOKEN, safe=""), CORE)
SIZE = 300


def leaks(text: str | bytes) -> list[str]:
    """The forms of the token found in ``text``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return [form for form in FORMS if form in text]


def files_with_the_token(root: Path) -> list[str]:
    """Every file under ``root`` (any depth, any name) that holds a form of the token."""
    return [str(path) for path in root.rglob("*") if path.is_file() and leaks(path.read_bytes())]


@pytest.fixture
def server() -> Iterator[DemoServer]:
    demo = DemoServer(DemoDataset(size=SIZE, seed=3), access_token=TOKEN).start()
    try:
        yield demo
    finally:
        demo.stop()


# -- the command line: every command, every failure mode, both ways of passing the token ------


@dataclass(frozen=True)
class Mode:
    """A way for a run to go: the provider's faults, or settings that stop it earlier."""

    faults: tuple[Fault, ...] = ()
    #: The base URL, with ``{server}`` for the demo server's and ``{closed}`` for a dead port.
    base_url: str = "{server}"
    #: Exit status of the commands that reach the provider.
    status: int = 0
    #: The settings themselves are refused (every command exits 2).
    bad_settings: bool = False
    #: Only the provider can fail: commands that never reach it need not run again.
    provider_only: bool = True


def everywhere(**fault: Any) -> tuple[Fault, ...]:
    """A fault on every request of every route."""
    return (Fault(route=FaultRoute.ANY, times=None, **fault),)


MODES: dict[str, Mode] = {
    "success": Mode(provider_only=False),
    "401": Mode(everywhere(kind=FaultKind.STATUS, status=401), status=3),
    "403": Mode(everywhere(kind=FaultKind.STATUS, status=403), status=3),
    "422": Mode(everywhere(kind=FaultKind.STATUS, status=422), status=4),
    "503 persistent": Mode(everywhere(kind=FaultKind.STATUS, status=503), status=4),
    "html with status 200": Mode(everywhere(kind=FaultKind.HTML200), status=4),
    "slower than the timeout": Mode(everywhere(kind=FaultKind.SLOW, seconds=1.0), status=4),
    "unreachable port": Mode(base_url="http://127.0.0.1:{closed}", status=4),
    "token in the base url path": Mode(base_url="http://127.0.0.1:{closed}/" + TOKEN, status=4),
    "insecure http refused": Mode(
        base_url="http://lid-tui-test.invalid:8080", status=2, provider_only=False
    ),
    "base url with a password": Mode(
        base_url=f"https://user:{TOKEN}@api.example.com", status=2, provider_only=False
    ),
    "base url with a query": Mode(
        base_url=f"https://api.example.com/?access_token={TOKEN}", status=2, provider_only=False
    ),
    "base url not a url": Mode(
        base_url=f"ftp://{TOKEN}", status=2, bad_settings=True, provider_only=False
    ),
}


@dataclass
class Matrix:
    """Runs commands in one isolated home and checks every output on the way."""

    run: Runner
    mode: Mode
    base_url: str
    runs: int = 0
    problems: list[str] = field(default_factory=list)

    def __call__(self, args: list[str], status: int, *, flag: bool) -> None:
        """``lid-tui ARGS`` with the token in ``--access-token`` (``flag``) or the env."""
        if flag:  # after the command's own options; before --help at the top level
            args = (
                ["--access-token", TOKEN, *args]
                if args == ["--help"]
                else [*args, "--access-token", TOKEN]
            )
        result = self.run(*args, base_url=self.base_url, with_token=not flag, timeout=30)
        self.runs += 1
        how = "flag" if flag else "env"
        if result.returncode != status:
            self.problems.append(f"{args[:3]} ({how}): exit {result.returncode}, not {status}")
        for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
            if leaks(text):
                self.problems.append(f"{args[:3]} ({how}): the token is on {name}")


#: Commands that ask the provider. ``lookup`` gets a fresh cache each time, so it always asks.
def provider_commands(home: Path, number: str) -> list[list[str]]:
    quick = ["--timeout", "0.3"]
    sync = ["sync", "--retries", "0", "--page-size", "100", *quick]
    return [
        sync,
        [*sync, "--json"],
        ["lookup", number, "--ask-provider", *quick, "--cache", str(home / "ask" / "a.json")],
        ["lookup", number, "--ask-provider", "--json", *quick, "--cache", str(home / "a2.json")],
    ]


#: Commands that only read the cache (or print help).
def cache_commands(home: Path, number: str) -> list[list[str]]:
    out = home / "exported"
    return [
        ["lookup", number],
        ["lookup", number, "--json"],
        ["search", number[-6:]],
        ["search", number[-6:], "--json"],
        ["export", "--format", "jsonl"],
        ["export", "--format", "csv"],
        ["export", "--format", "json"],
        ["export", "--format", "jsonl", "--output", str(out / "all.jsonl")],
        ["export", "--format", "csv", "--output", str(out / "all.csv")],
        ["export", "--format", "json", "--output", str(out / "all.json")],
        ["--help"],
        ["sync", "--help"],
    ]


def stable_number(dataset: DemoDataset) -> str:
    """A number the demo provider maps to the same LID in every generation a test can see
    (the server moves on after a complete listing)."""
    generations = [dict(dataset.all_rows(g)) for g in range(4)]
    for lid, number in generations[0].items():
        if number and all(g.get(lid) == number for g in generations[1:]):
            return number
    raise AssertionError("no stable number in the demo data")


@pytest.mark.parametrize("name", list(MODES))
def test_no_command_leaks_the_token(
    name: str, server: DemoServer, tmp_path: Path, forked_commands: Any
) -> None:
    mode = MODES[name]
    home = tmp_path / "home"
    run = Runner(home, server, token=TOKEN, launch=forked_commands)
    cached = server.expected_mappings(0)
    seed_cache(run.cache, cached)  # what the cache-only commands read in every mode
    number = stable_number(server.dataset)
    server.set_faults(mode.faults)
    matrix = Matrix(run, mode, mode.base_url.format(server=server.base_url, closed=closed_port()))

    (home / "exported").mkdir()
    for flag in (False, True):
        for args in provider_commands(home, number):
            matrix(args, mode.status, flag=flag)
        if not mode.provider_only:
            for args in cache_commands(home, number):
                help_only = "--help" in args
                matrix(args, 2 if mode.bad_settings and not help_only else 0, flag=flag)

    assert not matrix.problems, "\n".join(matrix.problems)
    assert not files_with_the_token(tmp_path)
    assert (home / "cache").exists()  # the scan did see the cache folder
    if name == "success":
        assert {path.name for path in (home / "exported").iterdir()} == {
            "all.jsonl",
            "all.csv",
            "all.json",
        }
        assert (home / "ask" / "a.json").exists()  # the look-up cached the provider's answer


def test_the_demo_server_command_does_not_print_its_token(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [*lid_tui_command(), "demo-server", "--port", "0", "--size", "10", "--access-token", TOKEN],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert process.stderr is not None
        banner = [process.stderr.readline(), process.stderr.readline()]
    finally:
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=10)
    assert "curl" in banner[1]
    assert not leaks("".join(banner) + stdout + stderr)
    assert not files_with_the_token(tmp_path)


class FakeTerminal(io.StringIO):
    """A stderr that says it is a terminal, so the progress line (with its retry notes) is
    drawn."""

    def isatty(self) -> bool:
        return True


def test_the_progress_line_never_shows_the_token(server: DemoServer, tmp_path: Path) -> None:
    """Retry notes quote the error: every transient fault once, then a refusal."""
    # Two faults per page (three attempts each), one page after another, then a refusal.
    faults = [
        Fault(FaultKind.STATUS, start=2, status=503),
        Fault(FaultKind.HTML200, start=3),
        Fault(FaultKind.TRUNCATED, start=5),
        Fault(FaultKind.RESET, start=6),
        Fault(FaultKind.SLOW, start=8, seconds=1.0),
        Fault(FaultKind.STATUS, start=9, status=429, retry_after=0),
        Fault(FaultKind.STATUS, start=11, status=401),
    ]
    server.set_faults(faults)
    terminal = FakeTerminal()
    progress = ProgressLine(terminal)  # the real, throttled line

    def draw_all(update: Any) -> None:
        terminal.write(ProgressLine.render(update) + "\n")  # and every update in full
        progress(update)

    store = MappingStore.open(tmp_path / "cache.json")
    provider = WawpProvider(server.base_url, "demo", TOKEN, timeout=0.3)
    options = SyncOptions(page_size=50, concurrency=1, max_attempts=3, backoff_base=0.01)
    with pytest.raises(SyncError) as failed:
        run_sync(provider, store, options=options, progress=draw_all)
    provider.close()
    store.close()
    assert failed.value.exit_status == 3
    drawn = terminal.getvalue()
    assert "retrying" in drawn  # the notes were drawn
    assert not leaks(drawn + str(failed.value) + repr(failed.value.cause))
    assert not files_with_the_token(tmp_path)


# -- the TUI --------------------------------------------------------------------------------


def screen_leaks(app: Any, notices: list[dict[str, Any]]) -> list[str]:
    """Forms of the token on the rendered screen (raw SVG and its text) or in a toast."""
    found = leaks(app.export_screenshot())
    for notice in notices:
        found += leaks(" ".join(str(value) for value in notice.values()))
    return found


@pytest.mark.anyio
async def test_the_tui_never_shows_the_token(server: DemoServer, tmp_path: Path) -> None:
    """Refreshes that succeed, are refused (401) and cannot connect: every screen and every
    notification, searched for the token."""
    cache = tmp_path / "cache" / "app.json"
    app = make_app(cache, base_url=server.base_url, token=TOKEN)
    notices = spy_notices(app)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        for faults in ((), everywhere(kind=FaultKind.STATUS, status=401)):
            server.set_faults(faults)
            app.action_refresh()
            await settle(pilot)
            assert not screen_leaks(app, notices)
        assert [notice.get("title") for notice in notices] == [
            "Refresh done",
            "Refresh failed: credentials rejected",
        ]
        assert not screen_leaks(app, notices)

    dead = make_app(cache, base_url=f"http://127.0.0.1:{closed_port()}", token=TOKEN)
    notices = spy_notices(dead)
    async with dead.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        dead.action_refresh()
        await settle(pilot)
        assert notices and notices[-1]["title"] == "Refresh failed: provider unreachable"
        assert not screen_leaks(dead, notices)
    assert not files_with_the_token(tmp_path)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
