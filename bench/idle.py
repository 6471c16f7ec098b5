"""Idle cost of the daemon: ``python -m elshi run`` (default [daemon] settings: poll 60 s, sweep
60 s, heartbeat 30 s, collection every 15 min) with 1k, 10k, 100k and 1M approved deliveries due
between one and sixty days ahead, so nothing is due during the measurement.

For each size, on a fresh database: seed (SQLAlchemy executemany), start the daemon, let it
settle (``--settle`` seconds: start-up, first pass, first collection round, the first
heartbeats and the second sweep, which start the executor's threads), then read its CPU time
at the start and end of ``--window`` seconds, and at each minute within it, and its RSS
(/proc/PID/status VmRSS, and the peak VmHWM) at the end. CPU per idle hour is extrapolated
from the window; the spread of its one-minute parts is shown beside it. The defaults (60 s
settling, 300 s window) come from one daemon traced for 16 minutes (bench/README.md): a 60 s
window read 0.54 to 0.90 CPU s per hour depending on where it fell (a heartbeat, a sweep and
the poll take 1-5 ms each, and the minute that holds the first sweep after start-up is the
dearest), 0.87 right after a 15 s settling; 300 s windows read 0.57 to 0.72, for 0.62 over the
whole run. The CPU time is the
sum of the threads' run time in nanoseconds (/proc/PID/task/*/schedstat): at about 1 CPU s per
hour a 60 s window holds 17 ms, under two of the 10 ms clock ticks /proc/PID/stat counts in
(a thread that ends within the window would be missed: an idle daemon starts and ends none;
utime + stime is shown beside it as a check). Wake-ups: the threads' voluntary context switches
(/proc/PID/task/*/status), per minute, with the thread that woke most (names from ``py-spy
dump`` when py-spy is installed). Besides, in this process, the queries one idle wake-up runs are timed at that size
(median of 5): ``next_wakeup``, a claim pass that finds nothing, the missed/expired sweep; a cost
that grows with the number of future deliveries shows there. A last row (unless
``--no-blocked``) repeats the smallest size with one delivery overdue on a channel rate-limited
for an hour, a case where the daemon can only wait. With ``--baseline REF`` the daemon of REF
is measured on each database too, before this tree's on the first database, after it on the
second, and so on (a drift of the machine's load does not favour one side). Run (about 35
minutes with the defaults on SQLite; ``--window 60 --settle 15`` for a quick look):

    python bench/idle.py [--window 300] [--settle 60] [--sizes 1000,10000,100000,1000000]
        [--db sqlite|postgres] [--baseline REF]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PART = 60.0
"""Seconds of each part of the window whose CPU is read on its own (the spread)."""


@dataclass
class Sample:
    size: int
    cpu: float
    window: float
    rss_kib: int
    hwm_kib: int
    requests: int
    timings: dict[str, float]
    blocked: bool = False
    wakeup: float = float("nan")
    """Seconds from `elshi deliveries retry` returning to the emulator storing the post."""
    ticks_cpu: float = float("nan")
    """utime + stime over the window (10 ms ticks), the check of ``cpu``."""
    wakes: int = 0
    """Voluntary context switches of all threads in the window."""
    busiest: str = ""
    """The thread that woke most, and how often per minute."""
    label: str = ""
    """``@REF`` for the daemon of a baseline tree, empty for this tree's."""
    parts: list[float] = field(default_factory=list)
    """CPU s per idle hour in each `PART` of the window."""

    @property
    def cpu_per_hour(self) -> float:
        return self.cpu / self.window * 3600


