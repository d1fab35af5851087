"""Build the provider that the settings describe: the one place the CLI and the TUI do it."""

from __future__ import annotations

from lid_tui.config import ConfigError, Settings
from lid_tui.provider.base import Provider


def provider_for(settings: Settings, *, hint: str = "", timeout: float | None = None) -> Provider:
    """A provider for ``settings``; :class:`ConfigError` when no instance is configured.

    ``hint`` ends the error message with how to configure one in the caller's terms.
    ``timeout`` (seconds per request) overrides the adapter's default: a cron job may prefer
    to fail fast, a slow gateway may need longer.
    """
    from lid_tui.provider.wawp import WawpProvider  # httpx import only when needed

    if not settings.is_configured or settings.instance_id is None:
        raise ConfigError("no instance configured: " + (hint or "give an instance id and token"))
    options: dict[str, float] = {} if timeout is None else {"timeout": timeout}
    return WawpProvider(
        settings.base_url,
        settings.instance_id,
        settings.token,
        allow_insecure_http=settings.allow_insecure_http,
        **options,
    )
