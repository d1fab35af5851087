"""The app's behaviour through Textual's Pilot: list, paging, search, detail, refresh, copy, mask.

Every test runs the real app on a real TinyDB cache (see ``tui_support``); refresh tests talk to
the real demo server on loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import closed_port
from textual import events
from textual.widgets import Input
from tui_support import (
    LID_CHANGED,
    LID_HIDDEN,
    LID_NEW,
    LID_OLD,
    MOVED_NUMBER,
    NEW_NUMBER,
    NOW,
    OLD_NUMBER,
    build_cache,
    fast_sync,
    make_app,
    screen_text,
    settle,
    spy_notices,
    type_search,
)

from lid_tui.config import Settings, config_path
from lid_tui.demo.data import DemoDataset
from lid_tui.demo.faults import Fault, FaultKind, FaultRoute
from lid_tui.demo.server import DemoServer
from lid_tui.identity import classify, describe_number
from lid_tui.index import Row
from lid_tui.models import HistoryKind
from lid_tui.storage import CacheLock
from lid_tui.store import MappingStore
from lid_tui.tui.app import SEARCH_LIMIT, LidApp
from lid_tui.tui.format import Display
from lid_tui.tui.screens import AboutScreen
from lid_tui.tui.widgets import DetailPane, MappingTable, StatusLine

SIZE = (100, 30)

# Async tests run on anyio's pytest plugin (installed with httpx), on asyncio only.
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return build_cache(tmp_path / "cache" / "demo.json")


@pytest.fixture
def server() -> Iterator[DemoServer]:
    demo = DemoServer(DemoDataset(size=300, seed=7), host="127.0.0.1", port=0).start()
    try:
        yield demo
    finally:
        demo.stop()


def detail(app: LidApp) -> DetailPane:
    return app.query_one(DetailPane)


def status(app: LidApp) -> StatusLine:
    return app.query_one(StatusLine)


# -- the list -------------------------------------------------------------------------------


async def test_list_shows_a_page_and_the_detail_follows_the_cursor(cache: Path) -> None:
    app = make_app(cache)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.query_one(MappingTable)
        assert table.row_count == app.page_size > 5
        first = detail(app).record
        assert first is not None and first.lid == f"{LID_CHANGED}@lid"
        await pilot.press("j")
        assert detail(app).record.lid == f"{LID_HIDDEN}@lid"
        await pilot.press("k")
        assert detail(app).record.lid == f"{LID_CHANGED}@lid"
        assert status(app).left.startswith("154 mappings · page 1 of ")
        assert status(app).right == "refreshed 5 min ago"


async def test_paging_moves_through_the_pages(cache: Path) -> None:
    app = make_app(cache)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        size = app.page_size
        pages = app.page_count()
        assert pages == -(-154 // size) and pages > 3

        def first_lid() -> str:
            return app.query_one(MappingTable).rows[0].lid

        index = app.store.index
        await pilot.press("n")
        assert app.page == 1 and first_lid() == index.lid_at(size)
        await pilot.press("pagedown")
        assert app.page == 2
        await pilot.press("p")
        assert app.page == 1
        await pilot.press("G")
        assert app.page == pages - 1
        assert first_lid() == index.lid_at((pages - 1) * size)
        await pilot.press("g")
        assert app.page == 0
        await pilot.press("end")
        assert app.page == pages - 1
        await pilot.press("home")
        assert app.page == 0
        # Down past the last row of a page continues on the next page.
        app.query_one(MappingTable).move_cursor(row=size - 1)
        await pilot.press("j")
        assert app.page == 1 and app.query_one(MappingTable).cursor_row == 0
        await pilot.press("k")
        assert app.page == 0 and app.query_one(MappingTable).cursor_row == size - 1
        # The go-to-page command.
        await pilot.press("colon", "3", "enter")
        await settle(pilot)
        assert app.page == 2
        assert "page 3 of" in status(app).left


async def test_page_size_follows_the_terminal(cache: Path) -> None:
    app = make_app(cache)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        tall = app.page_size
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        assert 5 <= app.page_size < tall
        assert app.query_one(MappingTable).row_count == app.page_size


# -- the table widget -----------------------------------------------------------------------


def scroll(table: MappingTable, down: bool) -> None:
    """One notch of the mouse wheel over the table (the Pilot has no wheel)."""
    kind = events.MouseScrollDown if down else events.MouseScrollUp
    table.post_message(kind(table, 2, 3, 0, 1 if down else -1, 0, False, False, False))


async def test_arrows_and_the_wheel_move_the_cursor_and_turn_pages_at_the_edges(
    cache: Path,
) -> None:
    app = make_app(cache)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.query_one(MappingTable)
        await pilot.press("up")  # before the first row of the first page: nowhere to go
        assert (app.page, table.cursor_row) == (0, 0)
        await pilot.press("down", "down")
        assert table.cursor_row == 2
        assert detail(app).record.lid == f"{table.rows[2].lid}@lid"
        table.move_cursor(row=999)  # clamped to the page
        assert table.cursor_row == app.page_size - 1
        await pilot.press("down")
        assert (app.page, table.cursor_row) == (1, 0)
        assert table.selected_row_index() == app.page_size
        await pilot.press("up")
        assert (app.page, table.cursor_row) == (0, app.page_size - 1)
        # The wheel walks the list like j/k; a burst at the edge turns one page, not two.
        scroll(table, down=True)
        scroll(table, down=True)
        await settle(pilot)
        assert (app.page, table.cursor_row) == (1, 0)
        scroll(table, down=True)
        await settle(pilot)
        assert (app.page, table.cursor_row) == (1, 1)
        scroll(table, down=False)
        scroll(table, down=False)
        await settle(pilot)
        assert (app.page, table.cursor_row) == (0, app.page_size - 1)


async def test_a_click_selects_the_row_and_the_detail_follows(cache: Path) -> None:
    app = make_app(cache)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.query_one(MappingTable)
        await pilot.press("slash")  # the click also brings the focus back to the list
        await pilot.click(MappingTable, offset=(5, 1 + 4))  # under the header line
        await settle(pilot)
        assert table.has_focus and table.cursor_row == 4
        assert table.selected_row_index() == table.rows[4].index
        assert detail(app).record.lid == f"{table.rows[4].lid}@lid"
        await pilot.click(MappingTable, offset=(5, 0))  # the header selects nothing
        await settle(pilot)
        assert table.cursor_row == 4


async def test_the_detail_is_drawn_once_per_page_and_follows_each_highlight(
    cache: Path,
) -> None:
    app = make_app(cache)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.query_one(MappingTable)
        updates: list[int | None] = []
        update_detail = app._update_detail

        def counting_update() -> None:
            updates.append(table.selected_row_index())
            update_detail()

        app._update_detail = counting_update  # type: ignore[method-assign]
        await pilot.press("n")
        await settle(pilot)
        assert updates == [app.page_size]  # the page change does not echo a highlight
        table.move_cursor(row=3)
        await settle(pilot)
        assert updates[1:] == [app.page_size + 3]
        assert detail(app).record.lid == f"{table.rows[3].lid}@lid"


async def test_the_table_draws_cut_cells_and_a_dimmer_cursor_when_not_focused(
    cache: Path,
) -> None:
    app = make_app(cache)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.query_one(MappingTable)
        header = table.render_line(0).text
        assert header.split() == ["LID", "Number", "Country", "Last", "seen", "Listed"]
        assert len(header) == table.size.width
        focused = table.render_line(1)
        assert focused.text.startswith(f" {LID_CHANGED} ")
        await pilot.press("slash")
        blurred = table.render_line(1)
        assert blurred.text == focused.text
        assert next(iter(blurred)).style != next(iter(focused)).style
        # Text longer than its column is cut, never wrapped; the line keeps the widget's width.
        long = Row(7, "9" * 40, None, 0, 0, False)
        table.show_rows([long], Display(now=NOW))
        assert table.row_count == 1 and table.selected_row_index() == 7
        line = table.render_line(1).text
        assert line.startswith(" " + "9" * 16 + " ") and len(line) == table.size.width
        assert "hidden" in line and "✗" in line
        assert table.render_line(2).text.strip() == ""  # below the last row: blank
        table.show_rows([], Display(now=NOW))
        assert table.selected_row_index() is None and table.cursor_row == 0
        await settle(pilot)  # the highlight messages of those pages reach the app


# -- search ---------------------------------------------------------------------------------


#: Every form DESIGN.md names, with what the search box should say it understood.
SEARCH_FORMS = [
    ("+55 (11) 91234-5678", "number +55 11 91234-5678"),
    ("5511912345678@c.us", "number +55 11 91234-5678"),
    ("5511912345678@s.whatsapp.net", "number +55 11 91234-5678"),
    (f"{LID_CHANGED}@lid", f"LID {LID_CHANGED}@lid"),
    (f"{LID_CHANGED}:12@lid", f"LID {LID_CHANGED}@lid"),
    ("91234-56", "partial digits 9123456"),
]


async def test_search_finds_the_mapping_in_every_form(cache: Path) -> None:
    app = make_app(cache)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for typed, understood in SEARCH_FORMS:
            # The first form is typed key by key; the others arrive at once, like a paste.
            await type_search(pilot, typed, keys=typed.startswith("+"))
            said = app.query_one("#search").border_subtitle
            assert said == f"understood: {understood}", typed
            record = detail(app).record
            assert record is not None and record.lid == f"{LID_CHANGED}@lid", typed
            assert record.number == NEW_NUMBER
            assert "1 match of 154" in status(app).left
            # Esc clears the search and returns to the whole list.
            await pilot.press("escape")
            await settle(pilot)
            assert app.results is None
            assert app.query_one(MappingTable).has_focus
            assert status(app).left.startswith("154 mappings")


async def test_exact_match_comes_first_then_partial_matches(cache: Path) -> None:
    app = make_app(cache)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_search(pilot, "300000000000012")  # a filler LID; its digits also match others
        assert detail(app).record.lid == "300000000000012@lid"
        assert app.results is not None and len(app.results) >= 1


async def test_a_number_that_is_not_cached_offers_to_ask_the_provider(
    cache: Path, server: DemoServer
) -> None:
    lid, number = server.dataset.rows(0, 1, 0)[0]
    assert number is not None
    app = make_app(cache, base_url=server.base_url)
    notices = spy_notices(app)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_search(pilot, "+" + number)
        assert detail(app).record is None
        assert detail(app).heading == "Not in the cache"
        assert app.can_ask()
        await pilot.press("enter", "a")  # Enter leaves the box for the list, then "a" asks
        await settle(pilot)
        record = detail(app).record
        assert record is not None, notices
        assert record.lid == f"{lid}@lid" and record.number == number
        assert any("Cached" in notice["message"] for notice in notices)
    # The answer is in the cache file, and a single look-up does not count as a refresh.
    reopened = MappingStore.open(cache)
    assert reopened.get(lid) is not None
    assert reopened.last_refresh is not None and reopened.last_refresh.complete


async def test_nonsense_and_groups_are_explained(cache: Path) -> None:
    app = make_app(cache)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_search(pilot, "hello")
        assert detail(app).heading == "Not a number or a LID"
        await pilot.press("escape")
        await type_search(pilot, "1203630@g.us")
        assert detail(app).heading == "Not a person"


# -- detail ---------------------------------------------------------------------------------


async def test_detail_shows_history_and_hidden_numbers(cache: Path) -> None:
    app = make_app(cache)
    async with app.run_test(size=(140, 30)) as pilot:  # wide: history lines do not wrap
        await settle(pilot)
        await type_search(pilot, f"{LID_CHANGED}@lid")
        text = screen_text(app)
        assert "+55 11 91234-5678" in text
        assert "number changed from +55 11 98765-4321" in text
        assert "5511912345678@c.us" in text and "5511912345678@s.whatsapp.net" in text
        await pilot.press("escape")
        await type_search(pilot, LID_HIDDEN)
        assert detail(app).record.number is None
        assert "cannot be worked out" in screen_text(app)
        await pilot.press("escape")
        await type_search(pilot, LID_OLD)
        record = detail(app).record
        assert not record.listed
        assert record.history[-1].event is HistoryKind.NUMBER_MOVED_OUT
        assert f"moved to {LID_NEW}@lid" in screen_text(app)


# -- refresh --------------------------------------------------------------------------------


async def test_first_launch_fills_the_empty_cache_and_a_refresh_brings_history(
    tmp_path: Path, server: DemoServer
) -> None:
    cache = tmp_path / "fresh.json"
    app = make_app(cache, base_url=server.base_url, refresh_if_empty=True)
    notices = spy_notices(app)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert len(app.store) == server.total_rows()
        assert app.query_one(MappingTable).row_count == app.page_size
        assert any(notice.get("title") == "Refresh done" for notice in notices)
        await pilot.press("n", "j")
        position = (app.page, app.query_one(MappingTable).cursor_row)
        # The server moves to its next generation: numbers change, LIDs move.
        await pilot.press("r")
        await settle(pilot)
        assert server.generation == 1
        assert (app.page, app.query_one(MappingTable).cursor_row) == position
        change = server.dataset.changes(1).number_changes[0]
        await type_search(pilot, f"{change.lid}@lid")
        record = detail(app).record
        assert record is not None and record.number == change.new_number
        assert record.history and record.history[-1].previous_number == change.old_number
        assert "number changed" in screen_text(app)


@pytest.mark.parametrize("failure", ["wrong token", "not connected", "unreachable"])
async def test_failed_refresh_says_why_and_keeps_the_cache(
    cache: Path, server: DemoServer, failure: str
) -> None:
    base_url, token, headline = server.base_url, "demo-token", ""
    if failure == "wrong token":
        token, headline = "wrong-token", "credentials rejected"
    elif failure == "not connected":
        server.set_faults([Fault(FaultKind.STATUS, status=422, route=FaultRoute.ANY, times=None)])
        headline = "instance not connected"
    else:
        base_url, headline = f"http://127.0.0.1:{closed_port()}", "provider unreachable"
    before = cache.read_bytes()
    app = make_app(cache, base_url=base_url, token=token)
    notices = spy_notices(app)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        assert not app.refreshing
        assert status(app).right == f"⚠ refresh failed: {headline}"
        errors = [notice for notice in notices if notice.get("severity") == "error"]
        assert errors and errors[-1]["title"] == f"Refresh failed: {headline}"
        assert "left as it was" in errors[-1]["message"]
        assert "wrong-token" not in screen_text(app)
        # The list is still there.
        assert app.query_one(MappingTable).row_count == app.page_size
    assert cache.read_bytes() == before


async def test_refresh_while_another_process_refreshes_names_it(cache: Path) -> None:
    other = CacheLock(cache)
    other.acquire("lid-tui sync")
    try:
        app = make_app(cache, base_url="http://127.0.0.1:9")
        notices = spy_notices(app)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("r")
            await settle(pilot)
            assert status(app).right == "⚠ refresh failed: cache busy"
            assert "(lid-tui sync)" in notices[-1]["message"]
    finally:
        other.release()


async def test_refresh_can_be_cancelled(cache: Path, server: DemoServer) -> None:
    server.page_delay = 0.3
    app = make_app(cache, base_url=server.base_url)
    notices = spy_notices(app)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await pilot.pause(0.1)
        assert app.refreshing and app.query_one("#refresh-bar").display
        await pilot.press("j")  # the list stays usable
        assert app.query_one(MappingTable).cursor_row == 1
        await pilot.press("x")
        await settle(pilot)
        assert not app.refreshing and not app.query_one("#refresh-bar").display
        assert any("cancelled" in notice["message"] for notice in notices)


async def test_a_refresh_by_another_process_is_picked_up(cache: Path) -> None:
    app = make_app(cache, watch_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        other = MappingStore.open(cache)
        with other.writing("lid-tui sync"):
            other.apply_refresh(
                {"399999999999999": "5521999999999"}, complete=False, refresh_meta={}
            )
        for _ in range(30):
            await pilot.pause(0.05)
            if len(app.store) == 155:
                break
        await settle(pilot)
        assert status(app).left.startswith("155 mappings")


async def test_a_broken_cache_is_moved_aside_with_a_notice(tmp_path: Path) -> None:
    cache = tmp_path / "broken.json"
    cache.write_text("{not json")
    app = make_app(cache)
    notices = spy_notices(app)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert notices[0]["title"] == "Cache recovered"
        assert "broken.json.broken-" in notices[0]["message"]
        assert detail(app).heading == "The cache is empty"


# -- copy and mask --------------------------------------------------------------------------


async def test_copy_sends_the_lid_and_the_number(cache: Path) -> None:
    app = make_app(cache)
    copied: list[str] = []
    app.copy_to_clipboard = copied.append  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("c", "y")
        assert copied == [f"{LID_CHANGED}@lid", NEW_NUMBER]
        await pilot.press("j", "y")  # the hidden number: nothing to copy
        assert copied == [f"{LID_CHANGED}@lid", NEW_NUMBER]


async def test_mask_mode_hides_every_number(cache: Path) -> None:
    app = make_app(cache)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_search(pilot, f"{LID_CHANGED}@lid")
        await pilot.press("escape")
        await settle(pilot)
        shown = [row.number for row in app.page_rows() if row.number]
        numbers = {*shown, OLD_NUMBER, NEW_NUMBER, MOVED_NUMBER}
        assert any(describe_number(n).international in screen_text(app) for n in numbers)
        await pilot.press("m")
        await settle(pilot)
        text = screen_text(app)
        for number in numbers:
            assert number not in text
            assert describe_number(number).international not in text
        assert "+•• •• •••••-•678" in text  # 5511912345678: only the last 3 digits
        assert "MASKED" in status(app).left
        # The detail too, with its history.
        await type_search(pilot, f"{LID_CHANGED}@lid")
        text = screen_text(app)
        assert "+•• •• •••••-•321" in text  # the old number, in the history
        assert NEW_NUMBER not in text and OLD_NUMBER not in text
        await pilot.press("escape", "m")
        await settle(pilot)
        assert describe_number(NEW_NUMBER).international in screen_text(app)


# -- start, discoverability -----------------------------------------------------------------


async def test_demo_mode_starts_its_server_and_fills_the_cache(tmp_path: Path) -> None:
    app = LidApp(Settings(cache=tmp_path / "demo.json"), demo=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")  # the first refresh ends while the About screen is on top
        await settle(pilot)
        assert isinstance(app.screen, AboutScreen)
        await pilot.press("escape")
        assert app.title == "lid-tui — DEMO"
        assert len(app.store) == 5000
        assert app.query_one(MappingTable).row_count == app.page_size
        assert "demo-token" not in screen_text(app)
        server = app.demo_server
    assert app.demo_server is None and server is not None


async def test_connect_switches_to_the_saved_instance(
    cache: Path, server: DemoServer, isolated_user_dirs: Path
) -> None:
    app = LidApp(Settings(), store_path=cache, clock=lambda: NOW, sync_options=fast_sync())
    notices = spy_notices(app)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert len(app.store) == 154
        await pilot.press("o")
        await settle(pilot)
        screen = app.screen
        for field, value in (
            ("#base_url", server.base_url),
            ("#instance_id", "demo"),
            ("#access_token", "demo-token"),
        ):
            box = screen.query_one(field, Input)
            box.value = value
        await pilot.press("ctrl+s")
        await settle(pilot)
        await settle(pilot)
        # The new instance has its own (empty) cache, which the app filled by itself.
        assert app.settings.instance_id == "demo"
        assert app.store.path == isolated_user_dirs / "cache" / "lid-tui" / "demo.json"
        assert len(app.store) == server.total_rows(), notices
        assert app.sub_title == f"{server.base_url.removeprefix('http://')} · demo"
        assert "demo-token" not in screen_text(app)


def test_every_binding_has_an_id_and_every_action_a_command() -> None:
    ids = [binding.id for binding in LidApp.BINDINGS]  # type: ignore[union-attr]
    assert all(ids) and len(set(ids)) == len(ids)
    table_ids = [binding.id for binding in MappingTable.BINDINGS]  # type: ignore[union-attr]
    assert all(table_ids) and not set(table_ids) & set(ids)


async def test_keys_can_be_remapped_by_binding_id(cache: Path) -> None:
    keymap = config_path().with_name("keymap.toml")
    keymap.parent.mkdir(parents=True, exist_ok=True)
    keymap.write_text('"lid.next_page" = "f"\n')
    app = make_app(cache)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f")
        assert app.page == 1
        await pilot.press("n")  # no longer bound
        assert app.page == 1


async def test_every_action_is_in_the_palette_and_about_opens(cache: Path) -> None:
    app = make_app(cache)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = {command.title for command in app.get_system_commands(app.screen)}
        for title in (
            "Search",
            "Refresh",
            "Next page",
            "Previous page",
            "First page",
            "Last page",
            "Go to page",
            "Copy LID",
            "Copy number",
            "Mask numbers",
            "About LIDs",
            "Connect",
            "Theme",
        ):
            assert title in titles
        # ? and F1 open the LID primer over the list; Esc closes it.
        for key in ("question_mark", "f1"):
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, AboutScreen)
            await pilot.press("escape")
            await settle(pilot)
            assert app.screen is app.main_screen


async def test_the_access_token_is_never_shown(cache: Path) -> None:
    app = make_app(cache, token="s3cret-token-value")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        assert "s3cret" not in screen_text(app)


async def test_each_digit_typed_after_a_complete_search_is_answered_before_the_next_frame(
    cache: Path,
) -> None:
    """The first digits go to a worker; once a search found every hit, each further digit
    only narrows it, on the spot: the results are right as soon as the key is handled."""
    app = make_app(cache)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_search(pilot, "5521900000")
        assert app.last_scan is not None and app.last_scan.complete
        store = app.store
        assert store is not None
        workers: list[str] = []
        app._search = workers.append  # type: ignore[method-assign]
        for text in ("55219000001", "552190000012", "5521900000123"):
            await pilot.press(text[-1])
            assert workers == []  # answered on the spot, not by a worker
            expected = store.matching_rows(classify(text), SEARCH_LIMIT)
            assert app.results == expected and app.search_query is not None
            assert app.search_query.text == text
        assert app.results and len(app.results) < 20
