"""Dispatch speed: ``--count`` deliveries due within ``--spreads`` seconds (0: all at once, the
throughput ceiling; 60: the lateness of a steady load) over ``--channels`` Mastodon channels
(one emulator per channel, in this process, each answering in ``--latency`` seconds), published
by the real daemon (``python -m elshi run``, a child process) — this tree's and, with
``--baseline REF``, the code of git REF ("today") — against the same load done the naive way
(one APScheduler 3 ``date`` job per post in APScheduler's own ``SQLAlchemyJobStore``, each
calling Mastodon.py: bench/naive_apscheduler.py) and against the emulators' capacity
(Mastodon.py with ``--threads`` threads and no scheduler, measured right before and right
after each database's all-at-once runs, their mean being that database's ceiling), all in one run, on SQLite and on
PostgreSQL.

Lateness is read from the emulators' own records (the instant each status was stored, minus its
due time), for every way alike; the emulators also show duplicates. Throughput is posts over
(last publication - first due time). CPU per post is the scheduler process's CPU time from one
second before the first due time to the end, divided by the posts (start-up is shown apart);
the capacity client's CPU per post is what Mastodon.py itself costs. Run (about 15 minutes
with the defaults on a shared 2-core machine):

    python bench/dispatch.py [--db sqlite,postgres] [--spreads 0,60] [--count 1000]
        [--channels 50] [--baseline REF] [--skip-naive]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

from bench.common import (  # noqa: E402 - after the path is set
    Emulators,
    baseline_tree,
    child_env,
    cpu_seconds,
    database,
    pct,
    profile,
    profile_top,
    seed,
    server_cpu,
    server_cpu_since,
    sleep_until,
    start_daemon,
    stop,
    write_config,
)


@dataclass
class Outcome:
    way: str
    db: str
    spread: float
    count: int
    published: int = 0
    duplicates: int = 0
    lateness: list[float] = field(default_factory=list)
    first_due: datetime | None = None
    last_post: datetime | None = None
    cpu: float = math.nan
    """Scheduler CPU seconds from one second before the first due time to the end."""
    server_cpu: float = math.nan
    """PostgreSQL: its server processes' CPU seconds for this run's database, same interval."""
    close: list[float] = field(default_factory=list)
    """Lateness of the posts due less than `CLOSE` after the previous post of their channel."""
    apart: list[float] = field(default_factory=list)
    """Lateness of the other posts."""
    startup_cpu: float = math.nan
    note: str = ""
    profile: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        if self.first_due is None or self.last_post is None or not self.published:
            return math.nan
        return self.published / max((self.last_post - self.first_due).total_seconds(), 1e-3)

    @property
    def cpu_per_post(self) -> float:
        return self.cpu / self.published * 1000 if self.published else math.nan

    @property
    def server_per_post(self) -> float:
        return self.server_cpu / self.published * 1000 if self.published else math.nan


CLOSE = 0.03
"""Seconds: a post due less than this after the previous post of its channel is a close pair's
second (both ways put post i on channel i % channels)."""


def measure(
    outcome: Outcome, emulators: Emulators, prefix: str, dues: Sequence[datetime]
) -> Outcome:
    posts = emulators.posts(prefix)
    texts = Counter(text for text, _ in posts)
    outcome.duplicates = sum(n - 1 for n in texts.values())
    outcome.published = len(texts)
    first: dict[int, datetime] = {}
    for text, at in posts:
        index = int(text.rsplit(" ", 1)[1])
        first[index] = min(at, first.get(index, at))
    outcome.lateness = [(at - dues[i]).total_seconds() for i, at in first.items()]
    channels = len(emulators.channels)
    close: set[int] = set()
    for channel in range(channels):
        mine = sorted(range(channel, len(dues), channels), key=lambda i: dues[i])
        close.update(
            later
            for earlier, later in itertools.pairwise(mine)
            if (dues[later] - dues[earlier]).total_seconds() < CLOSE
        )
    for i, at in first.items():
        (outcome.close if i in close else outcome.apart).append((at - dues[i]).total_seconds())
    outcome.first_due = min(dues)
    outcome.last_post = max(first.values(), default=None)
    return outcome


def wait_for(emulators: Emulators, prefix: str, count: int, deadline: float) -> None:
    while time.monotonic() < deadline and len(emulators.posts(prefix)) < count:
        time.sleep(0.2)


def plan_dues(count: int, spread: float, lead: float, seed: int) -> list[datetime]:
    rng = random.Random(seed)
    start = datetime.now(UTC) + timedelta(seconds=lead)
    return [start + timedelta(seconds=rng.uniform(0, spread)) for _ in range(count)]


def run_elshi(
    kind: str,
    spread: float,
    root: Path,
    emulators: Emulators,
    args: argparse.Namespace,
    *,
    way: str,
    tree: Path | None = None,
) -> Outcome:
    tag = f"{way.split()[0]}-{kind}-{spread:g}"
    outcome = Outcome(way, kind, spread, args.count)
    with database(kind, root, name=tag) as url:
        dues = plan_dues(args.count, spread, args.lead, args.seed)
        seeded = seed(url, list(emulators.channels), dues, prefix=tag, tree=tree)
        config = write_config(root, url, emulators.channels, workers=args.workers, rate=args.rate)
        proc = start_daemon(config, root / f"daemon-{tag}.log", tree=tree)
        sleep_until(dues[0] - timedelta(seconds=1) if spread == 0 else min(dues))
        if proc.poll() is not None:
            raise SystemExit(f"{way} exited ({proc.returncode}); see {root}/daemon-{tag}.log")
        outcome.startup_cpu = cpu0 = cpu_seconds(proc.pid)
        server0 = server_cpu(url)
        spy = profile(proc.pid, root / f"{tag}.pyspy", gil=args.gil) if args.profile else None
        wait_for(emulators, tag, args.count, time.monotonic() + spread + 120)
        time.sleep(0.3)  # the last results being recorded
        outcome.cpu = cpu_seconds(proc.pid) - cpu0
        outcome.server_cpu = server_cpu_since(url, server0)
        if spy is not None:
            keep_profile(spy, root / f"{tag}.pyspy", outcome, args)
        code = stop(proc)
        measure(outcome, emulators, tag, dues)
        outcome.note = f"seeded in {seeded:.1f}s; exit {code}"
    return outcome


NAIVE = "APScheduler jobs"
"""The naive way's name in the results."""


