"""The provider interface and the errors every adapter raises.

Callers tell failures apart by exception type: the CLI maps them to exit statuses, the sync
engine retries the transient ones, the TUI shows a notice for each.
"""

from __future__ import annotations

from typing import Protocol

from lid_tui.models import ProviderPage

#: Seconds an adapter waits for each answer unless told otherwise (``--timeout``).
DEFAULT_TIMEOUT = 15.0


class ProviderError(Exception):
    """Base of every provider failure. ``str(error)`` is a one-line message for people,
    already free of secrets."""

    #: The command-line exit status this failure maps to (see DESIGN.md).
    exit_status = 4


class TransientError(ProviderError):
    """Worth retrying: the same request may succeed later."""

    #: Seconds the provider asked us to wait (Retry-After), if it said.
    retry_after: float | None = None


class CredentialsRejected(ProviderError):
    """401: the access token or instance id was refused."""

    exit_status = 3


class QuotaExceeded(ProviderError):
    """403: the account's quota or plan does not allow this call."""

    exit_status = 3


class BadRequest(ProviderError):
    """400: the provider refused a parameter."""


class InstanceNotConnected(ProviderError):
    """422: the instance exists but its WhatsApp session is not connected."""


class RateLimited(TransientError):
    """429: too many requests; wait ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UpstreamFailure(TransientError):
    """5xx, an HTML page instead of JSON, a timeout or a connection error."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UnusablePayload(TransientError):
    """The answer parsed but is not a mapping list we can read (truncated or wrong shape)."""


class ProviderConfigError(ProviderError, ValueError):
    """The provider settings are unusable (missing instance id, bad base URL): a usage error,
    found before any request is sent."""

    exit_status = 2


class InvalidBaseUrl(ProviderConfigError):
    """The base URL is not an absolute ``http(s)://host[/path]`` address."""


class InsecureTransport(ProviderConfigError):
    """Plain http to a host that is not loopback: the token would travel in clear."""


class Provider(Protocol):
    """What the sync engine and the UI need from a provider."""

    #: A description safe to show (base URL and instance id, never the token).
    display_name: str

    def list_page(self, offset: int, limit: int) -> ProviderPage:
        """One page of mappings starting at ``offset``. An empty page means the end."""
        ...

    def count(self) -> int | None:
        """How many mappings the provider knows, or None when it cannot say."""
        ...

    def resolve_number(self, number: str) -> tuple[str, str | None] | None:
        """Ask the provider for one number's LID: ``(lid_digits, number)`` or None."""
        ...

    def close(self) -> None: ...
