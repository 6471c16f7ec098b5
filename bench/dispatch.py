"""Dispatch lateness: ``--count`` deliveries due within ``--spread`` seconds over ``--channels``
Mastodon channels (one emulator per channel, each answering in ``--latency`` seconds), published
by the real daemon (``python -m elshi run``, a child process), against the same load done the
naive way (one APScheduler 3 ``date`` job per post in APScheduler's own ``SQLAlchemyJobStore``,
each calling Mastodon.py: bench/naive_apscheduler.py, a child process too), and against the
emulators' capacity (Mastodon.py with ``--threads`` threads and no scheduler), all in one run.

Lateness is read from the emulators' own records (the instant each status was stored, minus its
due time), for both ways alike; the emulators also show duplicates. Throughput is posts over
(last publication - first due time): with a 60 s spread it cannot exceed count/60, the offered
load; ``--spread 0`` makes everything due at once and shows the throughput ceiling.
Run (about 5.5 minutes with the defaults, under 3 of them per database):

    python bench/dispatch.py [--db sqlite,postgres] [--count 2000] [--channels 50] [--spread 60]

The emulators run in this process; the daemon, the naive scheduler and the capacity client are
child processes, so neither side shares its interpreter lock with the emulators.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # tests.scheduler.harness, when run as a script
    sys.path.insert(0, str(HERE.parent))
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
TOKEN_ENV = "ELSHI_BENCH_MASTODON_TOKEN"

# --- shared with bench/idle.py ------------------------------------------------------------


@contextmanager
def database(kind: str, root: Path, *, name: str = "elshi", admin: str = PG_ADMIN) -> Iterator[str]:
    """A fresh database: a SQLite file under ``root``, or a PostgreSQL database created for the
    run (``elshi_bench_<random>``) and dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{root / f'{name}.db'}"
        return
    import psycopg

    db = f"elshi_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    try:
        yield f"{admin.rsplit('/', 1)[0]}/{db}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def seed(
    db_url: str,
    channels: Sequence[str],
    dues: Sequence[datetime],
    *,
    prefix: str,
    platform: str = "mastodon",
) -> float:
    """Approved deliveries on ``channels`` (all of ``platform``); see
    tests/scheduler/harness.py `seed_deliveries`."""
    from tests.scheduler.harness import seed_deliveries

    return seed_deliveries(db_url, dict.fromkeys(channels, platform), dues, prefix=prefix)


def write_config(
    root: Path,
    db_url: str,
    channels: dict[str, str],
    *,
    workers: int,
    rate: str = "600/m",
    daemon: dict[str, str] | None = None,
) -> Path:
    """elshi.toml for Mastodon ``channels`` (name → instance URL), the token in TOKEN_ENV."""
    lines = ["[database]", f'url = "{db_url}"', "", "[daemon]", f"workers = {workers}"]
    lines += [f'{k} = "{v}"' for k, v in (daemon or {}).items()]
    lines += ["", "[metrics]", 'schedule = ["30d"]', ""]
    for name, url in channels.items():
        lines += [
            f"[channels.{name}]",
            'platform = "mastodon"',
            f'api_base_url = "{url}"',
            f'token_env = "{TOKEN_ENV}"',
            f'rate = "{rate}"',
            "timeout = 10",
            "",
        ]
    path = root / "elshi.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def child_env() -> dict[str, str]:
    from connectors.testing.mastodon import DEFAULT_TOKEN

    env = dict(os.environ)
    env.pop("ELSHI_DATABASE_URL", None)
    env.pop("ELSHI_CONFIG", None)
    env[TOKEN_ENV] = DEFAULT_TOKEN
    return env


def start_daemon(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "elshi", "--config", str(config), "run"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=child_env(),
            cwd=config.parent,
        )


