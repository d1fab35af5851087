"""``lid-tui web``: serve the app in a browser with textual-serve, for demos.

textual-serve starts one copy of the app per browser tab, as a shell command, with a copy of
this process's environment. The settings therefore travel to each copy as ``LID_TUI_*``
environment variables and never on the command line, where any user's process list would
show the access token.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping, MutableMapping

from lid_tui.config import ENV_PREFIX, ConfigError, Settings

HOST = "127.0.0.1"


def child_command(*, demo: bool) -> str:
    """The shell command textual-serve runs per session: this interpreter, this package."""
    command = f"{shlex.quote(sys.executable)} -m lid_tui"
    return f"{command} demo" if demo else command


def child_environment(settings: Settings) -> dict[str, str | None]:
    """The ``LID_TUI_*`` variables that hand ``settings`` to the app; None means unset it, so
    an empty or stale variable cannot override what this process resolved."""
    return {
        ENV_PREFIX + "BASE_URL": settings.base_url,
        ENV_PREFIX + "INSTANCE_ID": settings.instance_id,
        ENV_PREFIX + "ACCESS_TOKEN": settings.token or None,
        ENV_PREFIX + "CACHE": str(settings.cache) if settings.cache else None,
    }


def apply_environment(
    changes: Mapping[str, str | None], environ: MutableMapping[str, str] | None = None
) -> None:
    """Set or remove variables in ``environ`` (by default this process's own environment)."""
    target = os.environ if environ is None else environ
    for key, value in changes.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value


def serve(settings: Settings, *, port: int, demo: bool) -> None:
    """Serve the app on http://127.0.0.1:<port> until Ctrl-C.

    Runs the demo when asked to, or when no instance is configured (as ``lid-tui`` does).
    """
    from textual_serve.server import Server

    use_demo = demo or not settings.is_configured
    # textual-serve copies os.environ for every app it starts: this is how the settings
    # (the token included) reach the app without appearing in its command line.
    apply_environment(child_environment(settings))
    server = Server(child_command(demo=use_demo), host=HOST, port=port, title="lid-tui")
    url = f"http://{HOST}:{port}"
    what = "the demo" if use_demo else f"instance {settings.instance_id}"
    print(f"lid-tui web: serving {what} on {url} — open it in a browser. Ctrl-C stops.")
    sys.stdout.flush()
    try:
        server.serve()
    except OSError as error:
        reason = error.strerror or str(error)
        raise ConfigError(f"cannot listen on {HOST}:{port}: {reason}") from None
