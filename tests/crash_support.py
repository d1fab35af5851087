"""Killing ``lid-tui sync`` mid-refresh and checking what it left: shared by
``tests/test_crash_safety.py`` and ``benchmarks/crash_stress.py``.

A :class:`CrashHarness` owns a real demo server on loopback (in this process, so the harness
can count the pages it answers and change its speed) and an isolated home for the command. One
complete sync makes the baseline; then each :meth:`CrashHarness.kill` runs the installed
``lid-tui sync`` as a subprocess, waits for a chosen :class:`Moment` of the refresh, sends a
signal, and checks everything a kill must not break. Failures are returned as text, not raised,
so a loop of kills reports every failing point at once.

Moments are measured from the moment the sync holds the writers' lock (its owner record names
its pid): before that the process is still importing and no refresh has begun.
"""

from __future__ import annotations

import math
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from cli_support import TOKEN, Runner, lid_tui_command
from filelock import FileLock, Timeout

from lid_tui.demo.data import DemoDataset
from lid_tui.demo.server import DemoServer
from lid_tui.storage import CacheLock, FileSignature
from lid_tui.store import MappingStore, RefreshInfo

#: The issue asks for a refresh of at least 50k mappings.
SIZE = 50_000
#: Seconds the server sleeps per listing page: with 4 requests in flight and 1000 rows a
#: page, a refresh of 50k fetches for ~1-2 s (a sync takes 2-3 s), so kills can land all
#: over it while the file of kills stays within a minute.
PAGE_DELAY = 0.07
PAGE_SIZE = 1000  # the command's default, which the page count of a listing depends on
#: Longest a killed or signalled process may take to exit, and a run to take the lock.
EXIT_DEADLINE = 30.0
LOCK_DEADLINE = 30.0


class Phase(StrEnum):
    """How far the refresh had got when the signal was sent (observed just before it)."""

    LOCKED = "locked"  # the sync holds the lock, no page answered yet
    FETCH_EARLY = "fetch<1/3"  # share of the listing's pages the server has answered
    FETCH_MID = "fetch<2/3"
    FETCH_LATE = "fetch>2/3"
    MERGE = "merge"  # every page answered, nothing written yet: end of fetch, merging
    WRITE = "write"  # the cache's temp file exists: the final atomic write
    WRITTEN = "written"  # the cache was replaced, the process still runs
    EXITED = "exited"  # the process had ended before the signal


PHASE_ORDER = list(Phase)


class Sig(StrEnum):
    """What is sent: one signal, or SIGINT twice (the second one means "stop now")."""

    KILL = "SIGKILL"
    INT = "SIGINT"
    TERM = "SIGTERM"
    INT_TWICE = "SIGINT x2"


@dataclass(frozen=True, slots=True)
class Moment:
    """When to send the signal, counted from the moment the sync holds the lock.

    ``share`` of the listing's pages answered by the server (0 = at once); or ``end_of_fetch``
    (every page answered); or ``write`` (the cache's temp file exists); or ``seconds`` after
    the lock was taken. ``extra`` waits a little longer after the condition holds.
    """

    label: str
    share: float | None = None
    end_of_fetch: bool = False
    write: bool = False
    seconds: float | None = None
    extra: float = 0.0

    @classmethod
    def pages(cls, share: float) -> Moment:
        return cls(f"{share:.0%} of pages", share=share)

    @classmethod
    def fetch_end(cls) -> Moment:
        return cls("end of fetch", end_of_fetch=True)

    @classmethod
    def during_write(cls, extra: float = 0.0) -> Moment:
        return cls("during write" + (f" +{extra * 1000:.0f} ms" if extra else ""), write=True)

    @classmethod
    def after(cls, seconds: float) -> Moment:
        return cls(f"{seconds:.2f} s after lock", seconds=seconds)


@dataclass(frozen=True, slots=True)
class KillPlan:
    signal: Sig
    moment: Moment

    def __str__(self) -> str:
        return f"{self.signal} at {self.moment.label}"


