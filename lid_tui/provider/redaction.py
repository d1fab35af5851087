"""The process-wide registry of secrets, and :func:`redact`, which hides them in any text.

Its own module, free of httpx, so that the payload parser (which quotes what a provider said
in its error messages) can redact as well as the HTTP layer: a provider that echoes the token
back must not get it printed. Redact *before* cutting text short, or a cut token escapes.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

#: Secrets shorter than this are not replaced as plain text (it would garble every message);
#: their query-string form is still redacted by pattern.
MIN_SECRET_LENGTH = 4
_SECRET_PARAM = re.compile(
    r"(?i)\b(access[_-]?token|token|api[_-]?key)(=|%3D)[^&\s#\"'<>]*",
)

_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(secret: str, *forms: str) -> None:
    """Remember ``secret`` (plus its URL-encoded ``forms``) so :func:`redact` hides it."""
    if len(secret) < MIN_SECRET_LENGTH:
        return
    every = {secret, quote(secret, safe=""), quote_plus(secret, safe=""), *forms}
    with _lock:
        _secrets.update(form for form in every if len(form) >= MIN_SECRET_LENGTH)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with ``access_token=…`` values and every known secret replaced by ``***``."""
    text = _SECRET_PARAM.sub(r"\1\2***", text)
    with _lock:
        known = set(_secrets)
    known.update(secret for secret in secrets if len(secret) >= MIN_SECRET_LENGTH)
    for secret in sorted(known, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "***")
    return text
