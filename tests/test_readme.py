"""The README's newcomer commands stay true: CI runs exactly the test command it shows."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```sh\n(.+?)\n```", text)


def test_readme_opens_with_run_and_test_commands() -> None:
    run, test = readme_commands()[:2]
    assert run.endswith("lid-tui")
    assert "pytest" in test


def test_ci_runs_the_readme_test_command() -> None:
    test = readme_commands()[1]
    ci = (ROOT / ".ci" / "run").read_text()
    match = re.search(r'^TEST_COMMAND="(.+)"$', ci, re.M)
    assert match is not None
    assert match.group(1) == test
    assert 'bash -c "$TEST_COMMAND"' in ci
