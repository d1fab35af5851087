"""The command line: builds settings, calls the core, prints. No logic of its own.

Exit statuses (DESIGN.md): 0 done; 1 lookup found nothing; 2 usage or missing settings;
3 credentials rejected; 4 provider unreachable, failing or sending nothing usable;
5 cache in use by another process or unreadable.
"""

from __future__ import annotations

import csv
import io
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TextIO

import click
import orjson

from lid_tui import __version__
from lid_tui.config import ConfigError, Settings, load_settings
from lid_tui.identity import QueryKind, chat_jids, classify, describe_number
from lid_tui.models import MappingRecord, SyncProgress
from lid_tui.provider.base import DEFAULT_TIMEOUT, Provider, ProviderError
from lid_tui.provider.factory import provider_for
from lid_tui.storage import CacheError, atomic_write_bytes
from lid_tui.store import MappingStore
from lid_tui.sync import SyncCancelled, SyncError, run_sync

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_USAGE = 2


def fail(message: str, status: int) -> NoReturn:
    """One line on stderr, then exit with ``status``. Never a traceback."""
    click.echo(f"lid-tui: {message}", err=True)
    sys.exit(status)


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn every expected failure into its message and exit status."""
    try:
        yield
    except ConfigError as error:
        fail(str(error), error.exit_status)
    except CacheError as error:
        fail(str(error), error.exit_status)
    except SyncError as error:
        kept = error.report.fetched
        if kept:
            message = f"refresh incomplete: {error.cause} (kept the {kept:,} mappings fetched)"
        else:
            message = f"{error.cause}; the cache was not changed"
        fail(message, error.exit_status)
    except ProviderError as error:
        fail(str(error), error.exit_status)
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(EXIT_OK)


# -- shared options ---------------------------------------------------------------------------

_SETTING_OPTIONS = [
    click.option("--base-url", help="Provider API base URL [env LID_TUI_BASE_URL]."),
    click.option("--instance-id", help="Instance id [env LID_TUI_INSTANCE_ID]."),
    click.option(
        "--access-token", help="Access token [env LID_TUI_ACCESS_TOKEN]. Prefer the env var."
    ),
    click.option(
        "--cache",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Cache file [env LID_TUI_CACHE].",
    ),
    click.option(
        "--allow-insecure-http",
        is_flag=True,
        default=None,
        help="Allow plain http to a host that is not loopback (the token travels in clear).",
    ),
]


def setting_options(function: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_SETTING_OPTIONS):
        function = option(function)
    return function


def settings_from(ctx: click.Context, **flags: Any) -> Settings:
    """Settings from this command's flags over the group's flags, env and config file."""
    merged = dict(ctx.obj or {})
    merged.update({key: value for key, value in flags.items() if value is not None})
    return load_settings(merged)


def open_store(settings: Settings) -> MappingStore:
    store = MappingStore.open(settings.cache_path())
    if store.recovery is not None:
        click.echo(
            f"lid-tui: the cache file could not be read ({store.recovery.reason}); "
            f"moved it to {store.recovery.moved_to} and started an empty cache",
            err=True,
        )
    return store


def make_provider(settings: Settings, timeout: float | None = None) -> Provider:
    return provider_for(
        settings,
        hint="give --instance-id and --access-token (or set LID_TUI_INSTANCE_ID and "
        "LID_TUI_ACCESS_TOKEN, or use the config file)",
        timeout=timeout,
    )


#: Seconds to wait for each answer of the provider; the adapter's default when not given.
timeout_option = click.option(
    "--timeout",
    type=click.FloatRange(0.05, 600),
    default=None,
    metavar="SECONDS",
    help=f"Seconds to wait for each answer of the provider  [default: {DEFAULT_TIMEOUT:g}]",
)


# -- the group --------------------------------------------------------------------------------


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@setting_options
@click.version_option(__version__, prog_name="lid-tui")
@click.pass_context
def main(ctx: click.Context, **flags: Any) -> None:
    """Explore WhatsApp LID <-> phone-number mappings.

    With no command, opens the app (on the built-in demo provider when no instance is
    configured).
    """
    ctx.obj = {key: value for key, value in flags.items() if value is not None}
    if ctx.invoked_subcommand is None:
        with friendly_errors():
            settings = settings_from(ctx)
            _run_tui(settings, demo=not settings.is_configured)


@main.command()
@setting_options
@click.pass_context
def demo(ctx: click.Context, **flags: Any) -> None:
    """Open the app on the built-in demo provider, with its own cache."""
    with friendly_errors():
        _run_tui(settings_from(ctx, **flags), demo=True)


def _run_tui(settings: Settings, *, demo: bool) -> None:
    from lid_tui.tui.app import run_app

    run_app(settings, demo=demo)


# -- sync -------------------------------------------------------------------------------------


@contextmanager
def cancel_on_signals(cancel: threading.Event) -> Iterator[None]:
    """First Ctrl-C or SIGTERM: stop fetching, keep what was fetched. A second: stop at once."""

    def handler(signum: int, frame: object) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old_handler in previous.items():
            signal.signal(sig, old_handler)


class ProgressLine:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self._last = 0.0
        self._lock = threading.Lock()

    def __call__(self, progress: SyncProgress) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        with self._lock:
            if now - self._last < 0.1:
                return
            self._last = now
            self.stream.write("\r\x1b[2K" + self.render(progress))
            self.stream.flush()

    @staticmethod
    def render(progress: SyncProgress, width: int = 24) -> str:
        if progress.total:
            share = min(1.0, progress.fetched / progress.total)
            filled = int(share * width)
            bar = "█" * filled + "░" * (width - filled)
            head = f"{bar} {share:4.0%}  {progress.fetched:,}/{progress.total:,}"
        else:
            head = f"{progress.fetched:,} mappings"
        line = f"Refreshing {head}  {progress.pages} pages  {progress.seconds:.1f} s"
        if progress.retrying:
            line += f"  ({progress.retrying})"
        return line[:200]

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()


@main.command()
@setting_options
@click.option("--json", "as_json", is_flag=True, help="Print the summary as a JSON object.")
@click.option("--page-size", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@click.option("--concurrency", type=click.IntRange(1, 16), default=4, show_default=True)
@timeout_option
@click.option(
    "--retries",
    type=click.IntRange(0, 20),
    default=5,
    show_default=True,
    help="Retries of a request that failed in a way worth retrying (5xx, 429, timeouts).",
)
@click.pass_context
def sync(
    ctx: click.Context,
    as_json: bool,
    page_size: int,
    concurrency: int,
    timeout: float | None,
    retries: int,
    **flags: Any,
) -> None:
    """Refresh the cache from the provider. Progress on stderr, a summary on stdout."""
    from lid_tui.sync import SyncOptions

    cancel = threading.Event()
    # Signals are handled from the start to the last line printed: a Ctrl-C or SIGTERM that
    # lands after the refresh ended lets the summary print instead of killing the process.
    with friendly_errors(), cancel_on_signals(cancel):
        settings = settings_from(ctx, **flags)
        provider = make_provider(settings, timeout)
        store = open_store(settings)
        progress = ProgressLine(sys.stderr)
        options = SyncOptions(
            page_size=page_size, concurrency=concurrency, max_attempts=retries + 1
        )
        try:
            report = run_sync(provider, store, options=options, progress=progress, cancel=cancel)
        except SyncCancelled as cancelled:
            progress.close()
            fail(f"refresh cancelled; kept the {cancelled.report.fetched:,} mappings fetched", 130)
        finally:
            progress.close()
            provider.close()
        if as_json:
            click.echo(orjson.dumps(report.to_json_dict()).decode())
        else:
            click.echo(
                f"Fetched {report.fetched:,} mappings in {report.pages:,} pages "
                f"({report.seconds:.1f} s): {report.added:,} added, {report.changed:,} changed, "
                f"{report.unchanged:,} unchanged, {report.skipped:,} skipped."
            )
            if report.not_listed:
                click.echo(f"{report.not_listed:,} cached LIDs were not listed this time (kept).")


# -- lookup and search ------------------------------------------------------------------------


def describe_record(record: MappingRecord) -> str:
    """A record as aligned lines for people."""
    lines = [f"LID         {record.lid}"]
    if record.number:
        info = describe_number(record.number)
        country = info.country or info.region or "unknown country"
        lines.append(f"Number      {info.international}  ({country}, {info.line_type})")
        cus, swa = chat_jids(record.number)
        lines.append(f"Chats       {cus}  {swa}")
    else:
        lines.append("Number      hidden by its owner (it cannot be derived from the LID)")
    lines.append(f"First seen  {record.first_seen:%Y-%m-%d %H:%M} UTC")
    lines.append(f"Last seen   {record.last_seen:%Y-%m-%d %H:%M} UTC")
    lines.append(
        "Listed      " + ("yes" if record.listed else "no (missing from the last refresh)")
    )
    for event in record.history:
        when = f"{event.at:%Y-%m-%d}"
        if event.previous_number:
            text = f"number changed from +{event.previous_number} to +{event.number}"
        elif event.event.value == "number_moved_in":
            text = f"took over +{event.number} from {event.other_lid}"
        else:
            text = f"+{event.number} moved to {event.other_lid}"
        lines.append(f"History     {when}  {text}")
    return "\n".join(lines)


@main.command()
@setting_options
@click.argument("query")
@click.option("--json", "as_json", is_flag=True, help="Print the record as a JSON object.")
@click.option(
    "--ask-provider",
    is_flag=True,
    help="When a number is not cached, ask the provider for its LID and cache the answer.",
)
@timeout_option
@click.pass_context
def lookup(
    ctx: click.Context,
    query: str,
    as_json: bool,
    ask_provider: bool,
    timeout: float | None,
    **flags: Any,
) -> None:
    """Find the mapping of one number (any common format) or LID (any JID form)."""
    with friendly_errors():
        understood = classify(query)
        if understood.kind in (QueryKind.EMPTY, QueryKind.INVALID):
            fail(f"{query.strip()[:60]!r} is not a phone number or a LID", EXIT_USAGE)
        if understood.kind is QueryKind.NOT_PERSONAL:
            fail("that is a group, channel or broadcast address, not a person", EXIT_USAGE)
        settings = settings_from(ctx, **flags)
        store = open_store(settings)
        record = store.lookup(understood)
        if record is None and ask_provider and understood.kind is QueryKind.NUMBER:
            provider = make_provider(settings, timeout)
            try:
                answer = provider.resolve_number(understood.digits)
            finally:
                provider.close()
            if answer is not None:
                store.remember(*answer)
                record = store.lookup(understood)
        if record is None:
            hint = ""
            if understood.kind is QueryKind.PARTIAL:
                hint = " (partial digits: try `lid-tui search`)"
            fail(f"no mapping for {understood.label}{hint}", EXIT_NOT_FOUND)
        if as_json:
            click.echo(orjson.dumps(record.to_json_dict()).decode())
        else:
            click.echo(describe_record(record))


@main.command()
@setting_options
@click.argument("query")
@click.option("--limit", type=click.IntRange(1, None), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print an array of records.")
@click.pass_context
def search(ctx: click.Context, query: str, limit: int, as_json: bool, **flags: Any) -> None:
    """Mappings whose LID or number contains the digits of QUERY (exact match first)."""
    with friendly_errors():
        understood = classify(query)
        if understood.kind is QueryKind.NOT_PERSONAL:
            fail("that is a group, channel or broadcast address, not a person", EXIT_USAGE)
        if not understood.digits:
            # Not only text without digits: "abc123" and 10,000 digits are refused too.
            fail(
                f"{query.strip()[:60]!r} is not a phone number, a LID or digits to search for",
                EXIT_USAGE,
            )
        store = open_store(settings_from(ctx, **flags))
        index = store.index
        rows = store.matching_rows(understood, limit)
        if as_json:
            click.echo(orjson.dumps([index.record_dict(row) for row in rows]).decode())
            return
        for row in rows:
            view = index.row(row)
            number = describe_number(view.number).international if view.number else "(hidden)"
            click.echo(f"{view.lid}@lid  {number}")
        if not rows:
            click.echo(f"No mapping contains {understood.digits}.", err=True)


# -- export -----------------------------------------------------------------------------------

CSV_FIELDS = ["lid", "number", "first_seen", "last_seen", "history"]


def render_export(store: MappingStore, fmt: str) -> Iterator[bytes]:
    """The cache in the chosen format, in chunks."""
    records = store.iter_record_dicts()
    if fmt == "jsonl":
        for record in records:
            yield orjson.dumps(record) + b"\n"
    elif fmt == "json":
        yield b"["
        for position, record in enumerate(records):
            yield (b",\n" if position else b"\n") + orjson.dumps(record)
        yield b"\n]\n"
    else:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_FIELDS)
        for record in records:
            writer.writerow(
                [
                    record["lid"],
                    record["number"] or "",
                    record["first_seen"],
                    record["last_seen"],
                    orjson.dumps(record["history"]).decode() if record["history"] else "",
                ]
            )
            if buffer.tell() > 1 << 16:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode()


@main.command()
@setting_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv", "json"]),
    default="jsonl",
    show_default=True,
)
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), help="File (default: stdout)."
)
@click.pass_context
def export(ctx: click.Context, fmt: str, output: Path | None, **flags: Any) -> None:
    """Write every cached mapping as JSON Lines, CSV or a JSON array."""
    with friendly_errors():
        store = open_store(settings_from(ctx, **flags))
        chunks = render_export(store, fmt)
        if output is None:
            out = sys.stdout.buffer
            for chunk in chunks:
                out.write(chunk)
            out.flush()
        else:
            try:
                atomic_write_bytes(output, b"".join(chunks), mode=0o644)
            except OSError as error:
                fail(f"cannot write {output}: {error.strerror}", EXIT_USAGE)


# -- demo server and web ----------------------------------------------------------------------


@main.command("demo-server")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@click.option("--size", type=click.IntRange(0, 5_000_000), default=5000, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option(
    "--change-rate",
    type=click.FloatRange(0, 0.1),
    default=0.002,
    show_default=True,
    help="Share of rows changed per refresh, per kind of change.",
)
@click.option("--instance-id", default="demo", show_default=True)
@click.option("--access-token", default="demo-token", help="Token clients must send.")
@click.option("--quirks", is_flag=True, help="Behave like a messy provider (for testing clients).")
@click.option(
    "--page-delay", type=click.FloatRange(0, 60), default=0.0, help="Seconds to wait per page."
)
def demo_server(
    host: str,
    port: int,
    size: int,
    seed: int,
    change_rate: float,
    instance_id: str,
    access_token: str,
    quirks: bool,
    page_delay: float,
) -> None:
    """Serve the demo provider over HTTP (the /v2/lids protocol; curl can talk to it)."""
    from lid_tui.demo.data import DemoDataset
    from lid_tui.demo.server import DemoServer

    with friendly_errors():
        try:
            server = DemoServer(
                DemoDataset(size=size, seed=seed, change_rate=change_rate),
                host=host,
                port=port,
                instance_id=instance_id,
                access_token=access_token,
                quirks=quirks,
                page_delay=page_delay,
            )
        except OSError as error:
            fail(f"cannot listen on {host}:{port}: {error.strerror}", EXIT_USAGE)
        click.echo(
            f"Demo provider with {size:,} mappings on {server.base_url} "
            f"(instance {instance_id!r}). Ctrl-C stops it.",
            err=True,
        )
        click.echo(
            f"  curl '{server.base_url}/v2/lids?instance_id={instance_id}"
            "&access_token=<token>&limit=5&offset=0'",
            err=True,
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            server.stop()


@main.command()
@setting_options
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--demo", "use_demo", is_flag=True, help="Serve the demo whatever is configured.")
@click.pass_context
def web(ctx: click.Context, port: int, use_demo: bool, **flags: Any) -> None:
    """Serve the app in a browser on 127.0.0.1 (textual-serve), for demos."""
    from lid_tui.tui.web import serve

    with friendly_errors():
        serve(settings_from(ctx, **flags), port=port, demo=use_demo)