@dataclass(slots=True)
class CacheState:
    """One generation of the cache file: its bytes, and what the store's public API reads
    from it (so the checks do not depend on the file's layout)."""

    raw: bytes
    signature: FileSignature | None
    numbers: dict[str, str | None]
    last_seen: dict[str, int]
    refresh: RefreshInfo | None

    @classmethod
    def of(cls, path: Path, store: MappingStore) -> CacheState:
        """The state of ``path``, which ``store`` has just opened (no writer runs meanwhile)."""
        signature = FileSignature.of(path)
        rows = store.rows(0, len(store))
        return cls(
            raw=path.read_bytes() if signature is not None else b"",
            signature=signature,
            numbers={row.lid: row.number for row in rows},
            last_seen={row.lid: row.last_seen for row in rows},
            refresh=store.last_refresh,
        )

    @classmethod
    def read(cls, path: Path) -> CacheState:
        return cls.of(path, MappingStore.open(path))

    @property
    def refreshed_at(self) -> int:
        return 0 if self.refresh is None else int(self.refresh.at.timestamp())


@dataclass(slots=True)
class KillOutcome:
    """What one kill did, and every way it broke a promise (empty when none)."""

    number: int
    plan: KillPlan
    phase: Phase
    returncode: int | None = None
    stderr: str = ""
    cache_changed: bool = False
    temp_left: bool = False
    stale_temp_removed: bool = False
    seconds: float = 0.0
    #: Seconds from the start of the process to the lock (None: it never took it).
    locked_after: float | None = None
    #: For SIGINT twice: the phase when the second one was sent.
    second_phase: Phase | None = None
    failures: list[str] = field(default_factory=list)
    #: Behaviour worth reporting that breaks no promise.
    notes: list[str] = field(default_factory=list)

    @property
    def last_phase(self) -> Phase:
        """The phase when the last signal was sent."""
        return self.second_phase or self.phase

    def describe(self) -> str:
        second = f", then {self.second_phase}" if self.second_phase else ""
        return (
            f"kill #{self.number} ({self.plan}; phase reached: {self.phase}{second}; "
            f"exit {self.returncode})"
        )


class PageCounter:
    """Counts the server's answers (from its request log) and the requests it took on, so
    the harness can wait for the pages of a killed run still sleeping in the server."""

    def __init__(self, server_requests: Callable[[], int]) -> None:
        self._lock = threading.Lock()
        self.listing_pages = 0
        self.answers = 0
        self._requests = server_requests

    def __call__(self, line: str) -> None:
        with self._lock:
            self.answers += 1
            if line.startswith("GET /v2/lids?") and line.endswith(" 200"):
                self.listing_pages += 1

    def idle(self) -> bool:
        with self._lock:
            return self._requests() == self.answers


def start_sync(runner: Runner, *args: str) -> subprocess.Popen[str]:
    """``lid-tui sync`` in the background, in the runner's isolated environment."""
    return subprocess.Popen(
        [*lid_tui_command(), "sync", *args],
        env=runner.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_locked_by(
    cache: Path, process: subprocess.Popen[str], deadline: float = LOCK_DEADLINE
) -> bool:
    """True once ``process`` holds the writers' lock of ``cache`` (its owner record, written
    right after the OS lock is taken, names its pid); False if it exits or time runs out."""
    lock = CacheLock(cache)
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        owner = lock.read_owner()
        if owner is not None and owner.get("pid") == process.pid:
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.003)
    return False


