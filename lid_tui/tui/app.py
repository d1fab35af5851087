"""The lid-tui app: a paginated mapping list, search, a detail pane and refresh.

The app holds view state only (page, search results, mask mode). Everything that reads or
writes the cache or talks to the provider runs in thread workers that post messages
(:mod:`lid_tui.tui.messages`); the handlers here update the widgets. The core (store, sync,
identity, provider) does the work.
"""

from __future__ import annotations

import math
import threading
import time
import tomllib
from collections.abc import Callable, Iterable
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input
from textual.worker import get_current_worker

from lid_tui.config import (
    DEMO_ACCESS_TOKEN,
    DEMO_INSTANCE_ID,
    ConfigError,
    Settings,
    config_path,
    demo_cache_path,
)
from lid_tui.identity import Query, QueryKind, classify, describe_number
from lid_tui.index import Row, Scan
from lid_tui.models import SyncProgress
from lid_tui.provider.base import (
    CredentialsRejected,
    InstanceNotConnected,
    Provider,
    ProviderError,
    QuotaExceeded,
    UpstreamFailure,
)
from lid_tui.provider.factory import provider_for
from lid_tui.storage import CacheBusy, CacheError
from lid_tui.store import MappingStore, Recovery
from lid_tui.sync import SyncCancelled, SyncError, SyncOptions, run_sync
from lid_tui.tui.format import STALE_AFTER_SECONDS, Display, relative_time
from lid_tui.tui.messages import (
    CacheReloaded,
    NumberResolved,
    ProgressBox,
    RefreshEnded,
    RefreshProgressed,
    SearchAnswered,
    StoreFailed,
    StoreOpened,
)
from lid_tui.tui.widgets import (
    DetailPane,
    GoToPageScreen,
    MappingTable,
    RefreshBar,
    SearchBox,
    StatusLine,
)

if TYPE_CHECKING:
    from lid_tui.demo.server import DemoServer

#: Most rows a search keeps (partial digits can match most of a million rows).
SEARCH_LIMIT = 10_000
#: How often the app checks whether another process replaced the cache file.
WATCH_INTERVAL = 2.0

#: n and p share one footer entry: "n p Page".
PAGE = Binding.Group("Page", compact=True)

ProviderFactory = Callable[[Settings], Provider]


def stylesheet() -> Path:
    """The app's .tcss: from the installed ``lid_tui.styles`` package, else the source tree."""
    try:
        installed = Path(str(files("lid_tui.styles") / "app.tcss"))
    except ModuleNotFoundError:
        installed = None
    if installed is not None and installed.is_file():
        return installed
    return Path(__file__).resolve().parents[2] / "styles" / "app.tcss"


def default_provider(settings: Settings) -> Provider:
    """A provider for ``settings``; raises ConfigError when no instance is configured."""
    return provider_for(
        settings, hint="connect one (o) or start lid-tui with --instance-id and an access token"
    )


def failure_headline(error: ProviderError) -> str:
    """A few words for the status line, by kind of failure."""
    if isinstance(error, CredentialsRejected):
        return "credentials rejected"
    if isinstance(error, QuotaExceeded):
        return "quota exceeded"
    if isinstance(error, InstanceNotConnected):
        return "instance not connected"
    if isinstance(error, UpstreamFailure):
        return "provider unreachable"
    return "provider failed"


def sentence(text: str) -> str:
    """``text`` ending with a full stop, so another sentence can follow it."""
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


def load_keymap(path: Path) -> dict[str, str]:
    """User key remaps: ``keymap.toml`` beside the config file, ``"lid.refresh" = "f5"``."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}
    return {key: value for key, value in data.items() if isinstance(value, str)}


def where(settings: Settings, demo: bool) -> str:
    """The header's subtitle: host and instance, never the token."""
    if demo:
        return "built-in demo provider"
    host = settings.base_url.split("://", 1)[-1]
    return f"{host} · {settings.instance_id or 'no instance'}"


