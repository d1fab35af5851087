"""Settings: flag, then environment variable, then config file, then default.

The config file is TOML at ``<user config dir>/lid-tui/config.toml`` (or ``$LID_TUI_CONFIG``)
with the keys ``base_url``, ``instance_id``, ``access_token`` and ``cache``. It holds a secret,
so lid-tui writes it with mode 0600.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, field_validator

from lid_tui.storage import atomic_write_bytes

APP_NAME = "lid-tui"
DEFAULT_BASE_URL = "https://api.wawp.net"
ENV_PREFIX = "LID_TUI_"
CONFIG_ENV = "LID_TUI_CONFIG"
DEMO_INSTANCE_ID = "demo"
DEMO_ACCESS_TOKEN = "demo-token"  # the built-in demo server's token: not a secret


class ConfigError(Exception):
    """A setting is missing or wrong. Maps to exit status 2."""

    exit_status = 2


class Settings(BaseModel):
    """Where to fetch mappings from and where to cache them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = DEFAULT_BASE_URL
    instance_id: str | None = None
    access_token: SecretStr | None = None
    cache: Path | None = None
    #: Send the token over plain http to a host that is not loopback. Off unless asked for.
    allow_insecure_http: bool = False

    @field_validator("base_url")
    @classmethod
    def _url_has_scheme(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must start with https:// (or http:// for a loopback address)")
        return value

    @field_validator("instance_id")
    @classmethod
    def _instance_is_printable(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not value or not value.isprintable() or len(value) > 200:
            raise ValueError("must be a short printable identifier")
        return value

    @property
    def is_configured(self) -> bool:
        """True when there is an instance and a token to talk to."""
        return bool(self.instance_id and self.access_token)

    @property
    def token(self) -> str:
        return self.access_token.get_secret_value() if self.access_token else ""

    def cache_path(self) -> Path:
        """The cache file: ``--cache``, or one file per instance in the user cache folder."""
        if self.cache is not None:
            return self.cache.expanduser()
        if not self.instance_id:
            raise ConfigError(
                "no instance configured: pass --instance-id (or set LID_TUI_INSTANCE_ID, or "
                "instance_id in the config file), or name a cache file with --cache"
            )
        return cache_dir() / f"{safe_file_name(self.instance_id)}.json"


def cache_dir() -> Path:
    return platformdirs.user_cache_path(APP_NAME)


def demo_cache_path() -> Path:
    """The demo's own cache, apart from every real instance's."""
    return cache_dir() / "demo.json"


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV]).expanduser()
    return platformdirs.user_config_path(APP_NAME) / "config.toml"


def safe_file_name(text: str) -> str:
    """A file-name-safe form of an instance id."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "instance"
    return cleaned[:80]


def read_config_file(path: Path) -> dict[str, Any]:
    """The config file's settings, or {} when there is none. Bad files raise ConfigError."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise ConfigError(f"cannot read the config file {path}: {error.strerror}") from error
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"the config file {path} is not valid TOML: {error}") from error
    known = set(Settings.model_fields)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"the config file {path} has an unknown key {unknown[0]!r} "
            f"(known keys: {', '.join(sorted(known))})"
        )
    for key, value in data.items():
        expected, kind = (bool, "boolean") if key == "allow_insecure_http" else (str, "string")
        if not isinstance(value, expected):
            raise ConfigError(
                f"the config file {path}: {key!r} must be a {kind}, not {type(value).__name__}"
            )
    return data


def environment_settings(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    environ = os.environ if environ is None else environ
    found = {}
    for key in Settings.model_fields:
        value = environ.get(ENV_PREFIX + key.upper())
        if value:
            found[key] = value
    return found


def load_settings(
    flags: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    path: Path | None = None,
) -> Settings:
    """Settings from flags (None means not given), the environment, the config file."""
    merged: dict[str, Any] = {}
    merged.update(read_config_file(path or config_path(environ)))
    merged.update(environment_settings(environ))
    merged.update({key: value for key, value in (flags or {}).items() if value is not None})
    try:
        return Settings.model_validate(merged)
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "settings"
        raise ConfigError(f"setting {key!r}: {first['msg']}") from None


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write the settings to the config file with mode 0600 (it holds the token)."""
    target = path or config_path()
    lines = ["# lid-tui settings. This file holds your access token: keep it private."]
    values = {
        "base_url": settings.base_url,
        "instance_id": settings.instance_id,
        "access_token": settings.token or None,
        "cache": str(settings.cache) if settings.cache else None,
        "allow_insecure_http": True if settings.allow_insecure_http else None,
    }
    for key, value in values.items():
        if value is not None:
            lines.append(f"{key} = {json.dumps(value, ensure_ascii=False)}")
    atomic_write_bytes(target, ("\n".join(lines) + "\n").encode(), mode=0o600)
    return target