class CrashHarness:
    """A server, a home and a cache for a series of kills; see the module docstring."""

    def __init__(self, home: Path, *, size: int = SIZE, seed: int = 5) -> None:
        self.counter = PageCounter(lambda: self.server.requests_served)
        self.server = DemoServer(
            DemoDataset(size=size, seed=seed), access_token=TOKEN, request_log=self.counter
        )
        self.runner = Runner(home, self.server)
        self.cache = self.runner.cache
        self.lock = CacheLock(self.cache)
        self.baseline: dict[str, str | None] = {}
        self.state: CacheState | None = None
        self.outcomes: list[KillOutcome] = []
        #: Every number each LID had in some server generation seen so far.
        self._numbers_seen = _DefaultEmpty()
        self._generations_seen = -1

    # -- life cycle ---------------------------------------------------------------------------

    def __enter__(self) -> CrashHarness:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    def establish_baseline(self) -> None:
        """A complete sync at full speed, then the next generation and the slow server."""
        self.server.page_delay = 0.0
        result = self.runner("sync")
        if result.returncode != 0:
            raise AssertionError(f"the baseline sync failed: {result.stderr}")
        self.state = CacheState.read(self.cache)
        self.baseline = dict(self.state.numbers)
        if len(self.baseline) < min(SIZE, self.server.dataset.size):
            raise AssertionError(f"the baseline holds only {len(self.baseline)} mappings")
        self.server.advance()  # the next refresh changes numbers, adds and moves LIDs
        self.server.page_delay = PAGE_DELAY

    def pages_in_listing(self) -> int:
        """Listing requests of one complete refresh: every page, plus the empty one past the
        count that tells the list did not grow."""
        return math.ceil(self.server.total_rows() / PAGE_SIZE) + 1

    # -- one kill -----------------------------------------------------------------------------

    def kill(self, plan: KillPlan) -> KillOutcome:
        """Run a sync, signal it at ``plan``'s moment, check the aftermath."""
        assert self.state is not None, "establish_baseline() first"
        before = self.state
        number = len(self.outcomes) + 1
        self._wait_until_server_idle()
        stale_before = self._temp_files()
        pages_at_start = self.counter.listing_pages
        started = time.monotonic()
        process = start_sync(self.runner)
        outcome = KillOutcome(number, plan, Phase.EXITED)
        try:
            locked_at = self._wait_for_lock(process, outcome)
            if locked_at is not None:
                outcome.locked_after = locked_at - started
                outcome.stale_temp_removed = bool(stale_before) and not self._temp_files()
                if stale_before and not outcome.stale_temp_removed:
                    outcome.failures.append(
                        f"the sync took the lock but left the stale temp files {stale_before}"
                    )
                self._wait_for_moment(process, plan.moment, locked_at, pages_at_start)
                outcome.phase = self._observe(process, before, pages_at_start)
                self._send(process, plan.signal)
                if plan.signal is Sig.INT_TWICE:
                    # Signals do not queue: a second one sent before Python ran the handler
                    # of the first would be merged with it.
                    time.sleep(0.05)
                    outcome.second_phase = self._observe(process, before, pages_at_start)
                    process.send_signal(signal.SIGINT)
            stdout, outcome.stderr = process.communicate(timeout=EXIT_DEADLINE)
        except subprocess.TimeoutExpired:
            outcome.failures.append(f"did not exit within {EXIT_DEADLINE:.0f} s of the signal")
            process.kill()
            stdout, outcome.stderr = process.communicate()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        outcome.returncode = process.returncode
        outcome.seconds = time.monotonic() - started
        self._check(outcome, stdout, before)
        self.outcomes.append(outcome)
        return outcome

    def _wait_for_lock(self, process: subprocess.Popen[str], outcome: KillOutcome) -> float | None:
        """The time the run took the lock, or None (with a failure) if it never did."""
        if wait_until_locked_by(self.cache, process):
            return time.monotonic()
        outcome.failures.append(
            "the sync never took the lock (is the lock of the killed run still held?)"
        )
        return None

    def _wait_for_moment(
        self, process: subprocess.Popen[str], moment: Moment, locked_at: float, pages_at_start: int
    ) -> None:
        """Poll (sleeping briefly) until the moment; for the write, poll without sleeping,
        the temp file lives for a tenth of a second or so."""
        deadline = locked_at + EXIT_DEADLINE
        if moment.seconds is not None:
            target = locked_at + moment.seconds
            while process.poll() is None and time.monotonic() < target:
                time.sleep(min(0.005, max(0.0, target - time.monotonic())))
        elif moment.share is not None:
            while process.poll() is None and time.monotonic() < deadline:
                answered = self.counter.listing_pages - pages_at_start
                if answered >= math.ceil(moment.share * self.pages_in_listing()):
                    break
                time.sleep(0.002)
        elif moment.end_of_fetch or moment.write:
            while process.poll() is None and time.monotonic() < deadline:
                if self.counter.listing_pages - pages_at_start >= self.pages_in_listing():
                    break
                time.sleep(0.002)
            if moment.write:
                folder, pattern = self.cache.parent, self._temp_glob()
                while process.poll() is None and time.monotonic() < deadline:
                    if any(folder.glob(pattern)):
                        break
        if moment.extra:
            time.sleep(moment.extra)

    def _observe(
        self, process: subprocess.Popen[str], before: CacheState, pages_at_start: int
    ) -> Phase:
        if process.poll() is not None:
            return Phase.EXITED
        if any(self.cache.parent.glob(self._temp_glob())):
            return Phase.WRITE
        if FileSignature.of(self.cache) != before.signature:
            return Phase.WRITTEN
        answered = self.counter.listing_pages - pages_at_start
        expected = self.pages_in_listing()
        if answered == 0:
            return Phase.LOCKED
        if answered >= expected:
            return Phase.MERGE
        share = answered / expected
        if share < 1 / 3:
            return Phase.FETCH_EARLY
        return Phase.FETCH_MID if share < 2 / 3 else Phase.FETCH_LATE

    @staticmethod
    def _send(process: subprocess.Popen[str], what: Sig) -> None:
        """Signal our child (the first signal of SIGINT twice); ``send_signal`` does nothing
        once the child has been reaped, so a recycled pid is never hit."""
        sent = {Sig.KILL: signal.SIGKILL, Sig.TERM: signal.SIGTERM}.get(what, signal.SIGINT)
        process.send_signal(sent)

    # -- the checks ---------------------------------------------------------------------------

    def _check(self, outcome: KillOutcome, stdout: str, before: CacheState) -> None:
        failures = outcome.failures
        stderr = outcome.stderr
        if "Traceback" in stderr:
            failures.append(f"a traceback on stderr: {stderr[-400:]!r}")
        failures += self._check_exit(outcome, stdout)

        # The cache opens as it is: nothing to recover.
        try:
            store = MappingStore.open(self.cache)
        except Exception as error:  # any exception here is the failure being looked for
            failures.append(f"MappingStore.open failed: {error!r}")
            return
        if store.recovery is not None:
            failures.append(f"the cache needed recovery: {store.recovery.reason}")
            return
        after = CacheState.of(self.cache, store)
        self.state = after
        outcome.cache_changed = after.raw != before.raw
        outcome.temp_left = bool(self._temp_files())
        if len(store) != len(after.numbers):
            failures.append(f"the store shows {len(store)} mappings, the file {len(after.numbers)}")
        if outcome.cache_changed:
            failures += self._check_new_generation(before, after)
        failures += self._check_nothing_lost(before, after)
        failures += self._check_kept_what_was_fetched(outcome, after)
        if outcome.temp_left and outcome.plan.signal is not Sig.KILL:
            failures.append(f"a temp file was left behind: {self._temp_files()}")
        if not self._lock_is_free():
            failures.append("the writers' lock is still held after the process ended")

    def _check_exit(self, outcome: KillOutcome, stdout: str) -> list[str]:
        """SIGKILL: killed. SIGINT/SIGTERM: exit 130 with one line on stderr (what was kept),
        or 0 with the summary when the signal came after the last page (nothing to stop)."""
        code, stderr = outcome.returncode, outcome.stderr
        if outcome.plan.signal is Sig.KILL:
            if outcome.phase is not Phase.EXITED and code != -signal.SIGKILL:
                return [f"SIGKILL but exit status {code}"]
            return []
        lines = stderr.splitlines()
        if code == 130:
            if len(lines) != 1 or not lines[0].startswith("lid-tui: "):
                return [f"exit 130 without a one-line message: {stderr!r}"]
            if not (
                "refresh cancelled; kept the" in lines[0] or lines[0] == "lid-tui: interrupted"
            ):
                return [f"unexpected message: {lines[0]!r}"]
            if stdout:
                return [f"exit 130 but a summary on stdout: {stdout!r}"]
            return []
        if code == 0:
            if not stdout.startswith("Fetched ") or stderr:
                return [f"exit 0 without a clean summary: stdout {stdout!r}, stderr {stderr!r}"]
            if outcome.phase in (Phase.LOCKED, Phase.FETCH_EARLY, Phase.FETCH_MID):
                return [f"signalled at {outcome.phase} yet the refresh ran to its end"]
            return []
        if code in (-signal.SIGTERM, -signal.SIGINT) and outcome.last_phase is Phase.WRITTEN:
            # The refresh had ended and its handlers were uninstalled: the default action.
            outcome.notes.append("ended by the signal after the refresh was written, no message")
            return []
        return [f"{outcome.plan.signal}: exit status {code}, stderr {stderr!r}"]

    def _check_new_generation(self, before: CacheState, after: CacheState) -> list[str]:
        """A changed file must be one whole write: a new refresh record whose ``fetched``
        matches the mappings stamped with its time."""
        failures = []
        refresh, at = after.refresh, after.refreshed_at
        if refresh is None:
            return ["the file changed but carries no refresh record"]
        if at < before.refreshed_at:
            failures.append("the new refresh record is older than the one before")
        stamped = sum(1 for seen in after.last_seen.values() if seen == at)
        stamped_before = sum(1 for seen in before.last_seen.values() if seen == at)
        if not refresh.fetched <= stamped <= refresh.fetched + stamped_before:
            failures.append(
                f"mixed generations: the refresh record says {refresh.fetched} fetched, "
                f"{stamped} mappings carry its time"
            )
        if not refresh.complete and refresh.error is None:
            failures.append("an incomplete refresh recorded without its reason")
        return failures

    def _check_nothing_lost(self, before: CacheState, after: CacheState) -> list[str]:
        """Every LID cached before (and every baseline LID) is still cached, with the same
        number or one the server gave it in some generation; a known number never vanishes."""
        numbers_seen = self._server_numbers()
        failures = []
        for reference, label in ((self.baseline, "baseline"), (before.numbers, "previous")):
            missing = [lid for lid in reference if lid not in after.numbers]
            if missing:
                failures.append(f"{len(missing)} {label} LIDs lost, e.g. {missing[:3]}")
            wrong = [
                lid
                for lid, number in reference.items()
                if lid in after.numbers
                and after.numbers[lid] != number
                and (after.numbers[lid] is None or after.numbers[lid] not in numbers_seen[lid])
            ]
            if wrong:
                lid = wrong[0]
                failures.append(
                    f"{len(wrong)} {label} numbers changed to one the server never sent, e.g. "
                    f"{lid}: {reference[lid]} -> {after.numbers[lid]}"
                )
        return failures

    def _check_kept_what_was_fetched(self, outcome: KillOutcome, after: CacheState) -> list[str]:
        """After 'refresh cancelled; kept the N mappings fetched', the cache holds those N."""
        line = outcome.stderr.strip()
        if outcome.returncode != 130 or "kept the" not in line:
            return []
        kept = int(line.split("kept the ", 1)[1].split(" ", 1)[0].replace(",", ""))
        if kept == 0:
            return [] if not outcome.cache_changed else ["kept 0 mappings, yet the file changed"]
        refresh = after.refresh
        if not outcome.cache_changed or refresh is None or refresh.fetched != kept:
            return [f"said it kept {kept} mappings; the cache's last refresh says {refresh}"]
        if refresh.complete or refresh.error != "cancelled":
            return [f"a cancelled refresh recorded as {refresh}"]
        return []

    def _lock_is_free(self) -> bool:
        """Take the OS lock from this process (not through CacheLock, whose acquire would
        tidy the temp files the next sync is expected to tidy)."""
        probe = FileLock(self.lock.lock_path, timeout=0, is_singleton=False)
        try:
            probe.acquire()
        except Timeout:
            return False
        probe.release()
        return True

    def _server_numbers(self) -> dict[str, set[str]]:
        """Numbers each LID had in generations 0 .. the server's current one (cached)."""
        while self._generations_seen < self.server.generation:
            self._generations_seen += 1
            for lid, number in self.server.expected_mappings(self._generations_seen).items():
                if number is not None:
                    self._numbers_seen.setdefault(lid, set()).add(number)
        return self._numbers_seen

    def _temp_glob(self) -> str:
        return f".{self.cache.name}.*.tmp"

    def _temp_files(self) -> list[str]:
        """The cache's atomic-write temp files (not the lock owner record's)."""
        return sorted(
            path.name
            for path in self.cache.parent.glob(self._temp_glob())
            if ".lock.owner." not in path.name
        )

    def _wait_until_server_idle(self, deadline: float = 10.0) -> None:
        """Let the pages a killed run asked for finish sleeping, so they are not counted as
        the next run's."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self.counter.idle():
                time.sleep(0.03)
                if self.counter.idle():
                    return
            time.sleep(0.01)

    # -- the end ------------------------------------------------------------------------------

    def final_sync(self) -> list[str]:
        """A sync after all the kills runs to its end, exits 0, leaves no temp file, and the
        cache then lists exactly what the server lists (plus what it no longer lists)."""
        self._wait_until_server_idle()
        self.server.page_delay = 0.0
        result = self.runner("sync")
        failures = []
        if result.returncode != 0:
            return [f"the sync after the kills exited {result.returncode}: {result.stderr!r}"]
        if self._temp_files():
            failures.append(f"temp files remain after a complete sync: {self._temp_files()}")
        after = CacheState.read(self.cache)
        expected = self.server.expected_mappings()
        wrong = [
            lid
            for lid, number in expected.items()
            if lid not in after.numbers or (number is not None and after.numbers[lid] != number)
        ]
        if wrong:
            failures.append(f"{len(wrong)} mappings differ from the server's, e.g. {wrong[:3]}")
        failures += self._check_nothing_lost(self.state or after, after)
        self.state = after
        return failures


class _DefaultEmpty(dict[str, set[str]]):
    """LID -> numbers, where a LID the server never sent has none (and is not added)."""

    def __missing__(self, key: str) -> set[str]:
        return set()


def phase_table(outcomes: Iterable[KillOutcome]) -> str:
    """Kills by signal (rows) and phase reached (columns), then failures."""
    outcomes = list(outcomes)
    counts = Counter((o.plan.signal, o.phase) for o in outcomes)
    phases = [phase for phase in PHASE_ORDER if any(o.phase is phase for o in outcomes)]
    width = max(len(phase) for phase in phases) if phases else 10
    head = f"{'signal':<10}" + "".join(f"{phase:>{width + 2}}" for phase in phases) + "   total"
    lines = [head]
    for sig in Sig:
        row = [counts[(sig, phase)] for phase in phases]
        if sum(row):
            cells = "".join(f"{count:>{width + 2}}" for count in row)
            lines.append(f"{sig:<10}{cells}   {sum(row):>5}")
    totals = "".join(f"{sum(counts[(s, p)] for s in Sig):>{width + 2}}" for p in phases)
    lines.append(f"{'all':<10}{totals}   {len(outcomes):>5}")
    return "\n".join(lines)


def failure_report(outcomes: Iterable[KillOutcome]) -> str:
    """One line per broken promise, naming the kill, its plan and the phase it reached."""
    return "\n".join(
        f"{outcome.describe()}: {failure}" for outcome in outcomes for failure in outcome.failures
    )