def stop(proc: subprocess.Popen[Any], *, timeout: float = 30.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (/proc/PID/stat utime + stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    """Resident set size of process ``pid`` (/proc/PID/status VmRSS), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def pct(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (``p`` in 0..1)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(p * len(ordered)) - 1))]


# --- this benchmark -----------------------------------------------------------------------


@dataclass
class Outcome:
    way: str
    db: str
    count: int
    published: int = 0
    duplicates: int = 0
    lateness: list[float] = field(default_factory=list)
    first_due: datetime | None = None
    last_post: datetime | None = None
    note: str = ""

    @property
    def throughput(self) -> float:
        if self.first_due is None or self.last_post is None or not self.published:
            return math.nan
        return self.published / max((self.last_post - self.first_due).total_seconds(), 1e-3)


class Emulators:
    """One Mastodon emulator per channel, in this process."""

    def __init__(self, channels: int, latency: float) -> None:
        from connectors.testing.mastodon import MastodonEmulator

        self.items = [
            MastodonEmulator(latency=latency, username=f"c{i:02d}") for i in range(channels)
        ]

    def __enter__(self) -> Emulators:
        for emulator in self.items:
            emulator.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for emulator in self.items:
            emulator.stop()

    @property
    def channels(self) -> dict[str, str]:
        return {f"c{i:02d}": e.url for i, e in enumerate(self.items)}

    def posts(self, prefix: str) -> list[tuple[str, datetime]]:
        """(text, stored at) of every status whose text starts with ``prefix``."""
        found = []
        for emulator in self.items:
            with emulator._lock:
                found += [
                    (p["text"], p["created_at"])
                    for p in emulator.posts
                    if p["text"].startswith(prefix + " ")
                ]
        return found

    def forget_requests(self) -> None:
        for emulator in self.items:
            with emulator._lock:
                emulator.requests.clear()


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
    outcome.first_due = min(dues)
    outcome.last_post = max(first.values(), default=None)
    return outcome


def wait_for(emulators: Emulators, prefix: str, count: int, deadline: float) -> None:
    while time.monotonic() < deadline and len(emulators.posts(prefix)) < count:
        time.sleep(0.25)


def plan_dues(count: int, spread: float, lead: float, seed: int) -> list[datetime]:
    rng = random.Random(seed)
    start = datetime.now(UTC) + timedelta(seconds=lead)
    return [start + timedelta(seconds=rng.uniform(0, spread)) for _ in range(count)]


def run_elshi(kind: str, root: Path, emulators: Emulators, args: argparse.Namespace) -> Outcome:
    from sqlalchemy import func, select

    from campaigns.schema import Delivery
    from campaigns.store import make_engine, session_factory

    prefix = f"elshi-{kind}"
    outcome = Outcome("elshi run", kind, args.count)
    with database(kind, root, name="elshi") as url:
        dues = plan_dues(args.count, args.spread, args.lead, args.seed)
        seeded = seed(url, list(emulators.channels), dues, prefix=prefix)
        config = write_config(root, url, emulators.channels, workers=args.workers)
        proc = start_daemon(config, root / f"daemon-{kind}.log")
        wait_for(emulators, prefix, args.count, time.monotonic() + args.lead + args.spread + 120)
        engine = make_engine(url)
        sessions = session_factory(engine)

        def states() -> dict[str, int]:
            with sessions() as session:
                rows = session.execute(
                    select(Delivery.state, func.count()).group_by(Delivery.state)
                )
                return dict(rows.all())

        deadline = time.monotonic() + 10
        while states().get("publishing") and time.monotonic() < deadline:
            time.sleep(0.2)
        cpu = cpu_seconds(proc.pid)
        code = stop(proc)
        final = states()
        engine.dispose()
        measure(outcome, emulators, prefix, dues)
        outcome.note = (
            f"daemon CPU {cpu:.1f}s ({cpu / args.count * 1000:.1f} ms/post, start-up included); "
            f"seeded in {seeded:.1f}s; rows {final}; exit {code}"
        )
    return outcome


def naive_child(*command: str) -> list[str]:
    return [sys.executable, str(HERE / "naive_apscheduler.py"), *command]


def run_naive(kind: str, root: Path, emulators: Emulators, args: argparse.Namespace) -> Outcome:
    prefix = f"naive-{kind}"
    outcome = Outcome("APScheduler jobs", kind, args.count)
    with database(kind, root, name="naive") as url:
        if url.startswith("postgresql://"):
            url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        dues = plan_dues(args.count, args.spread, args.naive_lead, args.seed)
        names = list(emulators.channels.values())
        plan = [
            {
                "id": f"post-{i}",
                "url": names[i % len(names)],
                "text": f"{prefix} post {i}",
                "due": d,
            }
            for i, d in enumerate(due.isoformat() for due in dues)
        ]
        plan_path = root / f"naive-{kind}.json"
        plan_path.write_text(json.dumps(plan), encoding="utf-8")
        proc = subprocess.Popen(
            naive_child(
                "run", "--db", url, "--plan", str(plan_path), "--threads", str(args.threads)
            ),
            stdout=subprocess.PIPE,
            stderr=(root / f"naive-{kind}.log").open("ab"),
            env=child_env(),
            text=True,
        )
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline() or "{}")
        wait_for(
            emulators, prefix, args.count, time.monotonic() + args.naive_lead + args.spread + 120
        )
        time.sleep(0.5)
        cpu = cpu_seconds(proc.pid)
        stop(proc)
        report = json.loads(proc.stdout.read() or "{}")
        measure(outcome, emulators, prefix, dues)
        late_setup = ready.get("ready_at", "") > dues[0].isoformat() if dues else False
        outcome.note = (
            f"scheduler CPU {cpu:.1f}s ({cpu / args.count * 1000:.1f} ms/post, storing the "
            f"jobs included); {args.count} jobs stored in {ready.get('seconds', math.nan):.1f}s"
            + (" (AFTER the first due time)" if late_setup else "")
            + f"; missed {report.get('missed', '?')}, errors {report.get('errors', '?')}"
        )
    return outcome


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


def fmt(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="sqlite,postgres", help="sqlite, postgres or both")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--channels", type=int, default=50)
    parser.add_argument("--spread", type=float, default=60.0, help="seconds the due times span")
    parser.add_argument("--latency", type=float, default=0.02, help="emulator answer delay (s)")
    parser.add_argument("--workers", type=int, default=50, help="the daemon's publish threads")
    parser.add_argument(
        "--threads", type=int, default=50, help="threads of the naive executor and capacity client"
    )
    parser.add_argument("--capacity-posts", type=int, default=2000)
    parser.add_argument("--lead", type=float, default=10.0, help="s from seeding to first due")
    parser.add_argument("--naive-lead", type=float, default=25.0, help="same, for the naive way")
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.db.split(",") if k.strip()]

    started = time.monotonic()
    outcomes: list[Outcome] = []
    with (
        TemporaryDirectory(prefix="elshi-bench-") as tmp,
        Emulators(args.channels, args.latency) as emulators,
    ):
        root = Path(tmp)
        cap = capacity(emulators, root, args.threads, args.capacity_posts)
        emulators.forget_requests()
        for kind in kinds:
            (root / kind).mkdir()
            outcomes.append(run_elshi(kind, root / kind, emulators, args))
            emulators.forget_requests()
            if not args.skip_naive:
                outcomes.append(run_naive(kind, root / kind, emulators, args))
                emulators.forget_requests()

    ceiling = cap["posts"] / cap["seconds"]
    print(
        f"{args.count} deliveries due over {args.spread:g}s (offered "
        f"{args.count / max(args.spread, 1e-9):.1f} posts/s) on {args.channels} Mastodon "
        f"emulators answering in {args.latency * 1000:g} ms; channel rate 600/m; daemon workers "
        f"{args.workers}; naive executor threads {args.threads}"
    )
    print(
        f"capacity (Mastodon.py, {args.threads} threads, no scheduler): {cap['posts']} posts in "
        f"{cap['seconds']:.2f}s = {ceiling:.0f} posts/s (client CPU "
        f"{cap['cpu'] / cap['posts'] * 1000:.1f} ms/post; errors {cap['errors']})"
    )
    header = (
        f"{'db':9} {'way':17} {'published':>9} {'dup':>4} "
        f"{'p50 s':>7} {'p99 s':>7} {'max s':>7} {'posts/s':>8}"
    )
    print(header)
    print("-" * len(header))
    for o in outcomes:
        print(
            f"{o.db:9} {o.way:17} {o.published:>5}/{o.count:<4}{o.duplicates:>4} "
            f"{fmt(pct(o.lateness, 0.5)):>7} {fmt(pct(o.lateness, 0.99)):>7} "
            f"{fmt(max(o.lateness, default=math.nan)):>7} {o.throughput:>8.1f}"
        )
    for o in outcomes:
        print(f"  {o.db} {o.way}: {o.note}")
    print(
        "  the naive way gives no exactly-once across processes (two schedulers on one job store "
        "may both run a job; a crash mid-call re-runs or loses it, unreconciled), no per-channel "
        "rate or thread order, no retry policy, no missed/needs-review states, and pickles "
        "arguments into its table."
    )
    ok = True
    parts = []
    for o in outcomes:
        if o.way != "elshi run":
            continue
        p99 = pct(o.lateness, 0.99)
        good = o.published == o.count and o.duplicates == 0 and p99 < 1.0
        ok &= good
        parts.append(f"{o.db} p99 {fmt(p99)}s")
    print(
        f"verdict: elshi {'meets' if ok else 'MISSES'} the aim (all published once, p99 < 1 s): "
        + ", ".join(parts)
        + f"; capacity {ceiling:.0f} posts/s; took {time.monotonic() - started:.0f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