class LidApp(App[None]):
    """Explore the LID ↔ number mappings of one instance (or of the built-in demo)."""

    TITLE = "lid-tui"
    CSS_PATH = stylesheet()
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [
        (0, "-narrow"),
        (100, "-wide"),
        (130, "-xwide"),
    ]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-short"), (34, "-tall")]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_search", "Search", key_display="/", id="lid.search"),
        Binding("r", "refresh", "Refresh", id="lid.refresh"),
        Binding("x", "cancel_refresh", "Cancel refresh", id="lid.cancel_refresh"),
        Binding(
            "n,pagedown", "next_page", "Next page", key_display="n", group=PAGE, id="lid.next_page"
        ),
        Binding(
            "p,pageup",
            "previous_page",
            "Previous page",
            key_display="p",
            group=PAGE,
            id="lid.previous_page",
        ),
        Binding("g,home", "first_page", "First page", show=False, id="lid.first_page"),
        Binding("G,end", "last_page", "Last page", show=False, id="lid.last_page"),
        Binding("colon", "go_to_page", "Go to page", show=False, id="lid.go_to_page"),
        Binding("c", "copy_lid", "Copy LID", id="lid.copy_lid"),
        Binding("y", "copy_number", "Copy no.", id="lid.copy_number"),
        Binding("m", "toggle_mask", "Mask", id="lid.mask"),
        Binding("a", "ask_provider", "Ask provider", id="lid.ask_provider"),
        Binding("o", "connect", "Connect", show=False, id="lid.connect"),
        Binding("question_mark,f1", "about", "About", key_display="?", id="lid.about"),
        Binding("escape", "back", "Back", show=False, id="lid.back"),
        Binding("q", "quit", "Quit", show=False, id="lid.quit"),
    ]

    def __init__(
        self,
        settings: Settings,
        *,
        demo: bool = False,
        provider_factory: ProviderFactory | None = None,
        store_path: Path | None = None,
        clock: Callable[[], float] = time.time,
        refresh_if_empty: bool = True,
        watch_interval: float = WATCH_INTERVAL,
        sync_options: SyncOptions | None = None,
    ) -> None:
        """``provider_factory``, ``store_path``, ``clock`` and ``sync_options`` exist so tests
        can inject them."""
        super().__init__()
        self.configured = settings  # what the user configured (shown in the connect form)
        self.settings = settings  # what the app talks to (the demo server's, in a demo)
        self.demo = demo
        self.provider_factory = provider_factory or default_provider
        self.store_path = store_path
        self.clock = clock
        self.refresh_if_empty = refresh_if_empty
        self.watch_interval = watch_interval
        self.sync_options = sync_options

        self.store: MappingStore | None = None
        self.provider: Provider | None = None
        self.demo_server: DemoServer | None = None
        self.generation = 0  # bumped when the app switches to another instance

        self.page = 0
        self.page_size = 20
        self.mask = False
        self.results: list[int] | None = None  # search results (cache rows); None = all
        self.results_more = False
        self.search_query: Query | None = None
        #: The partial scan behind the shown results: the next digit typed narrows it.
        self.last_scan: Scan | None = None
        self.exact_found = True

        self.refreshing = False
        self.refresh_cancel: threading.Event | None = None
        self.refresh_failure: str | None = None  # this session's last failed refresh
        self.resolving = False
        self.reloading = False
        self.recovery_seen: Recovery | None = None  # the broken cache file already reported

    # -- the main view's widgets (queried on the main screen: a modal may be on top) --------

    @property
    def main_screen(self) -> Screen:
        return self.screen_stack[0]

    @property
    def table(self) -> MappingTable:
        return self.main_screen.query_one(MappingTable)

    @property
    def detail(self) -> DetailPane:
        return self.main_screen.query_one(DetailPane)

    @property
    def status_line(self) -> StatusLine:
        return self.main_screen.query_one(StatusLine)

    @property
    def refresh_bar(self) -> RefreshBar:
        return self.main_screen.query_one(RefreshBar)

    @property
    def search_box(self) -> Input:
        return self.main_screen.query_one("#search", Input)

    # -- composition ------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield SearchBox(
            on_typed=self._search_typed,
            placeholder="Search a number or a LID: +55 11 9…, 5511…@c.us, 2841…@lid, some digits",
            id="search",
        )
        with Container(id="main"):
            yield MappingTable(id="table")
            yield DetailPane(id="detail")
        yield RefreshBar(id="refresh-bar")
        yield StatusLine(id="status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.set_keymap(load_keymap(config_path().with_name("keymap.toml")))
        self._set_titles()
        search = self.search_box
        search.border_title = "Search"
        search.border_subtitle = "/ to search · Esc back to the list"
        self.refresh_bar.display = False
        self.table.focus()
        opening = "Starting the demo provider…" if self.demo else "Opening the cache…"
        self.detail.show_notice(opening, [])
        self.status_line.show(opening, "")
        # After the first paint: opening a big cache in a thread still competes for the GIL.
        self.call_after_refresh(self._open_store, self.generation)
        self.set_interval(self.watch_interval, self._check_disk)

    def on_unmount(self) -> None:
        if self.refresh_cancel is not None:
            self.refresh_cancel.set()
        self._close_provider()
        self._stop_demo_server()

    def _set_titles(self) -> None:
        self.title = "lid-tui — DEMO" if self.demo else "lid-tui"
        self.sub_title = where(self.settings, self.demo)

    # -- opening the cache --------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="open")
    def _open_store(self, generation: int) -> None:
        """Start the demo server if needed, then open the cache (1 s at a million rows)."""
        try:
            settings = self._start_demo_server() if self.demo else self.settings
            path = self.store_path or settings.cache_path()
            store = MappingStore.open(path)
        except (ConfigError, CacheError, OSError) as error:
            self.post_message(StoreFailed(str(error), generation))
            return
        self.post_message(StoreOpened(store, generation, settings))

    def _start_demo_server(self) -> Settings:
        """Serve the demo data set on loopback; the app then uses it like any provider."""
        from lid_tui.demo.data import DemoDataset
        from lid_tui.demo.server import DemoServer

        if self.demo_server is None:
            self.demo_server = DemoServer(
                DemoDataset(size=5000, seed=7),
                host="127.0.0.1",
                port=0,
                instance_id=DEMO_INSTANCE_ID,
                access_token=DEMO_ACCESS_TOKEN,
            ).start()
        return Settings(
            base_url=self.demo_server.base_url,
            instance_id=DEMO_INSTANCE_ID,
            access_token=DEMO_ACCESS_TOKEN,
            cache=self.configured.cache or demo_cache_path(),
        )

    def _stop_demo_server(self) -> None:
        if self.demo_server is not None:
            self.demo_server.stop()
            self.demo_server = None

    def on_store_opened(self, message: StoreOpened) -> None:
        if message.generation != self.generation:
            return
        self.store = message.store
        self.settings = message.settings
        self._set_titles()
        recovery = self.recovery_seen = message.store.recovery
        if recovery is not None:
            self.notify(
                f"The cache file could not be read ({recovery.reason}). It was moved to "
                f"{recovery.moved_to} and an empty cache was started.",
                title="Cache recovered",
                severity="warning",
                timeout=20,
                markup=False,
            )
        self.page = 0
        self._show_page(cursor=0)
        if not len(message.store) and self.refresh_if_empty:
            self.action_refresh()

    def on_store_failed(self, message: StoreFailed) -> None:
        if message.generation != self.generation:
            return
        self.detail.show_notice("The cache cannot be opened", [message.text])
        self.status_line.show("No cache", "⚠ cache unavailable", warning=True)
        self.notify(message.text, title="Cache", severity="error", timeout=20, markup=False)

    # -- the page ---------------------------------------------------------------------------

    def view(self) -> Display:
        """How numbers and times look right now."""
        return Display(mask=self.mask, now=self.clock())

    def total_rows(self) -> int:
        if self.results is not None:
            return len(self.results)
        return len(self.store) if self.store is not None else 0

    def page_count(self) -> int:
        return max(1, math.ceil(self.total_rows() / self.page_size))

    def page_rows(self) -> list[Row]:
        """Only the visible page's rows are ever built."""
        if self.store is None:
            return []
        index = self.store.index
        start = self.page * self.page_size
        stop = start + self.page_size
        if self.results is None:
            return index.rows(start, stop)
        return [index.row(row) for row in self.results[start:stop] if row < len(index)]

    def _show_page(self, cursor: int | None = None) -> None:
        """Draw the current page; ``cursor`` None keeps the cursor where it is."""
        table = self.table
        if cursor is None:
            cursor = table.cursor_row
        self.page = max(0, min(self.page, self.page_count() - 1))
        with self.prevent(MappingTable.RowHighlighted):  # the detail is updated right here
            table.show_rows(self.page_rows(), self.view(), cursor)
        self._update_detail()
        self._update_status()

    def _go_to(self, page: int, cursor: int = 0) -> None:
        self.page = max(0, min(page, self.page_count() - 1))
        self._show_page(cursor=cursor)

    @on(MappingTable.RoomChanged)
    def _room_changed(self, message: MappingTable.RoomChanged) -> None:
        """The table's height changed: refit the page and keep the selected row on screen."""
        if message.rows == self.page_size:
            return
        position = self.page * self.page_size + self.table.cursor_row
        self.page_size = message.rows
        self.page = position // self.page_size
        if self.store is not None:
            self._show_page(cursor=position % self.page_size)

    @on(MappingTable.EdgeReached)
    def _edge_reached(self, message: MappingTable.EdgeReached) -> None:
        if message.step > 0 and self.page < self.page_count() - 1:
            self._go_to(self.page + 1, cursor=0)
        elif message.step < 0 and self.page > 0:
            self._go_to(self.page - 1, cursor=self.page_size - 1)

    @on(MappingTable.RowHighlighted)
    def _row_highlighted(self, message: MappingTable.RowHighlighted) -> None:
        self._update_detail()

    def selected_row(self) -> int | None:
        return self.table.selected_row_index()

    def _update_detail(self) -> None:
        """The detail follows the cursor; with no row, it says why the list is empty."""
        detail = self.detail
        store = self.store
        row = self.selected_row()
        if store is None:
            return
        if row is not None and row < len(store.index):
            detail.show_record(store.index.record(row), self.view())
            return
        if self.results is not None and self.search_query is not None:
            detail.show_notice(*self._no_match_notice(self.search_query))
        elif self.refreshing:
            detail.show_notice(
                "Fetching the mappings…",
                ["They appear here as soon as the refresh has written the cache."],
            )
        else:
            detail.show_notice(
                "The cache is empty",
                [
                    "No mapping has been fetched from the provider yet.",
                    "Press r to refresh: it asks the provider for every mapping it knows.",
                ],
            )

    def _no_match_notice(self, query: Query) -> tuple[str, list[str], str | None]:
        """Heading, lines and "ask the provider" label for a search that found nothing."""
        shown = self.view().hide(self.understood(query))
        if query.kind is QueryKind.NUMBER:
            return (
                "Not in the cache",
                [
                    f"No cached mapping for {shown}.",
                    "The provider may know its LID: press Enter, then a, to ask it. "
                    "Its answer is cached.",
                ],
                "Ask the provider  (a)",
            )
        if query.kind in (QueryKind.LID, QueryKind.PARTIAL):
            return (
                "No match",
                [
                    f"No cached mapping for {shown}.",
                    "A LID cannot be turned into a number: only a refresh (r) can bring "
                    "new mappings.",
                ],
                None,
            )
        if query.kind is QueryKind.NOT_PERSONAL:
            return ("Not a person", [f"{query.text.strip()[:60]} is {query.label}."], None)
        return (
            "Not a number or a LID",
            [
                "Type a phone number (+55 11 98765-4321, 5511…@c.us, …@s.whatsapp.net), "
                "a LID (2841…@lid, 2841…:12@lid) or some digits.",
            ],
            None,
        )

    def _update_status(self) -> None:
        status = self.status_line
        store = self.store
        if store is None:
            return
        total = self.total_rows()
        first = self.page * self.page_size + 1 if total else 0
        last = min(total, (self.page + 1) * self.page_size)
        if self.results is None:
            head = f"{len(store):,} mappings"
        else:
            plus = "+" if self.results_more else ""
            noun = "match" if total == 1 and not plus else "matches"
            head = f"{total:,}{plus} {noun} of {len(store):,}"
        where_ = f"page {self.page + 1:,} of {self.page_count():,}"
        rows = f"rows {first:,}–{last:,}" if total else "no rows"
        left = f"{head} · {where_} · {rows}"
        if self.mask:
            left += " · MASKED"
        right, warning = self._freshness()
        status.show(left, right, warning=warning)

    def _freshness(self) -> tuple[str, bool]:
        """Right side of the status line: when the cache was refreshed, or what went wrong."""
        assert self.store is not None
        if self.refreshing:
            return "refreshing…", False
        if self.refresh_failure:
            return f"⚠ refresh failed: {self.refresh_failure}", True
        info = self.store.last_refresh
        if info is None:
            return "⚠ never refreshed", True
        now = self.clock()
        ago = relative_time(info.at.timestamp(), now)
        if not info.complete:
            return f"⚠ last refresh incomplete ({ago})", True
        if now - info.at.timestamp() > STALE_AFTER_SECONDS:
            return f"⚠ stale: refreshed {ago}", True
        return f"refreshed {ago}", False

    # -- paging actions -----------------------------------------------------------------------

    def action_next_page(self) -> None:
        self._go_to(self.page + 1, cursor=self.table.cursor_row)

    def action_previous_page(self) -> None:
        self._go_to(self.page - 1, cursor=self.table.cursor_row)

    def action_first_page(self) -> None:
        self._go_to(0)

    def action_last_page(self) -> None:
        self._go_to(self.page_count() - 1)

    def action_go_to_page(self) -> None:
        def chosen(page: int | None) -> None:
            if page is not None:
                self._go_to(page - 1)

        self.push_screen(GoToPageScreen(self.page + 1, self.page_count()), chosen)

    # -- search -----------------------------------------------------------------------------

    def action_focus_search(self) -> None:
        self.search_box.focus()

    def action_back(self) -> None:
        """Esc: leave the search (clearing it) or the detail for the list; on the list,
        cancel a running refresh."""
        search = self.search_box
        if search.value or search.has_focus:
            search.value = ""
            self.table.focus()
        elif not self.table.has_focus:
            self.table.focus()
        elif self.refreshing:
            self.action_cancel_refresh()

    def understood(self, query: Query) -> str:
        """What the search box understood, in the words a person would use."""
        if query.kind is QueryKind.NUMBER:
            return f"number {describe_number(query.digits).international}"
        return query.label

    def _show_understood(self, query: Query) -> None:
        """Under the search box: what was understood (numbers masked in mask mode)."""
        if query.kind is QueryKind.EMPTY:
            self.search_box.border_subtitle = "/ to search · Esc back to the list"
            return
        label = self.understood(query)
        if query.kind in (QueryKind.NUMBER, QueryKind.PARTIAL):
            label = self.view().hide(label)
        self.search_box.border_subtitle = f"understood: {label}"

    def _search_typed(self, text: str) -> None:
        """The search box changed (typed, pasted or set): show what it finds."""
        query = classify(text)
        self._show_understood(query)
        if query.kind is QueryKind.EMPTY:
            self.workers.cancel_group(self, "search")
            self._set_results(None, None, more=False, exact=True)
        elif self._narrows(query):
            # A digit more on a search that found every hit: microseconds, so answered here,
            # in the same frame as the typed character (a worker's answer waits a frame more).
            self.workers.cancel_group(self, "search")
            answer = self._answer(text)
            if answer is not None:
                self.on_search_answered(answer)
        else:
            self._search(text)

    def _narrows(self, query: Query) -> bool:
        scan, store = self.last_scan, self.store
        return scan is not None and store is not None and scan.narrows_to(store.index, query.digits)

    @on(Input.Submitted, "#search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        self.table.focus()

    @work(thread=True, exclusive=True, group="search")
    def _search(self, text: str) -> None:
        """Exact match first, then partial matches; stale answers are dropped.

        No debounce: a digit typed after a search that found every hit only narrows those
        hits (microseconds), and an answer for text no longer in the box is dropped.
        """
        worker = get_current_worker()
        if worker.is_cancelled:
            return
        answer = self._answer(text)
        if answer is not None and not worker.is_cancelled:
            self.post_message(answer)

    def _answer(self, text: str) -> SearchAnswered | None:
        """What the search box's ``text`` finds in the cache (None before a cache is open)."""
        store = self.store
        if store is None:
            return None
        query = classify(text)
        rows: list[int] = []
        scan = None
        exact = True
        if query.kind in (QueryKind.LID, QueryKind.NUMBER, QueryKind.PARTIAL) and query.digits:
            rows, scan = store.search_rows(query, SEARCH_LIMIT + 1, self.last_scan)
            exact = store.lookup_row(query) is not None
        more = len(rows) > SEARCH_LIMIT
        return SearchAnswered(text, query, rows[:SEARCH_LIMIT], more, exact, scan)

    def on_search_answered(self, message: SearchAnswered) -> None:
        if message.text != self.search_box.value:
            return  # the box changed since: a newer answer is coming
        self.last_scan = message.scan
        self._set_results(message.rows, message.query, more=message.more, exact=message.exact)

    def _set_results(
        self, rows: list[int] | None, query: Query | None, *, more: bool, exact: bool
    ) -> None:
        could_ask = self.can_ask()
        self.results = rows
        self.search_query = query
        self.results_more = more
        self.exact_found = exact
        self.page = 0
        self._show_page(cursor=0)
        if self.can_ask() != could_ask:
            self.refresh_bindings()  # the footer shows "a" only when it applies

    def _rerun_search(self) -> None:
        """After the cache changed, search again so the results match the new cache."""
        text = self.search_box.value
        if text.strip():
            self._search(text)

    # -- refresh ----------------------------------------------------------------------------

    def _get_provider(self) -> Provider | None:
        """The provider for the current settings, made on first use; None (with a notice)
        when the settings cannot make one."""
        if self.provider is None:
            try:
                self.provider = self.provider_factory(self.settings)
            except (ConfigError, ProviderError) as error:
                self.notify(str(error), title="Provider", severity="error", markup=False)
                return None
        return self.provider

    def _close_provider(self) -> None:
        if self.provider is not None:
            self.provider.close()
            self.provider = None

    def action_refresh(self) -> None:
        if self.refreshing or self.store is None:
            return
        provider = self._get_provider()
        if provider is None:
            self.refresh_failure = "no provider"
            self._update_status()
            return
        self.refreshing = True
        self.refresh_cancel = threading.Event()
        self.refresh_bar.start()
        self._update_status()
        self._update_detail()
        self.refresh_bindings()
        self._refresh(provider, self.store, self.refresh_cancel)

    @work(thread=True, exclusive=True, group="refresh")
    def _refresh(self, provider: Provider, store: MappingStore, cancel: threading.Event) -> None:
        """Run the sync engine; progress and the outcome go back as messages."""
        box = ProgressBox()

        def progress(update: SyncProgress) -> None:
            if box.put(update):
                self.post_message(RefreshProgressed(box))

        try:
            report = run_sync(
                provider,
                store,
                options=self.sync_options,
                progress=progress,
                cancel=cancel,
                command="lid-tui",
            )
        except SyncCancelled as stopped:
            self.post_message(RefreshEnded(stopped.report, cancelled=True))
        except SyncError as error:
            self.post_message(
                RefreshEnded(error.report, str(error.cause), failure_headline(error.cause))
            )
        except CacheBusy as error:
            self.post_message(RefreshEnded(None, str(error), "cache busy"))
        except CacheError as error:
            self.post_message(RefreshEnded(None, str(error), "cache unavailable"))
        except ConfigError as error:
            self.post_message(RefreshEnded(None, str(error), "settings incomplete"))
        except ProviderError as error:
            self.post_message(RefreshEnded(None, str(error), failure_headline(error)))
        else:
            self.post_message(RefreshEnded(report))

    def on_refresh_progressed(self, message: RefreshProgressed) -> None:
        progress = message.box.take()
        if self.refreshing and progress is not None:
            self.refresh_bar.advance(progress)

    def on_refresh_ended(self, message: RefreshEnded) -> None:
        self.refreshing = False
        self.refresh_cancel = None
        self.refresh_bar.stop()
        report = message.report
        if message.cancelled:
            kept = report.fetched if report else 0
            self.notify(f"Refresh cancelled; kept the {kept:,} mappings fetched.", markup=False)
        elif message.problem is not None:
            self.refresh_failure = message.headline
            if report is not None and report.fetched:
                kept = f"Kept the {report.fetched:,} mappings fetched before it stopped."
            else:
                kept = "The cache was left as it was."
            self.notify(
                f"{sentence(message.problem)} {kept}",
                title=f"Refresh failed: {message.headline}",
                severity="error",
                timeout=15,
                markup=False,
            )
        elif report is not None:
            self.refresh_failure = None
            self.notify(
                f"{report.added:,} added, {report.changed:,} changed, "
                f"{report.unchanged:,} unchanged, {report.skipped:,} skipped "
                f"({report.fetched:,} fetched in {report.seconds:.1f} s).",
                title="Refresh done",
                markup=False,
            )
        self.refresh_bindings()
        self._show_page()
        self._rerun_search()

    def action_cancel_refresh(self) -> None:
        if self.refresh_cancel is not None:
            self.refresh_cancel.set()
            self.refresh_bar.cancelling()

    # -- another process refreshed ---------------------------------------------------------

    def _check_disk(self) -> None:
        store = self.store
        if store is None or self.refreshing or self.resolving or self.reloading:
            return
        if store.changed_on_disk():
            self.reloading = True
            self._reload(store)

    @work(thread=True, exclusive=True, group="reload")
    def _reload(self, store: MappingStore) -> None:
        try:
            store.reload()
        except CacheError as error:
            self.post_message(CacheReloaded(str(error)))
            return
        self.post_message(CacheReloaded())

    def on_cache_reloaded(self, message: CacheReloaded) -> None:
        self.reloading = False
        if message.problem:
            self.notify(message.problem, title="Cache", severity="error", markup=False)
            return
        recovery = self.store.recovery if self.store is not None else None
        if recovery is not None and recovery is not self.recovery_seen:
            self.recovery_seen = recovery
            self.notify(
                f"The cache file became unreadable ({recovery.reason}); moved to "
                f"{recovery.moved_to}.",
                title="Cache recovered",
                severity="warning",
                markup=False,
            )
        self._show_page()
        self._rerun_search()

    # -- asking the provider for one number ------------------------------------------------

    def can_ask(self) -> bool:
        query = self.search_query
        return (
            self.results is not None
            and query is not None
            and query.kind is QueryKind.NUMBER
            and not self.exact_found
            and not self.resolving
        )

    def action_ask_provider(self) -> None:
        if not self.can_ask() or self.store is None or self.search_query is None:
            return
        if self.refreshing:
            self.notify("Wait for the refresh to end, then ask again.", severity="warning")
            return
        provider = self._get_provider()
        if provider is None:
            return
        self.resolving = True
        self.refresh_bindings()
        shown = self.view().number(self.search_query.digits)
        self.notify(f"Asking the provider for {shown}…", markup=False)
        self._resolve(provider, self.store, self.search_query.digits)

    @on(Button.Pressed, "#ask")
    def _ask_pressed(self, event: Button.Pressed) -> None:
        self.action_ask_provider()

    @work(thread=True, exclusive=True, group="resolve")
    def _resolve(self, provider: Provider, store: MappingStore, number: str) -> None:
        try:
            answer = provider.resolve_number(number)
            if answer is not None:
                store.remember(*answer)
        except (ProviderError, CacheError, ValueError) as error:
            self.post_message(NumberResolved(number, None, str(error)))
            return
        self.post_message(NumberResolved(number, answer[0] if answer else None))

    def on_number_resolved(self, message: NumberResolved) -> None:
        self.resolving = False
        shown = self.view().number(message.number)
        if message.problem:
            self.notify(
                message.problem,
                title="The provider could not answer",
                severity="error",
                markup=False,
            )
        elif message.lid is None:
            self.notify(f"The provider knows no LID for {shown}.", severity="warning", markup=False)
        else:
            self.notify(
                f"{shown} is {message.lid}@lid. Cached.",
                title="The provider answered",
                markup=False,
            )
        self.refresh_bindings()
        self._rerun_search()

    # -- copy and mask ----------------------------------------------------------------------

    def action_copy_lid(self) -> None:
        row = self.selected_row()
        if row is None or self.store is None:
            self.notify("No mapping selected.", severity="warning")
            return
        lid = f"{self.store.index.lid_at(row)}@lid"
        self.copy_to_clipboard(lid)
        self.notify(f"Copied {lid}", title="Clipboard", markup=False)

    def action_copy_number(self) -> None:
        row = self.selected_row()
        if row is None or self.store is None:
            self.notify("No mapping selected.", severity="warning")
            return
        number = self.store.index.row(row).number
        if not number:
            self.notify("This LID's number is hidden by its owner: nothing to copy.")
            return
        self.copy_to_clipboard(number)
        self.notify(f"Copied {self.view().hide(number)}", title="Clipboard", markup=False)

    def action_toggle_mask(self) -> None:
        self.mask = not self.mask
        self.clear_notifications()  # a toast may carry a full number
        search = self.search_box
        search.password = self.mask
        self._show_understood(classify(search.value))
        self._show_page()
        self.notify("Mask on: numbers show their last 3 digits." if self.mask else "Mask off.")

    # -- other screens ----------------------------------------------------------------------

    def action_focus_detail(self) -> None:
        self.detail.focus()

    def action_about(self) -> None:
        from lid_tui.tui.screens.about import AboutScreen

        self.push_screen(AboutScreen())

    def action_connect(self) -> None:
        from lid_tui.tui.screens.connect import ConnectScreen

        self.push_screen(ConnectScreen(self.configured), self._connected)

    def _connected(self, settings: Settings | None) -> None:
        if settings is None:
            return
        if self.refreshing:
            self.notify(
                "Saved. Cancel or finish the refresh (x), then connect again to switch.",
                severity="warning",
            )
            return
        self.switch_instance(settings)

    def switch_instance(self, settings: Settings) -> None:
        """Talk to another instance: new provider, its own cache, refreshed if empty."""
        self._close_provider()
        self._stop_demo_server()
        self.configured = self.settings = settings
        self.demo = False
        self.store_path = None
        self.store = None
        self.refresh_failure = None
        self.generation += 1
        self.search_box.value = ""
        self._set_results(None, None, more=False, exact=True)
        self._set_titles()
        self.detail.show_notice("Opening the cache…", [])
        self._open_store(self.generation)

    # -- discoverability ------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide actions from the footer when they cannot apply."""
        if action == "cancel_refresh":
            return self.refreshing
        if action == "ask_provider":
            return self.can_ask()
        return True

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        commands: list[tuple[str, str, Callable[[], Any]]] = [
            ("Search", "Focus the search box (/)", self.action_focus_search),
            ("Refresh", "Fetch every mapping from the provider (r)", self.action_refresh),
            ("Next page", "Show the next page (n, PageDown)", self.action_next_page),
            ("Previous page", "Show the previous page (p, PageUp)", self.action_previous_page),
            ("First page", "Go to the first page (g, Home)", self.action_first_page),
            ("Last page", "Go to the last page (G, End)", self.action_last_page),
            ("Go to page", "Jump to a page by number (:)", self.action_go_to_page),
            ("Copy LID", "Copy the selected LID to the clipboard (c)", self.action_copy_lid),
            ("Copy number", "Copy the selected number (y)", self.action_copy_number),
            ("Mask numbers", "Hide all but the last 3 digits (m)", self.action_toggle_mask),
            ("About LIDs", "What a LID is and what can be resolved (?)", self.action_about),
            ("Connect", "Set the provider, instance and token (o)", self.action_connect),
        ]
        if self.refreshing:
            commands.append(("Cancel refresh", "Stop the refresh (x)", self.action_cancel_refresh))
        if self.can_ask():
            commands.append(
                ("Ask the provider", "Look up this number's LID (a)", self.action_ask_provider)
            )
        for title, help_text, callback in commands:
            yield SystemCommand(title, help_text, callback)


def run_app(settings: Settings, *, demo: bool) -> None:
    """Entry point for the command line: run the app until the user quits."""
    app = LidApp(settings, demo=demo)
    try:
        app.run()
    finally:
        app._stop_demo_server()
        app._close_provider()
