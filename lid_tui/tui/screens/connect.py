"""The connect screen: enter the provider's base URL, instance id and access token, test them,
and save them to the config file.

The token is a secret, so the screen never puts it on screen: the field is masked, a saved token
is shown only as a placeholder, and every message is scrubbed of it before display. The network
test runs in a thread worker so a slow provider never freezes the UI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

from pydantic import ValidationError
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static
from textual.worker import get_current_worker

from lid_tui.config import (
    DEFAULT_BASE_URL,
    ConfigError,
    Settings,
    config_path,
    read_config_file,
    save_settings,
)
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
    UnusablePayload,
    UpstreamFailure,
)
from lid_tui.provider.http import checked_base_url, redact

#: Shown instead of a saved token; the token itself never reaches a widget.
SAVED_TOKEN_PLACEHOLDER = "•••• saved — leave empty to keep it"
NEW_TOKEN_PLACEHOLDER = "paste the instance's access token"
INSECURE_NOTE = "Use https:// (plain http only to this machine)"

FIELDS = ("base_url", "instance_id", "access_token")


class CountingProvider(Protocol):
    """The part of a provider the connection test needs."""

    def count(self) -> int | None: ...

    def close(self) -> None: ...


ProviderFactory = Callable[[str, str, str], CountingProvider]


def wawp_provider(base_url: str, instance_id: str, access_token: str) -> CountingProvider:
    """The default factory: the real ``/v2/lids`` adapter (imported late, it pulls in httpx)."""
    from lid_tui.provider.wawp import WawpProvider

    return WawpProvider(base_url, instance_id, access_token)


@dataclass(frozen=True)
class TestOutcome:
    """What a connection test found, ready to show: a headline, a detail line, and the field
    to flag when the problem is in one."""

    __test__ = False  # not a pytest test class, despite the name

    ok: bool
    headline: str
    detail: str = ""
    field: str | None = None
    field_note: str = ""


def scrub(text: str, secret: str, limit: int = 240) -> str:
    """One line of ``text`` without ``secret`` (nor any registered secret), clipped."""
    if secret:
        text = text.replace(secret, "••••")
    text = redact(text, (secret,) if secret else ())
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def success_outcome(count: int | None, where: str = "") -> TestOutcome:
    headline = "Connected (count unknown)" if count is None else f"Connected: {count:,} mappings"
    return TestOutcome(True, headline, where)


def failure_outcome(error: BaseException, secret: str) -> TestOutcome:
    """Name the failure the way a person would ask about it; never a traceback."""
    detail = scrub(str(error), secret)
    if isinstance(error, CredentialsRejected):
        return TestOutcome(
            False, "Credentials rejected", detail or "Check the instance id and token."
        )
    if isinstance(error, QuotaExceeded):
        return TestOutcome(False, "Refused by the provider (quota or plan)", detail)
    if isinstance(error, InstanceNotConnected):
        return TestOutcome(
            False,
            "Instance not connected",
            detail or "The instance exists but its WhatsApp session is not linked.",
        )
    if isinstance(error, RateLimited):
        wait = f" Try again in {error.retry_after:.0f} s." if error.retry_after else ""
        return TestOutcome(False, "Rate limited", (detail + wait).strip())
    if isinstance(error, UpstreamFailure):
        return TestOutcome(False, "Provider unreachable", detail)
    if isinstance(error, UnusablePayload):
        return TestOutcome(False, "Unexpected answer from the provider", detail)
    if isinstance(error, InsecureTransport):
        return TestOutcome(
            False, "Insecure http refused", detail, field="base_url", field_note=INSECURE_NOTE
        )
    if isinstance(error, InvalidBaseUrl):
        return TestOutcome(False, "Invalid URL", detail, field="base_url", field_note=detail)
    if isinstance(error, ProviderConfigError):
        return TestOutcome(False, "Incomplete settings", detail)
    if isinstance(error, BadRequest):
        return TestOutcome(False, "Request refused by the provider", detail)
    if isinstance(error, ProviderError):
        return TestOutcome(False, "Provider error", detail)
    if isinstance(error, OSError):
        return TestOutcome(False, "Provider unreachable", detail)
    # Anything else is a bug somewhere; show its kind, not its text (it might echo the URL).
    return TestOutcome(False, "Test failed", f"Unexpected {type(error).__name__}.")


def short_path(path: Path) -> str:
    """``path`` with the home folder written as ``~``, as people read it."""
    try:
        return "~/" + path.expanduser().relative_to(Path.home()).as_posix()
    except ValueError:
        return str(path)


class ConnectScreen(ModalScreen[Settings | None]):
    """Edit, test and save the provider settings. Dismisses with the saved Settings, or None."""

    DEFAULT_CSS = """
    ConnectScreen {
        align: center middle;
    }
    ConnectScreen > #connect-dialog {
        width: 80;
        max-width: 100%;
        height: auto;
        margin: 0 2;
        padding: 0 1;
        border: round $primary;
        border-title-color: $text;
        border-title-style: bold;
        border-subtitle-color: $text-muted;
        background: $surface;
    }
    ConnectScreen #connect-intro {
        color: $text-muted;
        margin: 0 0 1 0;
    }
    ConnectScreen .field {
        height: auto;
    }
    ConnectScreen .field > Label {
        width: 15;
        padding: 1 1 0 0;
        text-style: bold;
    }
    ConnectScreen .field > Vertical {
        width: 1fr;
        height: auto;
    }
    ConnectScreen .field-error {
        display: none;
        color: $text-error;
        padding: 0 0 0 1;
    }
    ConnectScreen .field-error.-shown {
        display: block;
    }
    ConnectScreen #status {
        height: auto;
        min-height: 2;
        margin: 1 0;
        color: $text-muted;
    }
    ConnectScreen #status.-ok {
        color: $text-success;
    }
    ConnectScreen #status.-failed {
        color: $text-error;
    }
    ConnectScreen #buttons {
        height: auto;
        align-horizontal: right;
    }
    ConnectScreen #buttons > Button {
        margin: 0 0 0 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="connect.cancel"),
        Binding("ctrl+s", "save", "Save", id="connect.save"),
        Binding("ctrl+t", "test", "Test connection", id="connect.test"),
    ]

    class Tested(Message):
        """Posted by the test worker when it is done."""

        def __init__(self, outcome: TestOutcome) -> None:
            super().__init__()
            self.outcome = outcome

    def __init__(
        self,
        settings: Settings,
        config_file: Path | None = None,
        *,
        provider_factory: ProviderFactory | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._settings = settings
        self._config_file = config_file if config_file is not None else config_path()
        self._provider_factory: ProviderFactory = provider_factory or wawp_provider
        # Kept here and nowhere on screen; used when the token field is left empty.
        self._saved_token = settings.token

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        saved = bool(self._saved_token)
        with Vertical(id="connect-dialog") as dialog:
            dialog.border_title = "Connect to a provider"
            dialog.border_subtitle = "^T test · ^S save · Esc cancel"
            yield Static(
                Content(f"Saved to {short_path(self._config_file)}, readable only by you."),
                id="connect-intro",
            )
            yield from self._field(
                "base_url",
                "Base URL",
                Input(
                    self._settings.base_url,
                    placeholder=DEFAULT_BASE_URL,
                    id="base_url",
                ),
            )
            yield from self._field(
                "instance_id",
                "Instance id",
                Input(
                    self._settings.instance_id or "",
                    placeholder="your instance id",
                    id="instance_id",
                ),
            )
            yield from self._field(
                "access_token",
                "Access token",
                Input(
                    "",
                    placeholder=SAVED_TOKEN_PLACEHOLDER if saved else NEW_TOKEN_PLACEHOLDER,
                    password=True,
                    id="access_token",
                ),
            )
            yield Static(Content("Tip: test the connection before you save."), id="status")
            with Horizontal(id="buttons"):
                yield Button("Test connection", id="test")
                yield Button("Save", id="save", variant="primary")
                yield Button("Cancel", id="cancel")

    def _field(self, key: str, label: str, field: Input) -> ComposeResult:
        with Horizontal(classes="field"):
            yield Label(label, classes="field-label")
            with Vertical():
                yield field
                yield Static("", id=f"{key}-error", classes="field-error")

    def on_mount(self) -> None:
        first_empty = next(
            (field for field in self.query(Input).results(Input) if not field.value),
            self.query_one("#base_url", Input),
        )
        first_empty.focus()

    # -- events -----------------------------------------------------------------------------

    @on(Button.Pressed, "#test")
    def _pressed_test(self) -> None:
        self.action_test()

    @on(Button.Pressed, "#save")
    def _pressed_save(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#cancel")
    def _pressed_cancel(self) -> None:
        self.action_cancel()

    @on(Input.Changed)
    def _edited(self, event: Input.Changed) -> None:
        """Editing a field withdraws its complaint."""
        if event.input.id in FIELDS:
            self._set_error(event.input.id, "")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        """Enter moves to the next field; on the last one it saves."""
        if event.input.id == "access_token":
            self.action_save()
        else:
            self.focus_next(Input)

    def on_connect_screen_tested(self, message: Tested) -> None:
        self.query_one("#test", Button).disabled = False
        self._show_outcome(message.outcome)

    # -- actions ----------------------------------------------------------------------------

    def action_cancel(self) -> None:
        self.workers.cancel_group(self, "connect-test")
        self.dismiss(None)

    def action_test(self) -> None:
        values = self._values()
        if values is None:
            return
        base_url, instance_id, token = values
        self.query_one("#test", Button).disabled = True
        self._show_status("Testing the connection…", "")
        self._run_test(base_url, instance_id, token)

    def action_save(self) -> None:
        values = self._values()
        if values is None:
            return
        base_url, instance_id, token = values
        try:
            settings = Settings.model_validate(
                {
                    "base_url": base_url,
                    "instance_id": instance_id,
                    "access_token": token,
                    "cache": self._settings.cache,
                }
            )
        except ValidationError as error:
            for problem in error.errors():
                key = str(problem["loc"][0]) if problem["loc"] else "base_url"
                message = problem["msg"].removeprefix("Value error, ")
                message = message[:1].upper() + message[1:]
                self._set_error(key if key in FIELDS else "base_url", message)
            self._show_status("Fix the marked field first.", "failed")
            return
        try:
            checked_base_url(settings.base_url)
        except InsecureTransport:
            self._set_error("base_url", INSECURE_NOTE)
            self._show_status("Fix the marked field first.", "failed")
            return
        except ProviderConfigError as error:
            self._set_error("base_url", scrub(str(error), token))
            self._show_status("Fix the marked field first.", "failed")
            return
        try:
            save_settings(self._file_settings(settings), self._config_file)
        except OSError as error:
            reason = error.strerror or type(error).__name__
            self._show_status(f"Could not save {short_path(self._config_file)}: {reason}", "failed")
            return
        self.workers.cancel_group(self, "connect-test")
        self.dismiss(settings)

    # -- helpers ----------------------------------------------------------------------------

    def _values(self) -> tuple[str, str, str] | None:
        """The three fields, trimmed, with the saved token standing in for an empty field;
        None (and the complaints shown) when one is missing."""
        base_url = self.query_one("#base_url", Input).value.strip()
        instance_id = self.query_one("#instance_id", Input).value.strip()
        token = self.query_one("#access_token", Input).value.strip() or self._saved_token
        missing = {
            "base_url": "" if base_url else f"Enter the API address, e.g. {DEFAULT_BASE_URL}",
            "instance_id": "" if instance_id else "Enter the instance id",
            "access_token": "" if token else "Enter the access token",
        }
        for key, message in missing.items():
            self._set_error(key, message)
        if any(missing.values()):
            self._show_status("Fill in the marked fields first.", "failed")
            return None
        return base_url, instance_id, token

    def _file_settings(self, settings: Settings) -> Settings:
        """What goes to the file: the new connection, plus the file's own cache setting (not
        a --cache flag or variable that happens to be in effect now)."""
        try:
            cache = read_config_file(self._config_file).get("cache")
        except ConfigError:
            cache = None
        return settings.model_copy(update={"cache": Path(cache) if cache else None})

    @work(thread=True, exclusive=True, group="connect-test", exit_on_error=False)
    def _run_test(self, base_url: str, instance_id: str, token: str) -> None:
        """Count the mappings: the cheapest call that proves URL, instance and token work."""
        worker = get_current_worker()
        try:
            provider = self._provider_factory(base_url, instance_id, token)
            try:
                count = provider.count()
            finally:
                provider.close()
        except Exception as error:
            outcome = failure_outcome(error, token)
        else:
            where = scrub(str(getattr(provider, "display_name", "") or ""), token)
            outcome = success_outcome(count, where)
        if not worker.is_cancelled:
            self.post_message(self.Tested(outcome))

    def _show_outcome(self, outcome: TestOutcome) -> None:
        mark = "✓" if outcome.ok else "✗"
        self._show_status(f"{mark} {outcome.headline}", "ok" if outcome.ok else "failed")
        if outcome.detail:
            status = self.query_one("#status", Static)
            status.update(
                Content.assemble(
                    (f"{mark} {outcome.headline}", "bold"),
                    "\n",
                    (outcome.detail, "$foreground"),
                )
            )
        if outcome.field:
            self._set_error(outcome.field, outcome.field_note or outcome.headline)

    def _show_status(self, text: str, state: str) -> None:
        status = self.query_one("#status", Static)
        status.update(Content.assemble((text, "bold" if state else "")))
        status.set_class(state == "ok", "-ok")
        status.set_class(state == "failed", "-failed")

    def _set_error(self, key: str, message: str) -> None:
        note = self.query_one(f"#{key}-error", Static)
        note.update(Content(message))
        note.set_class(bool(message), "-shown")
        self.query_one(f"#{key}", Input).set_class(bool(message), "-invalid")