def run_naive(
    kind: str, spread: float, root: Path, emulators: Emulators, args: argparse.Namespace
) -> Outcome:
    tag = f"naive-{kind}-{spread:g}"
    outcome = Outcome(NAIVE, kind, spread, args.count)
    with database(kind, root, name=tag) as url:
        if url.startswith("postgresql://"):
            url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        dues = plan_dues(args.count, spread, args.naive_lead, args.seed)
        urls = list(emulators.channels.values())
        plan = [
            {"id": f"post-{i}", "url": urls[i % len(urls)], "text": f"{tag} post {i}", "due": d}
            for i, d in enumerate(due.isoformat() for due in dues)
        ]
        plan_path = root / f"{tag}.json"
        plan_path.write_text(json.dumps(plan), encoding="utf-8")
        proc = subprocess.Popen(
            naive_child(
                "run", "--db", url, "--plan", str(plan_path), "--threads", str(args.threads)
            ),
            stdout=subprocess.PIPE,
            stderr=(root / f"{tag}.log").open("ab"),
            env=child_env(),
            text=True,
        )
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline() or "{}")
        sleep_until(dues[0] - timedelta(seconds=1) if spread == 0 else min(dues))
        outcome.startup_cpu = cpu0 = cpu_seconds(proc.pid)
        server0 = server_cpu(url)
        spy = profile(proc.pid, root / f"{tag}.pyspy", gil=args.gil) if args.profile else None
        wait_for(emulators, tag, args.count, time.monotonic() + spread + 120)
        time.sleep(0.3)
        outcome.cpu = cpu_seconds(proc.pid) - cpu0
        outcome.server_cpu = server_cpu_since(url, server0)
        if spy is not None:
            keep_profile(spy, root / f"{tag}.pyspy", outcome, args)
        stop(proc)
        report = json.loads(proc.stdout.read() or "{}")
        measure(outcome, emulators, tag, dues)
        late_setup = ready.get("ready_at", "") > min(dues).isoformat()
        outcome.note = (
            f"{args.count} jobs stored in {ready.get('seconds', math.nan):.1f}s"
            + (" (AFTER the first due time)" if late_setup else "")
            + f"; missed {report.get('missed', '?')}, errors {report.get('errors', '?')}"
        )
    return outcome


def keep_profile(
    spy: subprocess.Popen[bytes], raw: Path, outcome: Outcome, args: argparse.Namespace
) -> None:
    """Stop py-spy, read its top functions into ``outcome``, copy its file into ``--profile``."""
    stop(spy, signal=signal.SIGINT)
    outcome.profile = profile_top(raw)
    if args.profile != "-":
        Path(args.profile).mkdir(parents=True, exist_ok=True)
        shutil.copy(raw, Path(args.profile) / raw.name)


def naive_child(*command: str) -> list[str]:
    return [sys.executable, str(HERE / "naive_apscheduler.py"), *command]


