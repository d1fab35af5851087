"""Hostile input: whatever a provider answers, a person pastes or a config file holds, lid-tui
answers with a documented error or a result, never a crash, a traceback or a stray escape
sequence on the terminal.

Already covered elsewhere, not repeated here: Hypothesis tests of identity parsing
(``test_identity.py``: ``test_normalising_is_idempotent`` and
``test_parsers_raise_only_identity_errors``, 1,000 examples each) and of page parsing
(``test_payload.py``: ``test_any_payload_gives_a_clean_page_or_unusable``, 1,000 examples), and
config files with wrong types or unknown keys at the settings level (``test_config.py``).
This file adds the provider adapter end to end over any HTTP answer, the search box, and the
command line.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from cli_support import Runner, run_installed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import nested_json
from textual import events
from tui_support import (
    LID_CHANGED,
    NEW_NUMBER,
    build_cache,
    make_app,
    settle,
)

from lid_tui.identity import is_ascii_digits
from lid_tui.provider.base import ProviderError
from lid_tui.provider.wawp import WawpProvider
from lid_tui.tui.app import LidApp
from lid_tui.tui.widgets.search import without_controls

TOKEN = "tok-HOSTILE-p3Xw9Lq"
BR = "5511987654321"
_PROPERTY = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def controls_in(text: str, allowed: str = "\n") -> set[str]:
    """The control characters of ``text`` other than ``allowed`` (a newline ends a line)."""
    return {ch for ch in text if unicodedata.category(ch) == "Cc" and ch not in allowed}


# -- the provider adapter over any HTTP answer ----------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),  # what orjson can encode
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_keys = st.one_of(
    st.sampled_from(["0", "1", "lid", "number", "pn", "data", "count", "status"]),
    st.text(max_size=6),
)
json_values = nested_json(json_scalars, json_keys, width=3)
messy_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            f"invalid token {TOKEN}",
            f"https://api.wawp.net/v2/lids?access_token={TOKEN}&instance_id=x",
            "line one\nline two\r\x1b[31m red \x1b]0;title\x07",
            "\u202eevil\u200b " + "long " * 200,
        ]
    ),
)
rows = st.one_of(
    st.fixed_dictionaries(
        {
            "lid": st.one_of(
                st.sampled_from(["123456789012345@lid", "123456789012345:7@lid", "x@lid"]),
                json_scalars,
            ),
            "number": st.one_of(
                st.sampled_from([BR, f"+{BR}", f"{BR}@c.us", "12@lid", ""]), json_scalars
            ),
        }
    ),
    json_values,
)
bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(orjson.dumps),
    st.lists(rows, max_size=4).map(
        lambda items: orjson.dumps(dict(enumerate(items)), option=orjson.OPT_NON_STR_KEYS)
    ),
    st.lists(rows, max_size=4).map(lambda items: orjson.dumps({"data": items})),
    st.builds(
        lambda status, message: orjson.dumps({"status": status, "message": message}),
        st.integers(100, 700),
        messy_text,
    ),
    st.builds(lambda value, cut: orjson.dumps(value)[:cut], json_values, st.integers(0, 50)),
    st.sampled_from(
        [b"<!DOCTYPE html><title>502</title>", b"\xef\xbb\xbf<html>", b"  ", b"\xef\xbb\xbf{}"]
    ),
    messy_text.map(str.encode),
)
headers = st.fixed_dictionaries(
    {},
    optional={
        "content-type": st.sampled_from(
            ["application/json", "text/html; charset=utf-8", "text/plain", "application/xhtml"]
        ),
        "retry-after": st.one_of(
            st.sampled_from(["1", "-5", "1e9", "nan", "99999999999999", "Wed, 21 Oct 2015"]),
            st.text("0123456789 ,:GMTWedOct", max_size=30),
        ),
        "location": st.sampled_from(
            [f"http://evil.example/?access_token={TOKEN}", "::not a url::", "/relative"]
        ),
    },
)
statuses = st.one_of(
    st.just(200),
    st.sampled_from([204, 301, 302, 400, 401, 403, 404, 405, 408, 422, 429, 500, 501, 502, 503]),
    st.integers(200, 599),
)
answers = st.tuples(statuses, headers, bodies)


class Answering:
    """A transport answering every request with the answer the current example drew."""

    def __init__(self) -> None:
        self.answer: tuple[int, dict[str, str], bytes] = (200, {}, b"{}")

    def __call__(self, request: httpx.Request) -> httpx.Response:
        status, extra, body = self.answer
        return httpx.Response(status, headers=extra, content=body)


@pytest.fixture(scope="module")
def adapter() -> Iterator[tuple[WawpProvider, Answering]]:
    transport = Answering()
    client = httpx.Client(transport=httpx.MockTransport(transport))
    yield WawpProvider("https://api.wawp.net", "inst", TOKEN, client=client), transport
    client.close()


def assert_clean_error(error: ProviderError) -> None:
    """A message for people: one line, no control characters, bounded, secret-free."""
    message = str(error)
    assert message and not controls_in(message) and "\n" not in message
    assert len(message) <= 400, message
    assert TOKEN not in message and TOKEN not in repr(error)
    assert error.__cause__ is None


@_PROPERTY
@given(answer=answers)
def test_any_http_answer_gives_a_result_or_a_documented_error(
    adapter: tuple[WawpProvider, Answering], answer: tuple[int, dict[str, str], bytes]
) -> None:
    """List, count and look-up over any status, headers and body: clean values or a
    :class:`ProviderError`; nothing else escapes."""
    provider, transport = adapter
    transport.answer = answer
    try:
        page = provider.list_page(0, 100)
    except ProviderError as error:
        assert_clean_error(error)
    else:
        assert page.raw_rows == len(page.rows) + page.skipped
        for lid, number in page.rows:
            assert is_ascii_digits(lid) and (number is None or is_ascii_digits(number))
    try:
        count = provider.count()
    except ProviderError as error:
        assert_clean_error(error)
    else:
        assert count is None or (isinstance(count, int) and count >= 0)
    try:
        resolved = provider.resolve_number(BR)
    except ProviderError as error:
        assert_clean_error(error)
    else:
        if resolved is not None:
            lid, number = resolved
            assert is_ascii_digits(lid) and (number is None or is_ascii_digits(number))


# -- the search box -------------------------------------------------------------------------


@_PROPERTY
@given(st.text())
def test_the_search_box_keeps_no_control_character(text: str) -> None:
    """Same length (the cursor arithmetic of Input relies on it), no control character, and
    text without any is left alone."""
    cleaned = without_controls(text)
    assert len(cleaned) == len(text) and not controls_in(cleaned, allowed="")
    if not controls_in(text, allowed=""):
        assert cleaned == text


JSON_PAGE = {
    "0": {"lid": f"{LID_CHANGED}@lid", "number": NEW_NUMBER},
    "1": {"lid": "190283746519283@lid", "number": None},
}
#: What people paste into a search box, on purpose or not.
HOSTILE: dict[str, str] = {
    "10,000 characters": ("ab1+ " * 2000),
    "10,000 digits": "5" * 10_000,
    "control characters": "".join(map(chr, range(0x20))) + "\x7f",
    "escape sequences": "\x1b[31mred\x1b[0m \x1b]0;owned\x07 \x1b[2J \x9b6n \x1b]52;c;ZXZpbA==\x07",
    "right-to-left": "\u202e5511 9876\u202c مرحبا שלום \u200f",
    "emoji": "🙂👨‍👩‍👧‍👦🇧🇷 5️⃣",
    "pasted json page": orjson.dumps(JSON_PAGE).decode(),
    "pasted json, indented": orjson.dumps(JSON_PAGE, option=orjson.OPT_INDENT_2).decode(),
}
#: The left of the status line: the whole cache or the matches, then where the page is.
STATUS = re.compile(r"(\d[\d,]* mappings|\d[\d,]*\+? match(es)? of [\d,]+) · page 1 of \d+ · .+")
#: Sequences a terminal would obey if they reached it.
INJECTED = ("\x1b]0;", "\x1b]52;", "\x1b[2J", "\x9b", "\x07", "\x00")


def terminal_output(app: LidApp) -> str:
    """What the app would write to the terminal for a full repaint (the compositor's own
    rendering: escape sequences the app emits for styling, plus any that slipped through)."""
    update = app.screen._compositor.render_update(full=True)
    return update.render_segments(app.console)


async def enter(pilot: Any, text: str, how: str) -> None:
    """Clear and focus the box, then put ``text`` in it the way ``how`` says. (Not with keys:
    each Pilot key press costs a fifth of a second, and the keys are tested in test_tui.)"""
    box = pilot.app.search_box
    box.value = ""
    box.focus()
    if how == "paste":  # what a terminal sends for a paste (bracketed paste)
        box.post_message(events.Paste(text))
    else:  # straight into the box, every line of it
        box.insert_text_at_cursor(text)
    await settle(pilot)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
@pytest.mark.parametrize("how", ["paste", "insert"])
async def test_the_search_box_takes_anything_and_stays_usable(tmp_path: Path, how: str) -> None:
    app = make_app(build_cache(tmp_path / "cache" / "demo.json"))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        total = len(app.store)
        for name, text in HOSTILE.items():
            await enter(pilot, text, how)
            assert app.is_running, name
            value = app.search_box.value
            pasted = text.splitlines()[0] if how == "paste" else text  # a paste: its 1st line
            assert value == without_controls(pasted), name  # all of it, controls as spaces
            assert not controls_in(value, allowed=""), name
            subtitle = app.search_box.border_subtitle
            assert subtitle.startswith("understood: ") or not value.strip(), (name, subtitle)
            assert STATUS.fullmatch(app.status_line.left), (name, app.status_line.left)
            output = terminal_output(app)
            assert not [seq for seq in INJECTED if seq in output], name
            # Still responsive: a real number is found right after.
            await enter(pilot, f"+{NEW_NUMBER}", how)
            assert app.status_line.left.startswith(f"1 match of {total:,}"), name
            assert app.store.index.record(app.results[0]).lid == f"{LID_CHANGED}@lid"


# -- the command line -------------------------------------------------------------------------

#: Hostile queries for ``lookup`` and ``search`` (argv cannot hold NUL), with the exit status
#: of each: 2 for what is not a number or a LID, 1 for a well-formed number that is not cached.
CLI_HOSTILE: dict[str, tuple[str, int, int]] = {
    "10,000 characters": (HOSTILE["10,000 characters"], 2, 2),
    "10,000 digits": (HOSTILE["10,000 digits"], 2, 2),
    "control characters": ("".join(map(chr, range(1, 0x20))) + "\x7f", 2, 2),
    "escape sequences": (HOSTILE["escape sequences"], 2, 2),
    "escape around digits": ("\x1b[31m5511\x1b[0m", 2, 2),
    "right-to-left": (HOSTILE["right-to-left"], 2, 2),
    "arabic-indic digits": ("\u0665\u0665\u0661\u0661\u0669", 2, 2),
    "emoji": (HOSTILE["emoji"], 2, 2),
    "pasted json page": (HOSTILE["pasted json page"], 2, 2),
    "number in bidi marks, not cached": ("\u200f+44 7700 900123\u200f", 1, 0),
}


@pytest.fixture
def cli(tmp_path: Path, forked_commands: Any) -> Runner:
    run = Runner(tmp_path, None, token=TOKEN, launch=forked_commands)
    build_cache(run.cache)
    return run


def assert_one_clean_line(text: str) -> None:
    assert text.count("\n") == 1 and text.endswith("\n"), text
    assert not controls_in(text), repr(text)
    assert len(text) < 300, text


@pytest.mark.parametrize("name", list(CLI_HOSTILE))
def test_lookup_and_search_answer_hostile_queries_in_one_line(cli: Runner, name: str) -> None:
    query, lookup_status, search_status = CLI_HOSTILE[name]
    for command in (["lookup", query], ["lookup", query, "--json"], ["search", query]):
        result = cli(*command)
        expected = lookup_status if command[0] == "lookup" else search_status
        assert result.returncode == expected, (command[0], result.stderr)
        assert result.stdout == ""
        assert_one_clean_line(result.stderr)
        if expected:
            assert result.stderr.startswith("lid-tui: ")


def test_the_forked_runner_answers_like_the_installed_command(cli: Runner) -> None:
    """The matrices above run in forked children: check they are the real command."""
    for args in (["lookup", HOSTILE["escape sequences"]], ["search", "\u202e55 11\u202c"]):
        forked = cli(*args)
        real = run_installed(args, cli.env(), 60)
        assert (forked.returncode, forked.stdout, forked.stderr) == (
            real.returncode,
            real.stdout,
            real.stderr,
        )


#: A bad config file -> what the one-line message must name.
BAD_CONFIGS: dict[str, tuple[str, str]] = {
    "unknown key": ('instance_id = "demo"\ncolour = "blue"\n', "unknown key 'colour'"),
    "number for a string": ("instance_id = 42\n", "'instance_id' must be a string"),
    "string for a flag": (
        'allow_insecure_http = "yes"\n',
        "'allow_insecure_http' must be a boolean",
    ),
    "table for a path": ("[cache]\npath = 'x'\n", "'cache' must be a string"),
    "token of the wrong type": ("access_token = 12345\n", "'access_token' must be a string"),
    "bad url": ('base_url = "ftp://example.com"\n', "setting 'base_url'"),
    "not toml": ("instance_id = [\n", "not valid TOML"),
}


@pytest.mark.parametrize("name", list(BAD_CONFIGS))
def test_a_bad_config_file_exits_2_naming_the_key(cli: Runner, name: str) -> None:
    text, named = BAD_CONFIGS[name]
    config = Path(cli.env()["LID_TUI_CONFIG"])
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(text)
    for command in (["export"], ["sync"], ["lookup", f"+{NEW_NUMBER}"]):
        result = cli(*command)
        assert result.returncode == 2, result.stderr
        assert named in result.stderr
        if "setting" not in named:  # a value error is found once every source is merged
            assert str(config) in result.stderr
        assert_one_clean_line(result.stderr)
