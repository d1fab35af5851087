"""Shared fixtures: real cache files in a temp folder, isolated config and cache folders, and
a fast way to run many ``lid-tui`` commands."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from cli_support import ForkedCommands


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Never read or write the real user's config or cache during tests."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("LID_TUI_CONFIG", str(home / "config" / "lid-tui" / "config.toml"))
    for name in ("BASE_URL", "INSTANCE_ID", "ACCESS_TOKEN", "CACHE"):
        monkeypatch.delenv(f"LID_TUI_{name}", raising=False)
    return home


@pytest.fixture
def cache_path(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "instance.json"


@pytest.fixture(scope="session")
def forked_commands() -> Iterator[ForkedCommands]:
    """``lid-tui`` commands at ~30 ms each, for matrices of runs (see ``cli_support``)."""
    from cli_support import ForkedCommands  # only for the tests that ask for it

    commands = ForkedCommands()
    yield commands
    commands.close()