def capacity(emulators: Emulators, root: Path, threads: int, posts: int) -> dict[str, Any]:
    urls = root / "urls.json"
    urls.write_text(json.dumps(list(emulators.channels.values())), encoding="utf-8")
    out = subprocess.run(
        naive_child(
            "capacity", "--urls", str(urls), "--threads", str(threads), "--posts", str(posts)
        ),
        check=True,
        capture_output=True,
        text=True,
        env=child_env(),
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def fmt(value: float, digits: int = 3) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--db", default="sqlite,postgres", help="databases, in order: sqlite, postgres or both"
    )
    parser.add_argument("--spreads", default="0,60", help="seconds the due times span, per run")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--channels", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.02, help="emulator answer delay (s)")
    parser.add_argument("--workers", type=int, default=50, help="the daemon's publish threads")
    parser.add_argument(
        "--rate",
        default="6000/m",
        help="every channel's posting rate: its posts are spaced 60/rate s apart at least "
        "(the naive way has none)",
    )
    parser.add_argument(
        "--threads", type=int, default=50, help="threads of the naive executor and capacity client"
    )
    parser.add_argument("--capacity-posts", type=int, default=2000)
    parser.add_argument("--lead", type=float, default=15.0, help="s from seeding to first due")
    parser.add_argument("--naive-lead", type=float, default=25.0, help="same, for the naive way")
    parser.add_argument("--baseline", metavar="REF", help="also run the daemon of git REF")
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="sample each daemon with py-spy from the first due time on, print its top "
        "functions and keep the raw stacks in DIR ('-': print only); costs the daemon some CPU",
    )
    parser.add_argument(
        "--gil",
        action="store_true",
        help="with --profile: only samples of the thread holding the GIL (where the CPU goes)",
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.db.split(",") if k.strip()]
    unknown = sorted(set(kinds) - {"sqlite", "postgres"})
    if unknown or not kinds:
        parser.error(f"--db: a comma list of sqlite and postgres, not {args.db!r}")
    spreads = [float(s) for s in args.spreads.split(",")]

    started = time.monotonic()
    outcomes: list[Outcome] = []
    with (
        TemporaryDirectory(prefix="elshi-bench-") as tmp,
        Emulators(args.channels, args.latency) as emulators,
        baseline_tree(args.baseline) as tree,
    ):
        root = Path(tmp)
        # The capacity is measured right before and right after each database's all-at-once
        # runs (the throughput ceiling) and their mean is that database's ceiling, so a load
        # change on a shared machine between the capacity and a run shows in the two figures
        # instead of silently skewing the ratio.
        # The ways of a cell run one after another, and the one run later in a cell was seen
        # to be 5-10 % faster (the same code twice: 129 -> 140 posts/s on PostgreSQL), so the
        # order is reversed from one cell to the next, along the databases and along the
        # spreads (a checkerboard: with two databases each spread's cells run in both orders),
        # and the order is printed with the results.
        caps: dict[str, list[dict[str, Any]]] = {}
        for row, kind in enumerate(kinds):
            for column, spread in enumerate(spreads):
                if spread == 0 or kind not in caps:
                    caps.setdefault(kind, []).append(
                        capacity(emulators, root, args.threads, args.capacity_posts)
                    )
                    emulators.forget_requests()
                ways: list[tuple[str, Path | None]] = [("elshi run", None)]
                if tree is not None:
                    ways.insert(0, (f"today ({args.baseline})", tree))
                if not args.skip_naive:
                    ways.append((NAIVE, None))
                if (row + column) % 2:
                    ways.reverse()
                for way, code in ways:
                    if way == NAIVE:
                        outcomes.append(run_naive(kind, spread, root, emulators, args))
                    else:
                        outcomes.append(
                            run_elshi(kind, spread, root, emulators, args, way=way, tree=code)
                        )
                    emulators.forget_requests()
                if spread == 0:
                    caps[kind].append(capacity(emulators, root, args.threads, args.capacity_posts))
                    emulators.forget_requests()

    ceilings = {
        kind: statistics.fmean(c["posts"] / c["seconds"] for c in cs) for kind, cs in caps.items()
    }
    client = {
        kind: statistics.fmean(c["cpu"] / c["posts"] * 1000 for c in cs)
        for kind, cs in caps.items()
    }
    print(
        f"{args.count} deliveries due within {'/'.join(f'{s:g}' for s in spreads)} s on "
        f"{args.channels} Mastodon emulators answering in {args.latency * 1000:g} ms; channel "
        f"rate {args.rate}; daemon workers {args.workers}; naive executor threads {args.threads}; "
        "a shared 2-core machine"
    )
    for kind, cs in caps.items():
        each = ", ".join(
            f"{c['posts'] / c['seconds']:.0f} posts/s at {c['cpu'] / c['posts'] * 1000:.2f} ms CPU "
            f"(errors {c['errors']})"
            for c in cs
        )
        print(
            f"capacity beside the {kind} runs (Mastodon.py, {args.threads} threads, no scheduler, "
            f"no database; measured before and after the all-at-once runs): {each}; ceiling "
            f"{ceilings[kind]:.0f} posts/s, the client library alone {client[kind]:.2f} ms CPU per post"
        )
    header = (
        f"{'db':9} {'spread':>6} {'way':23} {'published':>9} {'dup':>4} {'p50 s':>7} "
        f"{'p99 s':>7} {'max s':>7} {'posts/s':>8} {'x cap':>6} {'CPU ms/post':>11} "
        f"{'own ms':>7} {'server ms':>9}"
    )
    print(header)
    print("-" * len(header))
    for o in outcomes:
        print(
            f"{o.db:9} {o.spread:>6g} {o.way:23} {o.published:>5}/{o.count:<4}"
            f"{o.duplicates:>4} {fmt(pct(o.lateness, 0.5)):>7} {fmt(pct(o.lateness, 0.99)):>7} "
            f"{fmt(max(o.lateness, default=math.nan)):>7} {o.throughput:>8.1f} "
            f"{o.throughput / ceilings[o.db]:>6.2f} {fmt(o.cpu_per_post, 2):>11} "
            f"{fmt(o.cpu_per_post - client[o.db], 2):>7} {fmt(o.server_per_post, 2):>9}"
        )
    print(
        "  CPU ms/post: the scheduler process from 1 s before the first due time to the end; "
        "own ms: less what the client library costs per post (the capacity client's); "
        "server ms: PostgreSQL's processes serving the run's database, same interval"
    )
    print(
        "  order within each cell (reversed from one cell to the next, along both axes): "
        + "; ".join(
            f"{db} {spread:g}s: "
            + " -> ".join(o.way for o in outcomes if o.db == db and o.spread == spread)
            for db, spread in dict.fromkeys((o.db, o.spread) for o in outcomes)
        )
    )
    for o in outcomes:
        print(f"  {o.db} {o.spread:g}s {o.way}: start-up CPU {o.startup_cpu:.1f}s; {o.note}")
    for o in outcomes:
        if o.spread and o.close:
            print(
                f"  {o.db} {o.spread:g}s {o.way}: the {len(o.close)} posts due < "
                f"{CLOSE * 1000:g} ms after their channel's previous one: lateness p50 "
                f"{fmt(pct(o.close, 0.5))}, max {fmt(max(o.close))} s; the other posts' p99 "
                f"{fmt(pct(o.apart, 0.99))} s"
            )
    print(
        "  the naive way gives no exactly-once across processes (two schedulers on one job store "
        "may both run a job; a crash mid-call re-runs or loses it, unreconciled), no per-channel "
        "rate or thread order, no retry policy, no missed/needs-review states, and pickles "
        "arguments into its table."
    )
    for o in outcomes:
        if o.profile:
            print(f"profile of {o.way} on {o.db} at {o.spread:g}s (py-spy):")
            print("\n".join("  " + line for line in o.profile))
    print(verdict(outcomes, ceilings, client) + f"; took {time.monotonic() - started:.0f}s")
    return 0


