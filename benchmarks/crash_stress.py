"""Crash stress: kill ``lid-tui sync`` hundreds of times at random moments of a 50k refresh.

    python benchmarks/crash_stress.py --kills 200 [--seed 1] [--jobs 2]

The regular suite (``tests/test_crash_safety.py``) kills at 24 chosen moments; this script
draws the signal and the moment at random (seeded) and checks the same promises after every
kill: the cache opens with nothing to recover, is one whole generation, still holds every
mapping it held before, the lock is free, SIGINT/SIGTERM end with one line and keep what was
fetched. Most moments are uniform over the refresh (from the lock to the end of the write);
a quarter aim at the final write, which lasts a tenth of a second and would otherwise be rare.

``--jobs`` chains run in parallel, each with its own server and cache. Prints a table of kills
by signal and phase reached, and exits 1 if any kill broke a promise. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from crash_support import (  # after the path to tests/ is known
    CrashHarness,
    KillOutcome,
    KillPlan,
    Moment,
    Phase,
    Sig,
    failure_report,
    phase_table,
)

#: How signals are drawn: SIGINT twice (the "stop now" path) less often than the others.
SIGNAL_WEIGHTS = {Sig.KILL: 3, Sig.INT: 3, Sig.TERM: 3, Sig.INT_TWICE: 1}
WRITE_SHARE = 0.25


def draw_plan(rng: random.Random, refresh_seconds: float) -> KillPlan:
    """A random signal at a random moment: uniform over the refresh, or within the write."""
    sig = rng.choices(list(SIGNAL_WEIGHTS), weights=list(SIGNAL_WEIGHTS.values()))[0]
    if rng.random() < WRITE_SHARE:
        return KillPlan(sig, Moment.during_write(extra=round(rng.uniform(0, 0.06), 3)))
    # A run varies: stop a little short of the measured one, or many signals find it gone.
    return KillPlan(sig, Moment.after(rng.uniform(0, 0.95 * refresh_seconds)))


def run_chain(job: int, kills: int, seed: int) -> tuple[list[KillOutcome], list[str], float]:
    """One chain of kills on its own server and cache; returns the outcomes, the failures of
    the closing sync, and the measured length of a refresh (lock to exit)."""
    rng = random.Random(f"{seed}-{job}")
    with (
        tempfile.TemporaryDirectory(prefix=f"crash-stress-{job}-") as home,
        CrashHarness(Path(home), seed=seed + job) as harness,
    ):
        harness.establish_baseline()
        # One undisturbed run measures the refresh, so moments can cover all of it.
        timing = harness.kill(KillPlan(Sig.INT, Moment.after(600)))
        if timing.locked_after is None or timing.failures:
            raise SystemExit(f"job {job}: the timing run failed: {timing.failures}")
        refresh_seconds = timing.seconds - timing.locked_after
        harness.outcomes.clear()
        for count in range(1, kills + 1):
            outcome = harness.kill(draw_plan(rng, refresh_seconds))
            mark = "FAIL" if outcome.failures else "ok"
            print(
                f"[job {job}] {count:>4}/{kills} {outcome.plan!s:<34} "
                f"{outcome.phase:<10} exit {outcome.returncode!s:>4}  {mark}",
                flush=True,
            )
        final = harness.final_sync()
        return harness.outcomes, final, refresh_seconds


def write_phase_detail(outcomes: list[KillOutcome]) -> str:
    """What the kills that landed in the final write did to the file."""
    in_write = [o for o in outcomes if o.phase is Phase.WRITE]
    counts = Counter(
        (
            o.plan.signal,
            "new generation" if o.cache_changed else "old generation kept",
            "temp file left" if o.temp_left else "no temp file",
        )
        for o in in_write
    )
    lines = [f"kills during the final write: {len(in_write)}"]
    for (sig, generation, temp), count in sorted(counts.items()):
        lines.append(f"  {sig:<10} {generation:<20} {temp:<15} {count:>4}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=200, help="kills in all (default 200)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2, help="chains run in parallel")
    args = parser.parse_args()
    jobs = max(1, min(args.jobs, args.kills))
    shares = [args.kills // jobs + (job < args.kills % jobs) for job in range(jobs)]

    started = time.monotonic()
    outcomes: list[KillOutcome] = []
    final_failures: list[str] = []
    refresh_times = []
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run_chain, job, n, args.seed) for job, n in enumerate(shares)]
        for job, future in enumerate(futures):
            chain, final, refresh_seconds = future.result()
            outcomes += chain
            final_failures += [f"job {job}, closing sync: {failure}" for failure in final]
            refresh_times.append(refresh_seconds)
    wall = time.monotonic() - started

    failures = failure_report(outcomes)
    notes = Counter(note for o in outcomes for note in o.notes)
    print()
    print(f"{len(outcomes)} kills, seed {args.seed}, {jobs} parallel chains, {wall:.0f} s wall")
    print("refresh (lock to exit) measured at " + ", ".join(f"{t:.1f} s" for t in refresh_times))
    print()
    print(phase_table(outcomes))
    print()
    print(write_phase_detail(outcomes))
    exits = Counter((o.plan.signal, o.returncode) for o in outcomes)
    print("exit statuses: " + ", ".join(f"{s} {c}: {n}" for (s, c), n in sorted(exits.items())))
    for note, count in notes.items():
        print(f"note ({count}x): {note}")
    broken = len([o for o in outcomes if o.failures]) + len(final_failures)
    print(f"failures: {broken}")
    if failures or final_failures:
        print(failures)
        print("\n".join(final_failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
