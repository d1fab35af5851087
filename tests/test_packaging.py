"""Every package ships: the wheel's package list is written by hand (styles/ is mapped in)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

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


def test_installed_distribution_ships_the_styles() -> None:
    """A regular (non-editable) install must carry styles/*.tcss inside the package.

    Tests may import lid_tui from the source tree (``python -m pytest`` puts it first on the
    path), so this looks at the installed distribution's own file list.
    """
    import sysconfig
    from importlib.metadata import distributions

    site = sysconfig.get_paths()["purelib"]  # not the source tree's build metadata
    found = [d for d in distributions(path=[site]) if d.metadata["Name"] == "lid-tui"]
    assert found, f"lid-tui is not installed in {site}"
    installed = {str(path) for path in found[0].files or []}
    if "lid_tui/__init__.py" not in installed:
        pytest.skip("editable install: the package-dir mapping is checked above")
    assert "lid_tui/styles/app.tcss" in installed
