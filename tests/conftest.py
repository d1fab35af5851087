"""Shared fixtures: real cache files in a temp folder, isolated config and cache folders."""

from __future__ import annotations

from pathlib import Path

import pytest


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
