"""A crash and concurrency harness with real processes: platform emulators in this process,
``elshi run`` daemons as child processes against a real database, SIGKILL at seeded moments
during a burst of deliveries, several daemons at once, emulator faults. Afterwards it checks,
from the emulators' own records, that nothing was published twice, and from the database that
every delivery ended published, failed, missed or needs_review, with a reason.

Used by tests/scheduler/test_crash_harness.py (short) and bench/crashes.py (long).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

FINAL = ("published", "failed", "missed", "needs_review")
MASTODON_ENV = "ELSHI_HARNESS_MASTODON_TOKEN"
X_ENV = {
    "consumer_key_env": "ELSHI_HARNESS_X_CK",
    "consumer_secret_env": "ELSHI_HARNESS_X_CS",
    "access_token_env": "ELSHI_HARNESS_X_AT",
    "access_token_secret_env": "ELSHI_HARNESS_X_ATS",
}


@dataclass
class Report:
    deliveries: int
    states: Counter[str]
    duplicates: list[str]
    unexplained: list[str]
    kills: int
    seconds: float
    lateness: list[float] = field(default_factory=list)
    resent: list[str] = field(default_factory=list)
    """Posts whose publish request reached the platform more than once (a failed first try
    explains that; without faults, it is a send on a stale claim)."""
    recovery: list[float] = field(default_factory=list)
    """For each post a killed daemon held claimed at the kill and that was published after it:
    seconds from the kill (or its due time, if later) to its publication."""

    @property
    def ok(self) -> bool:
        return not self.duplicates and not self.unexplained and set(self.states) <= set(FINAL)

    def summary(self) -> str:
        late = sorted(self.lateness)

        def pct(p: float) -> float:
            return late[min(len(late) - 1, int(p * len(late)))] if late else float("nan")

        return (
            f"{self.deliveries} deliveries, {self.kills} kills, {self.seconds:.1f}s: "
            f"{dict(self.states)}; duplicates {len(self.duplicates)}; unexplained "
            f"{len(self.unexplained)}; sent twice {len(self.resent)}; lateness p50 "
            f"{pct(0.5):.2f}s p99 {pct(0.99):.2f}s; {len(self.recovery)} posts in flight at "
            f"kills"
        )


SOURCE = Path(__file__).resolve().parents[2]
"""This checkout: the daemons run its code (PYTHONPATH), not the copy of Elshi installed in
the environment (an editable install of another checkout, e.g. from a git worktree)."""


class Harness:
    def __init__(
        self,
        root: Path,
        db_url: str,
        *,
        seed: int = 0,
        mastodon_channels: int = 2,
        x_channels: int = 1,
        latency: float = 0.0,
        lease: str = "3s",
        heartbeat: str | None = "1s",
        tree: Path | None = None,
    ) -> None:
        """``tree``: run the daemons from that source tree (PYTHONPATH), e.g. a baseline
        commit's (bench/crashes.py --baseline), else from this checkout (`SOURCE`); ``heartbeat`` None leaves the setting out (a
        tree that does not know it)."""
        from connectors.testing.mastodon import DEFAULT_TOKEN, MastodonEmulator
        from connectors.testing.x import XEmulator

        self.root = root
        self.db_url = db_url
        self.rng = random.Random(seed)
        self.seed = seed
        self.mastodons = [
            MastodonEmulator(latency=latency, username=f"m{i}") for i in range(mastodon_channels)
        ]
        self.xs = [XEmulator(latency=latency, username=f"x{i}") for i in range(x_channels)]
        self.env = dict(os.environ)
        self.env[MASTODON_ENV] = DEFAULT_TOKEN
        x0 = self.xs[0] if self.xs else None
        if x0 is not None:
            self.env[X_ENV["consumer_key_env"]] = x0.consumer_key
            self.env[X_ENV["consumer_secret_env"]] = "harness-consumer-secret"
            self.env[X_ENV["access_token_env"]] = x0.access_token
            self.env[X_ENV["access_token_secret_env"]] = "harness-access-secret"
        self.env.pop("ELSHI_DATABASE_URL", None)
        self.env.pop("ELSHI_CONFIG", None)
        self.env["PYTHONPATH"] = str(tree if tree is not None else SOURCE)
        self.lease = lease
        self.heartbeat = heartbeat
        self.procs: list[subprocess.Popen[bytes]] = []
        self.kills = 0
        self.in_flight: dict[int, datetime] = {}
        """Deliveries a killed daemon held claimed, and when it was killed."""
        self._engine: Any = None

    # --- set-up -----------------------------------------------------------------------------

    def __enter__(self) -> Harness:
        for emulator in [*self.mastodons, *self.xs]:
            emulator.start()
        self.config = self._write_config()
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for emulator in [*self.mastodons, *self.xs]:
            emulator.stop()
        if self._engine is not None:
            self._engine.dispose()

    @property
    def channels(self) -> dict[str, Any]:
        out: dict[str, Any] = {f"m{i}": e for i, e in enumerate(self.mastodons)}
        out.update({f"x{i}": e for i, e in enumerate(self.xs)})
        return out

    def _write_config(self) -> Path:
        lines = [
            "[database]",
            f'url = "{self.db_url}"',
            "",
            "[daemon]",
            f'lease = "{self.lease}"',
            *([f'heartbeat = "{self.heartbeat}"'] if self.heartbeat else []),
            'reconcile_after = "1s"',
            'backoff = "0.5s"',
            'backoff_max = "2s"',
            'poll = "0.5s"',
            'sweep_every = "1s"',
            "max_attempts = 6",
            "workers = 8",
            'late_after = "5s"',
            'max_delay = "10m"',
            'collect_every = "1h"',
            "",
            "[metrics]",
            'schedule = ["30d"]',
            "",
        ]
        for name, emulator in self.channels.items():
            lines += [
                f"[channels.{name}]",
                f'api_base_url = "{emulator.url}"',
                'rate = "6000/m"',
                "timeout = 2",
            ]
            if name.startswith("m"):
                lines += ['platform = "mastodon"', f'token_env = "{MASTODON_ENV}"']
            else:
                lines += ['platform = "x"'] + [f'{k} = "{v}"' for k, v in X_ENV.items()]
            lines.append("")
        path = self.root / "elshi.toml"
        path.write_text("\n".join(lines), encoding="utf-8")
        return path

    @property
    def sessions(self) -> Any:
        from campaigns.store import make_engine, session_factory, upgrade

        if self._engine is None:
            self._engine = make_engine(self.db_url)
            upgrade(self._engine)
        return session_factory(self._engine)

    def seed_burst(self, count: int, *, start: datetime, spread: float) -> None:
        """``count`` approved deliveries over the channels, due between ``start`` and
        ``start + spread`` seconds, each with a unique text."""
        dues = [start + timedelta(seconds=self.rng.uniform(0, spread)) for _ in range(count)]
        platforms = {n: ("mastodon" if n.startswith("m") else "x") for n in self.channels}
        seed_deliveries(self.db_url, platforms, dues, prefix=f"Burst {self.seed}", grace_minutes=30)

    # --- daemons ----------------------------------------------------------------------------

    def start_daemon(self, tag: str) -> subprocess.Popen[bytes]:
        log = (self.root / f"daemon-{tag}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "elshi", "--config", str(self.config), "run"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.root,
        )
        self.procs.append(proc)
        return proc

    def counts(self) -> Counter[str]:
        from campaigns.schema import Delivery

        with self.sessions() as session:
            return Counter(
                dict(
                    session.execute(
                        select(Delivery.state, func.count()).group_by(Delivery.state)
                    ).all()
                )
            )

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL a daemon, noting the claims it held."""
        from campaigns.schema import Delivery

        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed_at = datetime.now(UTC)
        self.kills += 1
        with self.sessions() as session:
            held = session.scalars(
                select(Delivery.id).where(
                    Delivery.state == "publishing",
                    Delivery.lease_owner.like(f"%:{proc.pid}:%"),
                )
            )
            for delivery_id in held:
                self.in_flight.setdefault(delivery_id, killed_at)

    def running(self) -> int:
        """How many daemons have registered and not stopped."""
        from campaigns.schema import Worker

        with self.sessions() as session:
            return int(session.scalar(select(func.count()).where(Worker.stopped_at.is_(None))) or 0)

    def held_by(self, proc: subprocess.Popen[bytes]) -> int:
        """How many claims the daemon running as ``proc`` holds."""
        from campaigns.schema import Delivery

        with self.sessions() as session:
            return int(
                session.scalar(
                    select(func.count()).where(
                        Delivery.state == "publishing",
                        Delivery.lease_owner.like(f"%:{proc.pid}:%"),
                    )
                )
                or 0
            )

    def sends(self) -> Counter[tuple[str, str]]:
        """How often each post's publish request reached its platform, by (channel, text)."""
        import json
        from urllib.parse import parse_qs

        out: Counter[tuple[str, str]] = Counter()
        for name, emulator in self.channels.items():
            for request in list(emulator.requests):
                if request.method != "POST":
                    continue
                if request.path == "/2/tweets":
                    text = (json.loads(request.body or b"{}") or {}).get("text")
                elif request.path == "/api/v1/statuses":
                    text = parse_qs(request.body.decode()).get("status", [None])[-1]
                else:
                    continue
                if text:
                    out[(name, text)] += 1
        return out

    def wait(self, predicate: Any, *, timeout: float, poll: float = 0.05) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(poll)
        return False

    def kill_rounds(self, rounds: int, *, timeout: float) -> None:
        """Start a daemon, SIGKILL it once a seeded number of further deliveries went out
        (or a seeded instant passed), start the next."""
        total = sum(self.counts().values())
        for r in range(rounds):
            proc = self.start_daemon(f"kill{r}")
            published = self.counts().get("published", 0)
            target = published + self.rng.randint(1, max(2, total // (rounds + 1)))
            deadline = self.rng.uniform(0.5, 2.5)
            started = time.monotonic()
            self.wait(
                lambda t=target, s=started, d=deadline: (
                    self.counts().get("published", 0) >= t or time.monotonic() - s > d + 3
                ),
                timeout=30,
            )
            self.kill(proc)

    @contextmanager
    def daemons(self, n: int, tag: str = "final") -> Iterator[list[subprocess.Popen[bytes]]]:
        procs = [self.start_daemon(f"{tag}{i}") for i in range(n)]
        try:
            yield procs
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def settle(self, *, timeout: float) -> bool:
        return self.wait(lambda: set(self.counts()) <= set(FINAL), timeout=timeout, poll=0.2)

    # --- checks -----------------------------------------------------------------------------

    def report(self, started: float) -> Report:
        from campaigns.schema import Channel, Delivery

        posted: dict[str, list[dict[str, Any]]] = {}
        for name, emulator in self.channels.items():
            posted[name] = [p for p in emulator.posts if not p.get("deleted")]
        duplicates = []
        for name, posts in posted.items():
            counts = Counter(p["text"] for p in posts)
            duplicates += [f"{name}: {t!r} x{n}" for t, n in counts.items() if n > 1]
        unexplained = []
        lateness = []
        recovery = []
        resent = [f"{c}: {t!r} sent x{n}" for (c, t), n in self.sends().items() if n > 1]
        with self.sessions() as session:
            rows = session.execute(select(Delivery, Channel.name).join(Channel)).all()
            by_text = {}
            for delivery, channel in rows:
                by_text[(channel, delivery.text)] = delivery
                if delivery.state not in FINAL:
                    unexplained.append(f"delivery {delivery.id} ended {delivery.state}")
                elif (
                    delivery.state != "published"
                    and not delivery.last_error
                    and not (self._has_reason(session, delivery.id))
                ):
                    unexplained.append(f"delivery {delivery.id} {delivery.state} without reason")
                if delivery.state == "published":
                    ids = {str(p["id"]) for p in posted[channel]}
                    if delivery.remote_id not in ids:
                        unexplained.append(
                            f"delivery {delivery.id} published as "
                            f"{delivery.remote_id}, unknown to {channel}"
                        )
                    lateness.append((delivery.published_at - delivery.due_at).total_seconds())
                    killed_at = self.in_flight.get(delivery.id)
                    if killed_at is not None and delivery.published_at > killed_at:
                        since = max(killed_at, delivery.due_at)
                        recovery.append((delivery.published_at - since).total_seconds())
            for channel, posts in posted.items():
                for post in posts:
                    text = post["text"].split(" http")[0]
                    match = by_text.get((channel, text))
                    if match is None:
                        unexplained.append(f"{channel} has a post no delivery explains: {text!r}")
                    elif match.state not in ("published", "needs_review"):
                        unexplained.append(
                            f"{channel} has {text!r} but its delivery is {match.state}"
                        )
            states = Counter(d.state for d, _ in rows)
        return Report(
            len(rows),
            states,
            duplicates,
            unexplained,
            self.kills,
            time.monotonic() - started,
            lateness,
            resent,
            recovery,
        )

    @staticmethod
    def _has_reason(session: Any, delivery_id: int) -> bool:
        from campaigns.schema import AuditEntry

        reason = session.scalar(
            select(AuditEntry.reason)
            .where(AuditEntry.entity == "delivery", AuditEntry.entity_id == str(delivery_id))
            .order_by(AuditEntry.id.desc())
            .limit(1)
        )
        return bool(reason)


_SEED_CHUNK = 20_000


def seed_deliveries(
    db_url: str,
    platforms: Mapping[str, str],
    dues: Sequence[datetime],
    *,
    prefix: str,
    grace_minutes: int = 15,
    awaiting_approval: bool = False,
    campaign: str = "load",
) -> float:
    """Approved deliveries ``{prefix} post {i}`` due at ``dues[i]`` on the ``i % n``-th channel
    of ``platforms`` (name → platform), one post each, bulk-inserted straight into the store
    (schema upgraded first): the load of the crash harness and the benchmarks. With
    ``awaiting_approval`` the posts wait for approval (drafts). Returns the seconds it took."""
    from sqlalchemy import insert

    from campaigns.expansion import idempotency_key
    from campaigns.planning import sync_channels
    from campaigns.schema import Audience, Campaign, Delivery, Post
    from campaigns.store import immediate, make_engine, session_factory, upgrade

    started = time.perf_counter()
    engine = make_engine(db_url)
    upgrade(engine)
    now = datetime.now(UTC)
    names = list(platforms)
    # The write lock at once: daemons may be running (SQLite would refuse a read transaction
    # that turns into a write after one of them committed).
    with immediate(session_factory(engine)) as session:
        channels = sync_channels(session, platforms, now=now, names=set(names))
        session.add(
            Campaign(
                id=campaign,
                title=campaign.title(),
                country="DE",
                narrative="n",
                narratives={},
                starts_on=date(2020, 1, 1),
                ends_on=date(2100, 1, 1),
                timezone="Europe/Berlin",
                hashtags=[],
                requires_approval=awaiting_approval,
                grace_minutes=grace_minutes,
                definition_hash="-",
                created_at=now,
                updated_at=now,
            )
        )
        audience = Audience(
            campaign_id=campaign,
            key="all",
            name="All",
            group="general_public",
            languages=["de"],
            timezone="Europe/Berlin",
        )
        session.add(audience)
        session.flush()
        for chunk in range(0, len(dues), _SEED_CHUNK):  # bounded memory at a million rows
            part = range(chunk, min(chunk + _SEED_CHUNK, len(dues)))
            post_ids = session.scalars(
                insert(Post).returning(Post.id, sort_by_parameter_order=True),
                [
                    {
                        "campaign_id": campaign,
                        "key": f"p{i}",
                        "category": "media_pr",
                        "narrative": "n",
                        "schedule": {},
                        "content": {},
                        "content_hash": "-",
                        "approval": "pending" if awaiting_approval else "approved",
                        "approved_revision": None if awaiting_approval else 1,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in part
                ],
            ).all()
            rows = []
            for i, post_id in zip(part, post_ids, strict=True):
                channel = names[i % len(names)]
                due = dues[i]
                rows.append(
                    {
                        "post_id": post_id,
                        "channel_id": channels[channel].id,
                        "occurrence": 0,
                        "audience_id": audience.id,
                        "language": "de",
                        "timezone": "Europe/Berlin",
                        "local_due": due.strftime("%Y-%m-%dT%H:%M"),
                        "due_at": due,
                        "state": "draft" if awaiting_approval else "approved",
                        "text": f"{prefix} post {i}",
                        "media": [],
                        "content_hash": "-",
                        "idempotency_key": idempotency_key(campaign, f"{prefix}-{i}", channel, 0),
                        "attempts": 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            session.execute(insert(Delivery), rows)
        session.commit()
    engine.dispose()
    return time.perf_counter() - started


def run_scenario(
    root: Path,
    db_url: str,
    *,
    count: int,
    kill_rounds: int,
    daemons: int,
    seed: int,
    chaos: dict[str, float] | None = None,
    spread: float = 4.0,
    timeout: float = 120.0,
) -> Report:
    started = time.monotonic()
    with Harness(root, db_url, seed=seed) as harness:
        if chaos:
            for i, emulator in enumerate(harness.channels.values()):
                path = (
                    "/api/v1/statuses"
                    if "mastodon" in type(emulator).__name__.lower()
                    else "/2/tweets"
                )
                emulator.chaos(chaos, path=path + "$", method="POST", seed=seed * 100 + i)
        harness.seed_burst(count, start=datetime.now(UTC) + timedelta(seconds=1), spread=spread)
        harness.kill_rounds(kill_rounds, timeout=timeout)
        for emulator in harness.channels.values():
            emulator.clear_faults()
        with harness.daemons(daemons):
            harness.settle(timeout=timeout)
        return harness.report(started)


def run_stale_claim_scenario(
    root: Path,
    db_url: str,
    *,
    count: int,
    seed: int,
    latency: float = 0.3,
    send_delay: float = 0.0,
    timeout: float = 120.0,
    tree: Path | None = None,
    heartbeat: str | None = "1s",
) -> Report:
    """A slow platform (every answer takes ``latency`` seconds, each post ``send_delay`` more;
    the client's timeout is longer) behind a backlog that outlives the lease (3 s): one daemon
    claims a burst on one X channel, a second daemon starts beside it. The waiting claims must
    keep their leases and the second daemon must not take them over and send them too: every
    post is sent once (`Report.resent` empty), not merely stored once. ``tree`` and ``heartbeat``: see `Harness`."""
    started = time.monotonic()
    with Harness(
        root,
        db_url,
        seed=seed,
        mastodon_channels=0,
        x_channels=1,
        latency=latency,
        tree=tree,
        heartbeat=heartbeat,
    ) as harness:
        if send_delay:
            for x in harness.xs:
                x.inject("delay", path="/2/tweets$", method="POST", times=10**6, seconds=send_delay)
        harness.seed_burst(count, start=datetime.now(UTC), spread=0.0)
        first = harness.start_daemon("slow")
        harness.wait(lambda: harness.counts().get("publishing", 0) > 0, timeout=60, poll=0.02)
        with harness.daemons(1, "second"):
            harness.settle(timeout=timeout)
        first.send_signal(signal.SIGTERM)
        try:
            first.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a baseline tree's daemon may hang on its way out
            first.kill()
            first.wait()
        return harness.report(started)


def run_recovery_scenario(
    root: Path,
    db_url: str,
    *,
    count: int,
    seed: int,
    daemons: int = 2,
    restart: bool = False,
    spread: float = 4.0,
    timeout: float = 90.0,
) -> tuple[Report, bool]:
    """Daemons whose lease (10 minutes) is far longer than the run: one of them is SIGKILLed
    while it holds claims; the others (or, with ``restart``, the victim started again under
    its name) must finish its claims from its free name lock, its missing heartbeats (1 s) or
    its restart, not from its lease. Returns the report and whether everything was final within ``timeout``."""
    started = time.monotonic()
    with Harness(root, db_url, seed=seed, latency=0.02, lease="10m") as harness:
        procs = [harness.start_daemon(f"d{i}") for i in range(daemons)]
        harness.wait(lambda: harness.running() >= daemons, timeout=120, poll=0.1)
        harness.seed_burst(count, start=datetime.now(UTC) + timedelta(seconds=1), spread=spread)
        harness.wait(lambda: any(harness.held_by(p) >= 3 for p in procs), timeout=60, poll=0.02)
        victim = max(range(daemons), key=lambda i: harness.held_by(procs[i]))
        harness.kill(procs[victim])
        if restart:
            procs[victim] = harness.start_daemon(f"d{victim}-again")
        settled = harness.settle(timeout=timeout)
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)
        return harness.report(started), settled
