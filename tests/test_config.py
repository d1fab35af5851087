"""Settings precedence (flag > env > file > default), config file errors, saving with 0600."""

from __future__ import annotations

from pathlib import Path

import pytest

from lid_tui.config import (
    DEFAULT_BASE_URL,
    ConfigError,
    Settings,
    load_settings,
    save_settings,
)


def write_config(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings(environ={}, path=tmp_path / "none.toml")
    assert settings.base_url == DEFAULT_BASE_URL
    assert settings.instance_id is None and not settings.is_configured


def test_precedence_flag_env_file(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "c.toml",
        'base_url = "https://file.example"\ninstance_id = "from-file"\naccess_token = "tf"\n',
    )
    env = {"LID_TUI_INSTANCE_ID": "from-env", "LID_TUI_BASE_URL": "https://env.example"}
    settings = load_settings({"instance_id": "from-flag", "base_url": None}, environ=env, path=path)
    assert settings.instance_id == "from-flag"
    assert settings.base_url == "https://env.example"
    assert settings.token == "tf"
    assert settings.is_configured


def test_cache_path_defaults_per_instance(tmp_path: Path) -> None:
    settings = Settings(instance_id="my/instance 1")
    assert settings.cache_path().name == "my_instance_1.json"
    assert Settings(cache=tmp_path / "x.json").cache_path() == tmp_path / "x.json"
    with pytest.raises(ConfigError):
        Settings().cache_path()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('instance_id = "a"\ncolour = "blue"\n', "unknown key 'colour'"),
        ("instance_id = 42\n", "'instance_id' must be a string"),
        ("instance_id = [\n", "not valid TOML"),
        ('base_url = "ftp://x"\n', "'base_url'"),
    ],
)
def test_bad_config_files_name_the_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write_config(tmp_path / "c.toml", text)
    with pytest.raises(ConfigError) as error:
        load_settings(environ={}, path=path)
    assert expected in str(error.value)


def test_token_is_secret_in_repr() -> None:
    settings = Settings(instance_id="i", access_token="tok-SECRET-123")
    assert "tok-SECRET-123" not in repr(settings)
    assert "tok-SECRET-123" not in str(settings)


def test_save_round_trip_with_private_mode(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "config.toml"
    saved = Settings(base_url="https://api.example", instance_id="i-1", access_token='t"k\\1')
    save_settings(saved, path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    loaded = load_settings(environ={}, path=path)
    assert loaded == saved
