"""Every package ships: the wheel's package list is written by hand (styles/ is mapped in)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_subpackage_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "lid_tui").rglob("__init__.py")
    }
    assert on_disk <= listed, f"missing from pyproject packages: {sorted(on_disk - listed)}"
    assert config["package-dir"]["lid_tui.styles"] == "styles"
    assert list((ROOT / "styles").glob("*.tcss")), "styles/ has no .tcss"


def test_installed_styles_are_readable() -> None:
    from importlib.resources import files

    assert any(entry.name.endswith(".tcss") for entry in files("lid_tui.styles").iterdir())
