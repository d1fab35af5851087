"""End to end: the installed ``lid-tui`` command as a subprocess, against the real demo server
on loopback. Exit statuses and JSON shapes are the command-line contract in DESIGN.md."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import TOKEN, Runner, closed_port, lid_tui_command

from lid_tui.demo.data import DemoDataset
from lid_tui.demo.server import DemoServer
from lid_tui.identity import describe_number
from lid_tui.storage import CacheLock

REPORT_KEYS = {"fetched", "added", "changed", "unchanged", "skipped", "pages", "seconds"}
RECORD_KEYS = {"lid", "number", "first_seen", "last_seen", "history"}


@pytest.fixture
def quirky_server() -> Iterator[DemoServer]:
    server = DemoServer(
        DemoDataset(size=3000, seed=11), access_token=TOKEN, quirks=True, quirks_retry_after=0
    ).start()
    yield server
    server.stop()


@pytest.fixture
def run(tmp_path: Path, quirky_server: DemoServer) -> Iterator[Runner]:
    runner = Runner(tmp_path, quirky_server)
    yield runner
    # The token is a secret: it appears in no output and no file the tool wrote.
    for output in runner.outputs:
        assert TOKEN not in output
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def export_jsonl(run: Runner) -> list[dict]:
    result = run("export", "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_sync_against_a_quirky_provider_keeps_exactly_the_valid_mappings(run: Runner) -> None:
    result = run("sync", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == REPORT_KEYS
    expected = run.server.expected_mappings(0)
    assert report["fetched"] == report["added"] == len(expected)
    assert report["skipped"] == run.server.garbage_rows(0)

    records = export_jsonl(run)
    assert all(set(record) == RECORD_KEYS for record in records)
    exported = {record["lid"]: record["number"] for record in records}
    assert exported == {f"{lid}@lid": number for lid, number in expected.items()}
    assert any(number is None for number in exported.values())


def test_second_sync_records_history(run: Runner) -> None:
    assert run("sync").returncode == 0
    second = run("sync", "--json")
    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)
    changes = run.server.dataset.changes(1)
    assert report["changed"] >= len(changes.number_changes)
    assert report["added"] >= len(changes.reregistrations)
    lid, old, new = changes.number_changes[0]
    looked = run("lookup", f"{lid}@lid", "--json")
    record = json.loads(looked.stdout)
    assert record["number"] == new
    assert record["history"][-1]["previous_number"] == old


def test_human_summary_and_progress(run: Runner) -> None:
    result = run("sync")
    assert result.returncode == 0
    assert result.stdout.startswith("Fetched ")
    assert "added" in result.stdout and "skipped" in result.stdout


def test_lookup_in_the_forms_people_type(run: Runner) -> None:
    assert run("sync").returncode == 0
    expected = run.server.expected_mappings(0)
    lid, number = next((lid, n) for lid, n in expected.items() if n)
    typed = describe_number(number).international  # "+55 11 91234-5678"
    assert " " in typed and typed.startswith("+")
    for query in (typed, f"{number}@c.us", f"{number}:3@s.whatsapp.net", f"{lid}:7@lid", lid):
        result = run("lookup", query, "--json")
        assert result.returncode == 0, (query, result.stderr)
        record = json.loads(result.stdout)
        assert set(record) == RECORD_KEYS
        assert (record["lid"], record["number"]) == (f"{lid}@lid", number), query
    human = run("lookup", typed)
    assert f"{lid}@lid" in human.stdout and "Chats" in human.stdout


def test_lookup_of_a_hidden_number_and_not_found(run: Runner) -> None:
    assert run("sync").returncode == 0
    hidden = next(lid for lid, n in run.server.expected_mappings(0).items() if n is None)
    result = run("lookup", f"{hidden}@lid", "--json")
    assert json.loads(result.stdout)["number"] is None
    assert "hidden" in run("lookup", f"{hidden}@lid").stdout
    missing = run("lookup", "+44 7700 900123")
    assert missing.returncode == 1
    assert missing.stdout == "" and missing.stderr.count("\n") == 1


@pytest.mark.parametrize("query", ["hello", "120363025246125888@g.us", ""])
def test_lookup_refuses_what_is_not_an_identity(run: Runner, query: str) -> None:
    result = run("lookup", query)
    assert result.returncode == 2
    assert result.stderr.startswith("lid-tui: ")


def test_search_partial_digits(run: Runner) -> None:
    assert run("sync").returncode == 0
    expected = run.server.expected_mappings(0)
    number = next(n for n in expected.values() if n)
    digits = number[-6:]
    result = run("search", digits, "--limit", "5", "--json")
    assert result.returncode == 0
    records = json.loads(result.stdout)
    assert 1 <= len(records) <= 5
    assert all(set(r) == RECORD_KEYS for r in records)
    assert all(digits in r["lid"] + (r["number"] or "") for r in records)
    text = run("search", digits)
    assert text.returncode == 0 and "@lid" in text.stdout


def test_export_formats(run: Runner, tmp_path: Path) -> None:
    assert run("sync").returncode == 0
    count = len(run.server.expected_mappings(0))
    as_json = json.loads(run("export", "--format", "json").stdout)
    assert len(as_json) == count
    rows = list(csv.DictReader(io.StringIO(run("export", "--format", "csv").stdout)))
    assert len(rows) == count and set(rows[0]) == RECORD_KEYS
    target = tmp_path / "out" / "all.jsonl"
    target.parent.mkdir()
    assert run("export", "--output", str(target)).returncode == 0
    assert len(target.read_text().splitlines()) == count


def test_wrong_token_exits_3_and_leaves_the_cache_untouched(run: Runner) -> None:
    assert run("sync").returncode == 0
    before = run.cache.read_bytes()
    result = run("sync", token="wrong-token-value")
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1 and "credentials" in result.stderr.lower()
    assert run.cache.read_bytes() == before


def test_unreachable_provider_exits_4(run: Runner) -> None:
    result = run("sync", base_url=f"http://127.0.0.1:{closed_port()}")
    assert result.returncode == 4, result.stderr
    assert result.stderr.count("\n") == 1


def test_plain_http_to_a_remote_host_is_refused(run: Runner) -> None:
    result = run("sync", base_url="http://api.example.com")
    assert result.returncode == 2
    assert "http" in result.stderr.lower()


def test_missing_settings_exit_2(run: Runner) -> None:
    env = run.env()
    del env["LID_TUI_INSTANCE_ID"], env["LID_TUI_CACHE"]
    result = subprocess.run(
        [*lid_tui_command(), "sync"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "instance" in result.stderr


def test_busy_cache_exits_5_naming_the_holder(run: Runner) -> None:
    assert run("sync").returncode == 0
    lock = CacheLock(run.cache)
    lock.acquire("lid-tui sync (cron)")
    try:
        result = run("sync")
        assert result.returncode == 5
        assert str(os.getpid()) in result.stderr
        # Readers keep working on the last complete generation.
        assert run("export").returncode == 0
        assert run("search", "55", "--limit", "1").returncode == 0
    finally:
        lock.release()


def test_unreadable_cache_exits_5(run: Runner) -> None:
    run.cache.mkdir(parents=True)  # a folder where the cache file should be: unreadable
    result = run("export")
    assert result.returncode == 5
    assert "cannot read the cache" in result.stderr


def test_help_and_version(run: Runner) -> None:
    assert run("--help").returncode == 0
    result = run("--version")
    assert result.returncode == 0 and "lid-tui" in result.stdout


def test_plain_http_to_a_remote_host_needs_the_explicit_flag(run: Runner) -> None:
    # With the flag the transport check passes; the (unresolvable) host then fails to answer.
    result = run("sync", "--allow-insecure-http", base_url="http://lid-tui-test.invalid")
    assert result.returncode == 4, result.stderr
    assert "insecure" not in result.stderr.lower()