def threads(pid: int) -> dict[str, tuple[int, int]]:
    """Thread id → (run time in ns, voluntary context switches) of process ``pid``."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            run_ns = int((task / "schedstat").read_text().split()[0])
            status = (task / "status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended meanwhile
        switches = next(
            int(line.split()[1])
            for line in status.splitlines()
            if line.startswith("voluntary_ctxt_switches")
        )
        out[task.name] = (run_ns, switches)
    return out


def thread_names(pid: int) -> dict[str, str]:
    """Thread id → Python thread name, from ``py-spy dump`` (empty without py-spy)."""
    import re
    import shutil
    import subprocess

    if shutil.which("py-spy") is None:
        return {}
    dump = subprocess.run(
        ["py-spy", "dump", "--nonblocking", "-p", str(pid)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return dict(re.findall(r'Thread (\d+) \(\w+\): "([^"]*)"', dump))


def peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def median_ms(call: Callable[[], object], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def query_timings(db_url: str) -> dict[str, float]:
    """What one idle wake-up of the daemon asks the database, timed here."""
    from campaigns.store import make_engine, session_factory
    from scheduler.dispatch import claim_due
    from scheduler.policy import Settings
    from scheduler.recovery import mark_missed, next_wakeup, take_over

    engine = make_engine(db_url)
    sessions = session_factory(engine)
    settings = Settings(worker_id="bench:0:idle")
    now = datetime.now(UTC)
    try:
        return {
            "next_wakeup": median_ms(lambda: next_wakeup(sessions, now)),
            "claim pass": median_ms(
                lambda: claim_due(sessions, settings, now, rate_for=lambda _n, _p: 600.0)
            ),
            "sweep": median_ms(
                lambda: (
                    mark_missed(sessions, settings, now),
                    take_over(sessions, settings, now),
                )
            ),
        }
    finally:
        engine.dispose()


def block_one_channel(db_url: str, channel: str) -> None:
    """One delivery of ``channel`` due 10 s ago, the channel rate-limited for an hour (as after
    a 429 with retry-after): nothing can be sent, the daemon should just wait."""
    from sqlalchemy import select, update

    from campaigns.schema import Channel, Delivery
    from campaigns.store import make_engine, session_factory

    engine = make_engine(db_url)
    now = datetime.now(UTC)
    with session_factory(engine)() as session:
        channel_id = session.scalar(select(Channel.id).where(Channel.name == channel))
        first = session.scalar(
            select(Delivery.id).where(Delivery.channel_id == channel_id).order_by(Delivery.id)
        )
        session.execute(
            update(Delivery).where(Delivery.id == first).values(due_at=now - timedelta(seconds=10))
        )
        session.execute(
            update(Channel)
            .where(Channel.id == channel_id)
            .values(blocked_until=now + timedelta(hours=1))
        )
        session.commit()
    engine.dispose()


def measure(
    size: int,
    kind: str,
    root: Path,
    args: argparse.Namespace,
    *,
    blocked: bool = False,
    trees: Sequence[tuple[str, Path | None]] = (("", None),),
) -> list[Sample]:
    """One database of ``size`` future deliveries; on it, one after the other, the daemon of
    each of ``trees`` (label, source tree; None: this tree's), measured alike."""
    from bench.common import database, seed, write_config
    from connectors.testing.mastodon import MastodonEmulator

    rng = random.Random(size)
    now = datetime.now(UTC)
    dues = [now + timedelta(days=1 + rng.uniform(0, 59)) for _ in range(size)]
    channels = [f"c{i:02d}" for i in range(args.channels)]
    name = f"idle{size}" + ("-blocked" if blocked else "")
    samples = []
    with MastodonEmulator() as emulator, database(kind, root, name=name) as url:
        seeded = seed(url, channels, dues, prefix=f"idle-{size}")
        print(f"  {size}: seeded in {seeded:.1f}s", file=sys.stderr)
        if blocked:
            block_one_channel(url, channels[0])
        config = write_config(root, url, dict.fromkeys(channels, emulator.url), workers=8)
        for label, tree in trees:
            sample = run_daemon(size, url, config, emulator, args, blocked, tree, label)
            sample.timings = query_timings(url)
            samples.append(sample)
    return samples


def run_daemon(
    size: int,
    url: str,
    config: Path,
    emulator: Any,
    args: argparse.Namespace,
    blocked: bool,
    tree: Path | None,
    label: str,
) -> Sample:
    from bench.common import cpu_seconds, rss_kib, start_daemon, stop

    proc = start_daemon(config, config.parent / f"daemon-{size}{label}.log", tree=tree)
    try:
        time.sleep(args.settle)
        if proc.poll() is not None:
            raise SystemExit(f"the daemon exited ({proc.returncode}); see its log")
        before_requests = len(emulator.requests)
        tasks0, ticks0, t0 = threads(proc.pid), cpu_seconds(proc.pid), time.monotonic()
        marks = [(t0, run_ns(tasks0))]
        while marks[-1][0] - t0 < args.window - 1e-3:
            time.sleep(max(0.0, min(t0 + args.window, marks[-1][0] + PART) - time.monotonic()))
            marks.append((time.monotonic(), run_ns(threads(proc.pid))))
        tasks1, ticks1, t1 = threads(proc.pid), cpu_seconds(proc.pid), time.monotonic()
        rss, hwm = rss_kib(proc.pid), peak_kib(proc.pid)
        names = thread_names(proc.pid)
        requests = len(emulator.requests) - before_requests
        woken = float("nan") if blocked else wakeup(url, emulator)
    finally:
        stop(proc)
    deltas = {
        tid: (ns - tasks0.get(tid, (0, 0))[0], woke - tasks0.get(tid, (0, 0))[1])
        for tid, (ns, woke) in tasks1.items()
    }
    top = max(deltas, key=lambda tid: deltas[tid][1])
    minutes = (t1 - t0) / 60
    return Sample(
        size,
        sum(ns for ns, _ in deltas.values()) / 1e9,
        t1 - t0,
        rss,
        hwm,
        requests,
        {},
        blocked,
        woken,
        ticks_cpu=ticks1 - ticks0,
        wakes=sum(woke for _, woke in deltas.values()),
        busiest=f"{names.get(top, top)} {deltas[top][1] / minutes:.0f}/min",
        label=label,
        parts=[
            (ns1 - ns0) / 1e9 / (m1 - m0) * 3600
            for (m0, ns0), (m1, ns1) in pairwise(marks)
            if m1 - m0 >= PART / 2
        ],
    )


def run_ns(tasks: dict[str, tuple[int, int]]) -> int:
    """The run time of all of ``tasks`` (`threads`), in ns."""
    return sum(ns for ns, _ in tasks.values())


def spread(parts: list[float]) -> str:
    return f"{min(parts):.2f}-{max(parts):.2f}" if len(parts) > 1 else "-"


def wakeup(db_url: str, emulator: Any) -> float:
    """How soon the idle daemon (its next poll up to a minute away) publishes a delivery that
    becomes due now: one delivery due weeks ahead is moved to now with an ORM change committed
    here, which signals the daemons the way an approval or an apply does (`campaigns.store`'s
    flush hook); seconds from that commit to the emulator storing the post."""
    from sqlalchemy import select

    from campaigns.schema import Delivery
    from campaigns.store import make_engine, session_factory

    engine = make_engine(db_url)
    try:
        with session_factory(engine)() as session:
            delivery = session.scalars(
                select(Delivery).where(Delivery.state == "approved").order_by(Delivery.id).limit(1)
            ).one()
            delivery.due_at = datetime.now(UTC)
            before = len(emulator.posts)
            session.commit()
            committed = time.monotonic()
    finally:
        engine.dispose()
    while len(emulator.posts) == before and time.monotonic() - committed < 90:
        time.sleep(0.01)
    return time.monotonic() - committed if len(emulator.posts) > before else float("inf")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--window", type=float, default=300.0, help="seconds measured per size and daemon"
    )
    parser.add_argument("--settle", type=float, default=60.0, help="seconds before measuring")
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--db", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--channels", type=int, default=10)
    parser.add_argument(
        "--no-blocked",
        action="store_true",
        help="skip the extra row: 1k future + 1 overdue delivery on a rate-limited channel",
    )
    parser.add_argument(
        "--baseline",
        metavar="REF",
        help="also measure the daemon of git REF (same schema), on each database just before "
        "or after this tree's, alternately",
    )
    args = parser.parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from bench.common import baseline_tree

    sizes = [int(s) for s in args.sizes.split(",")]

    started = time.monotonic()
    samples: list[Sample] = []
    with TemporaryDirectory(prefix="elshi-idle-") as tmp, baseline_tree(args.baseline) as old:
        trees: list[tuple[str, Path | None]] = [("", None)]
        if old is not None:
            trees.insert(0, (f"@{args.baseline}", old))
        for index, size in enumerate(sizes):  # the baseline first, then last, then first...
            order = trees if index % 2 == 0 else trees[::-1]
            samples += measure(size, args.db, Path(tmp), args, trees=order)
        if not args.no_blocked:
            order = trees if len(sizes) % 2 == 0 else trees[::-1]
            samples += measure(sizes[0], args.db, Path(tmp), args, blocked=True, trees=order)

    print(
        f"idle daemon on {args.db}, {args.channels} channels, window {args.window:g}s per size "
        f"(after {args.settle:g}s settling); default [daemon] settings"
    )
    names = list(samples[0].timings)
    width = max(len(str(s.size) + ("+1*" if s.blocked else "") + s.label) for s in samples)
    width = max(width, 8)
    header = (
        f"{'future':>{width}} {'CPU s':>6} {'CPU s/idle h':>12} {'1-min parts':>11} {'ticks s':>7} "
        f"{'wakes/min':>9} "
        f"{'RSS MiB':>8} {'peak MiB':>8} {'HTTP':>5} {'wake s':>6} "
        + " ".join(f"{n + ' ms':>15}" for n in names)
        + "  woke most"
    )
    print(header)
    print("-" * len(header))
    for s in samples:
        print(
            f"{str(s.size) + ('+1*' if s.blocked else '') + s.label:>{width}} {s.cpu:>6.3f} "
            f"{s.cpu_per_hour:>12.2f} {spread(s.parts):>11} {s.ticks_cpu:>7.2f} "
            f"{s.wakes / s.window * 60:>9.0f} "
            f"{s.rss_kib / 1024:>8.1f} {s.hwm_kib / 1024:>8.1f} {s.requests:>5} {s.wakeup:>6.2f} "
            + " ".join(f"{s.timings[n]:>15.2f}" for n in names)
            + f"  {s.busiest}"
        )
    print(
        f"  1-min parts: the lowest and highest CPU s per idle hour of the window's "
        f"{PART:g} s parts"
    )
    if any(s.blocked for s in samples):
        print(
            "  *: plus one delivery due 10 s ago on a channel rate-limited for an hour "
            "(blocked_until): the daemon can only wait"
        )
    mine = [s for s in samples if not s.label]  # a baseline's rows are shown, not judged
    plain = [s for s in mine if not s.blocked]
    small, large = plain[0], plain[-1]
    growth = (large.rss_kib - small.rss_kib) / 1024
    flat = growth < 10
    cheap = large.cpu_per_hour < 60
    print(
        "  wake s: from the commit that makes a delivery due weeks ahead due now (an ORM change, "
        "signalled as approvals and applies are) to the emulator storing the post; the daemon's "
        "next poll was up to 60 s away"
    )
    woken = [s.wakeup for s in plain]
    print(
        f"verdict: wake-ups {'within a second' if max(woken) <= 1 else 'SLOWER than a second'} "
        f"(slowest {max(woken):.2f}s); "
        f"{'cheap' if cheap else 'NOT cheap'} idle ({large.cpu_per_hour:.1f} CPU s per "
        f"idle hour at {large.size} future deliveries, {small.cpu_per_hour:.1f} at {small.size}; "
        f"issue 14's aim: about 1); "
        f"memory {'flat' if flat else 'GROWS'} ({growth:+.1f} MiB RSS from {small.size} to "
        f"{large.size})"
        + "".join(
            f"; with a rate-limited channel {s.cpu_per_hour:.0f} CPU s per hour "
            f"({'BUSY LOOP' if s.cpu_per_hour > 10 * max(small.cpu_per_hour, 6) else 'fine'})"
            for s in mine
            if s.blocked
        )
        + f"; took {time.monotonic() - started:.0f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
