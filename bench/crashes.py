"""The long crash and concurrency run: tests/scheduler/harness.py's real ``elshi run`` processes
against platform emulators (Mastodon and X) and a real database, with more deliveries, more
SIGKILL rounds, several seeds and random emulator faults (429, 5xx, answers dropped after the
post was stored, answers slower than the client's timeout). The X emulator's cap of 100 posts
per 15-minute window is lifted (a quarter of the deliveries go to X) unless ``--real-x-limits``.

Each round SIGKILLs one of the running daemons (chosen by the seed) once a seeded number of
further deliveries went out or a seeded instant passed, and starts it again, so with ``daemons``
> 1 the others keep publishing and reconcile the victim's expired claims. Then faults stop and
the daemons run until every delivery is final. Checked afterwards, from the emulators' records:
no post published twice, every post explained by its delivery; from the database: every
delivery published, failed, missed or needs_review, with a reason. Exits 1 if any scenario is
not ok (its daemon logs are kept and their folder printed). Run (about 10 minutes with the
defaults; PostgreSQL at 127.0.0.1:5432, a database created and dropped per scenario):

    python bench/crashes.py [--seeds 1,2,3] [--count 1000] [--rounds 15] [--only pg-3]
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Scenario:
    name: str
    db: str
    daemons: int
    chaos: dict[str, float]


SCENARIOS = (
    Scenario(
        "sqlite-1",
        "sqlite",
        1,
        {"rate_limit": 0.03, "server_error": 0.03, "drop_after": 0.03},
    ),
    Scenario(
        "sqlite-2",
        "sqlite",
        2,
        {"rate_limit": 0.03, "unavailable": 0.03, "drop_after": 0.03, "drop_before": 0.02},
    ),
    Scenario(
        "pg-3",
        "postgres",
        3,
        {"rate_limit": 0.04, "unavailable": 0.04, "drop_after": 0.04, "delay": 0.01},
    ),
)


def quiet_resets(emulator: Any) -> None:
    """A SIGKILLed client resets its connections; the emulator's server would print each
    ``ConnectionResetError`` with its traceback. Other errors are still printed."""
    server = emulator._server
    default = server.handle_error

    def handle_error(request: Any, address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            default(request, address)

    server.handle_error = handle_error


def kill_among(harness: Any, daemons: int, rounds: int, rng: random.Random) -> list[Any]:
    """Run ``daemons`` daemons; ``rounds`` times SIGKILL one of them and start it again."""
    procs = [harness.start_daemon(f"d{i}-0") for i in range(daemons)]
    total = sum(harness.counts().values())
    for r in range(rounds):
        target = harness.counts().get("published", 0) + rng.randint(
            1, max(2, total // (rounds + 1))
        )
        limit = rng.uniform(0.5, 2.5) + 1.0
        started = time.monotonic()
        harness.wait(
            lambda t=target, s=started, d=limit: (
                harness.counts().get("published", 0) >= t or time.monotonic() - s > d
            ),
            timeout=30,
            poll=0.1,
        )
        victim = rng.randrange(daemons)
        procs[victim].send_signal(signal.SIGKILL)
        procs[victim].wait()
        harness.kills += 1
        procs[victim] = harness.start_daemon(f"d{victim}-{r + 1}")
    return procs


def run(scenario: Scenario, seed: int, args: argparse.Namespace) -> tuple[Any, Path]:
    from datetime import UTC, datetime, timedelta

    from bench.dispatch import database, stop
    from tests.scheduler.harness import Harness

    root = Path(tempfile.mkdtemp(prefix=f"elshi-crash-{scenario.name}-{seed}-"))
    started = time.monotonic()
    with (
        database(scenario.db, root) as url,
        Harness(
            root, url, seed=seed, mastodon_channels=3, x_channels=1, latency=args.latency
        ) as harness,
    ):
        if not args.real_x_limits:
            for x in harness.xs:
                x.limits["POST /2/tweets"] = 1_000_000
        for i, emulator in enumerate(harness.channels.values()):
            quiet_resets(emulator)
            path = (
                "/api/v1/statuses" if "mastodon" in type(emulator).__name__.lower() else "/2/tweets"
            )
            emulator.chaos(scenario.chaos, path=path + "$", method="POST", seed=seed * 100 + i)
        harness.seed_burst(
            args.count, start=datetime.now(UTC) + timedelta(seconds=2), spread=args.spread
        )
        procs = kill_among(harness, scenario.daemons, args.rounds, random.Random(seed))
        for emulator in harness.channels.values():
            emulator.clear_faults()
        harness.settle(timeout=args.timeout)
        for proc in procs:
            stop(proc)
        report = harness.report(started)
    return report, root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--count", type=int, default=1000, help="deliveries per scenario")
    parser.add_argument("--rounds", type=int, default=15, help="SIGKILL rounds per scenario")
    parser.add_argument("--spread", type=float, default=20.0, help="s the due times span")
    parser.add_argument("--latency", type=float, default=0.01, help="emulator answer delay (s)")
    parser.add_argument("--timeout", type=float, default=180.0, help="s to settle after kills")
    parser.add_argument(
        "--real-x-limits",
        action="store_true",
        help="keep X's 100 posts per 15 minutes (the X channel then waits out the window)",
    )
    parser.add_argument("--only", help="comma-separated scenario names: sqlite-1,sqlite-2,pg-3")
    args = parser.parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    wanted = set(args.only.split(",")) if args.only else {s.name for s in SCENARIOS}
    seeds = [int(s) for s in args.seeds.split(",")]

    started = time.monotonic()
    header = (
        f"{'scenario':9} {'seed':>4} {'daemons':>7} {'deliveries':>10} {'kills':>5} "
        f"{'dup':>4} {'unexpl':>6} {'seconds':>7} {'ok':>3}  states"
    )
    print(header)
    print("-" * len(header), flush=True)
    failures = []
    for scenario in SCENARIOS:
        if scenario.name not in wanted:
            continue
        for seed in seeds:
            report, root = run(scenario, seed, args)
            states = ", ".join(f"{k} {v}" for k, v in sorted(report.states.items()))
            print(
                f"{scenario.name:9} {seed:>4} {scenario.daemons:>7} {report.deliveries:>10} "
                f"{report.kills:>5} {len(report.duplicates):>4} {len(report.unexplained):>6} "
                f"{report.seconds:>7.1f} {'yes' if report.ok else 'NO':>3}  {states}",
                flush=True,
            )
            if report.ok:
                shutil.rmtree(root, ignore_errors=True)
            else:
                failures.append(f"{scenario.name} seed {seed}: logs in {root}")
                for line in (report.duplicates + report.unexplained)[:10]:
                    print(f"    {line}")
    print(
        f"verdict: {'all scenarios ok' if not failures else 'FAILED: ' + '; '.join(failures)} "
        f"(no duplicates, every delivery final with a reason); took "
        f"{time.monotonic() - started:.0f}s"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