def verdict(outcomes: list[Outcome], ceilings: dict[str, float], client: dict[str, float]) -> str:
    """The issue's aims, per database: throughput >= 0.8 x capacity and ahead of the naive way
    (all due at once); p99 lateness at the 60 s spread at or below the naive way's; Elshi's own
    CPU per post <= 2 ms; every delivery published once."""
    parts = []
    for db in sorted({o.db for o in outcomes}):
        mine = {o.spread: o for o in outcomes if o.db == db and o.way == "elshi run"}
        naive = {o.spread: o for o in outcomes if o.db == db and o.way == NAIVE}
        checks = []
        ceiling, client_ms = ceilings[db], client[db]
        if 0 in mine:
            o = mine[0]
            ok = o.throughput >= 0.8 * ceiling and (
                0 not in naive or o.throughput > naive[0].throughput
            )
            checks.append(f"throughput {o.throughput / ceiling:.2f}x capacity {_ok(ok)}")
            checks.append(
                f"own CPU {o.cpu_per_post - client_ms:.2f} ms/post {_ok(o.cpu_per_post - client_ms <= 2.0)}"
            )
        late = [s for s in mine if s > 0]
        for spread in late:
            o = mine[spread]
            p99 = pct(o.lateness, 0.99)
            ok = spread not in naive or p99 <= pct(naive[spread].lateness, 0.99)
            checks.append(f"p99 at {spread:g}s {p99:.3f}s {_ok(ok)}")
        once = all(o.published == o.count and o.duplicates == 0 for o in mine.values())
        checks.append(f"all published once {_ok(once)}")
        parts.append(f"{db}: " + ", ".join(checks))
    return "verdict: " + "; ".join(parts)


def _ok(good: bool) -> str:
    return "(ok)" if good else "(MISSED)"


if __name__ == "__main__":
    sys.exit(main())
