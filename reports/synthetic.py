"""Synthetic campaign histories for tests, benchmarks and the demo: a `Builder` that writes
campaigns, audiences, channels, posts, deliveries, metric snapshots and follower samples with
plain Core inserts (small fixed data sets are written row by row in tests), and
`generate_history`, a seeded generator of a realistic two-campaign history (Germany, China) of any
size, e.g. 10,000 deliveries with 1,000,000 snapshots. Counters a platform does not give are
NULL, as the connectors store them. It writes only through the ``campaigns`` schema and never
calls a platform.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import Connection, insert

from campaigns.bulk import insert_snapshots
from campaigns.schema import (
    Audience,
    AudienceChannel,
    Campaign,
    Channel,
    Delivery,
    FollowerSample,
    Post,
    PostAudience,
)

EPOCH = datetime(2027, 1, 1, tzinfo=UTC)

PLATFORM_COUNTERS: dict[str, frozenset[str]] = {
    "x": frozenset(
        {"impressions", "likes", "reposts", "replies", "quotes", "bookmarks", "link_clicks"}
    ),
    "mastodon": frozenset({"likes", "reposts", "replies", "quotes"}),
    "bluesky": frozenset({"likes", "reposts", "replies", "quotes", "bookmarks"}),
    "telegram": frozenset({"impressions", "likes"}),
    "sandbox": frozenset(
        {"impressions", "likes", "reposts", "replies", "quotes", "bookmarks", "link_clicks"}
    ),
}
"""Which counters each platform gives in the synthetic history (the rest stay NULL)."""


class Builder:
    """Writes rows through one Connection with defaults for everything a test does not care
    about. Ids are returned so tests can refer to them."""

    def __init__(self, conn: Connection, *, now: datetime = EPOCH) -> None:
        self.conn = conn
        self.now = now
        self._keys = 0
        self._run = uuid.uuid4().hex[:8]
        """Keys stay unique across several builders writing to one store."""

    def _key(self, prefix: str) -> str:
        self._keys += 1
        return f"{prefix}-{self._run}-{self._keys}"

    def campaign(
        self,
        id: str = "de-2027",
        *,
        title: str = "Kasachstan – Tor nach Eurasien",
        country: str = "DE",
        narrative: str = "gateway-to-eurasia",
        timezone: str = "Europe/Berlin",
        starts_on: date = date(2027, 1, 1),
        ends_on: date = date(2027, 12, 31),
    ) -> str:
        self.conn.execute(
            insert(Campaign),
            [
                {
                    "id": id,
                    "title": title,
                    "country": country,
                    "narrative": narrative,
                    "narratives": {},
                    "starts_on": starts_on,
                    "ends_on": ends_on,
                    "timezone": timezone,
                    "hashtags": [],
                    "requires_approval": False,
                    "grace_minutes": 15,
                    "definition_hash": "synthetic",
                    "created_at": self.now,
                    "updated_at": self.now,
                }
            ],
        )
        return id

    def channel(self, name: str, platform: str, *, handle: str | None = None) -> int:
        result = self.conn.execute(
            insert(Channel).returning(Channel.id),
            [
                {
                    "name": name,
                    "platform": platform,
                    "handle": handle or f"@{name}",
                    "paused": False,
                    "created_at": self.now,
                    "updated_at": self.now,
                }
            ],
        )
        return int(result.scalar_one())

    def audience(
        self,
        campaign_id: str,
        key: str,
        *,
        channels: Sequence[int],
        name: str | None = None,
        group: str = "general_public",
        languages: Sequence[str] = ("de",),
        timezone: str = "Europe/Berlin",
    ) -> int:
        result = self.conn.execute(
            insert(Audience).returning(Audience.id),
            [
                {
                    "campaign_id": campaign_id,
                    "key": key,
                    "name": name or key,
                    "audience_group": group,
                    "languages": list(languages),
                    "timezone": timezone,
                }
            ],
        )
        audience_id = int(result.scalar_one())
        if channels:
            self.conn.execute(
                insert(AudienceChannel),
                [{"audience_id": audience_id, "channel_id": c} for c in channels],
            )
        return audience_id

    def post(
        self,
        campaign_id: str,
        *,
        audiences: Sequence[int],
        key: str | None = None,
        category: str = "cultural_event",
        narrative: str = "gateway-to-eurasia",
        variant: str | None = None,
        reply_to: int | None = None,
    ) -> int:
        result = self.conn.execute(
            insert(Post).returning(Post.id),
            [
                {
                    "campaign_id": campaign_id,
                    "key": key or self._key("post"),
                    "category": category,
                    "narrative": narrative,
                    "variant": variant,
                    "reply_to_post_id": reply_to,
                    "schedule": {},
                    "content": {},
                    "content_hash": "synthetic",
                    "approval": "approved",
                    "approved_revision": 1,
                    "retired": False,
                    "created_at": self.now,
                    "updated_at": self.now,
                }
            ],
        )
        post_id = int(result.scalar_one())
        if audiences:
            self.conn.execute(
                insert(PostAudience), [{"post_id": post_id, "audience_id": a} for a in audiences]
            )
        return post_id

    def delivery(
        self,
        post_id: int,
        channel_id: int,
        *,
        due_at: datetime,
        state: str = "published",
        published_at: datetime | None = None,
        audience_id: int | None = None,
        language: str = "de",
        timezone: str = "Europe/Berlin",
        text: str = "Synthetic post",
        remote_url: str | None = None,
        remote_deleted_at: datetime | None = None,
        collect_failures: int = 0,
        occurrence: int = 0,
    ) -> int:
        if state == "published" and published_at is None:
            published_at = due_at
        local = due_at.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%dT%H:%M")
        result = self.conn.execute(
            insert(Delivery).returning(Delivery.id),
            [
                _delivery_row(
                    post_id=post_id,
                    channel_id=channel_id,
                    occurrence=occurrence,
                    audience_id=audience_id,
                    language=language,
                    timezone=timezone,
                    local_due=local,
                    due_at=due_at,
                    state=state,
                    text=text,
                    key=self._key("idem"),
                    published_at=published_at,
                    remote_url=remote_url,
                    remote_deleted_at=remote_deleted_at,
                    collect_failures=collect_failures,
                    now=self.now,
                )
            ],
        )
        return int(result.scalar_one())

    def snapshot(
        self,
        delivery_id: int,
        collected_at: datetime,
        *,
        deleted: bool = False,
        simulated: bool = False,
        **counters: int | None,
    ) -> None:
        insert_snapshots(
            self.conn,
            [
                {
                    "delivery_id": delivery_id,
                    "collected_at": collected_at,
                    "deleted": deleted,
                    "simulated": simulated,
                    **counters,
                }
            ],
        )

    def followers(
        self, channel_id: int, sampled_at: datetime, followers: int, *, simulated: bool = False
    ) -> None:
        self.conn.execute(
            insert(FollowerSample),
            [
                {
                    "channel_id": channel_id,
                    "sampled_at": sampled_at,
                    "followers": followers,
                    "simulated": simulated,
                }
            ],
        )


def _delivery_row(
    *,
    post_id: int,
    channel_id: int,
    occurrence: int,
    audience_id: int | None,
    language: str,
    timezone: str,
    local_due: str,
    due_at: datetime,
    state: str,
    text: str,
    key: str,
    published_at: datetime | None,
    remote_url: str | None,
    remote_deleted_at: datetime | None,
    collect_failures: int,
    now: datetime,
) -> dict[str, Any]:
    published = state == "published"
    return {
        "post_id": post_id,
        "channel_id": channel_id,
        "occurrence": occurrence,
        "audience_id": audience_id,
        "language": language,
        "timezone": timezone,
        "local_due": local_due,
        "due_at": due_at,
        "state": state,
        "text": text,
        "media": [],
        "content_hash": "synthetic",
        "idempotency_key": key,
        "attempts": 1 if state in ("published", "failed") else 0,
        "reconcile_attempts": 0,
        "collect_step": 0,
        "collect_failures": collect_failures,
        "remote_id": key if published else None,
        "remote_url": remote_url if published else None,
        "published_at": published_at if published else None,
        "remote_deleted_at": remote_deleted_at,
        "error_kind": "rejected" if state == "failed" else None,
        "last_error": "rejected by the platform" if state == "failed" else None,
        "created_at": now,
        "updated_at": now,
    }


# --- a realistic history ----------------------------------------------------------------------


@dataclass(frozen=True)
class _AudienceSpec:
    key: str
    name: str
    group: str
    language: str
    channels: tuple[str, ...]
    appeal: float
    """Multiplier of the engagement rate (how receptive this audience is)."""


@dataclass(frozen=True)
class _CampaignSpec:
    id: str
    title: str
    country: str
    timezone: str
    narratives: tuple[str, ...]
    audiences: tuple[_AudienceSpec, ...]


CAMPAIGNS: tuple[_CampaignSpec, ...] = (
    _CampaignSpec(
        "de-2027",
        "Kasachstan – Tor nach Eurasien",
        "DE",
        "Europe/Berlin",
        ("gateway-to-eurasia", "abai-heritage", "peace-nonproliferation", "green-tech"),
        (
            _AudienceSpec(
                "public",
                "Allgemeine Öffentlichkeit",
                "general_public",
                "de",
                ("de-x", "de-mastodon", "de-bluesky"),
                1.0,
            ),
            _AudienceSpec(
                "thinktanks", "Think-Tanks & Stiftungen", "think_tanks", "de", ("de-x",), 0.8
            ),
            _AudienceSpec("business", "Wirtschaft", "business", "de", ("de-x", "de-telegram"), 0.9),
            _AudienceSpec("diaspora", "Diaspora", "diaspora", "kk", ("de-telegram",), 1.6),
        ),
    ),
    _CampaignSpec(
        "cn-2027",
        "哈萨克斯坦旅游年 · Year of Kazakhstan Tourism",
        "CN",
        "Asia/Shanghai",
        ("silk-road", "tourism-year", "education-exchange"),
        (
            _AudienceSpec(
                "students",
                "留学生与高校 · Students",
                "students",
                "zh",
                ("cn-x", "cn-telegram"),
                1.2,
            ),
            _AudienceSpec(
                "tourists", "游客 · Tourists", "tourists", "zh", ("cn-x", "cn-mastodon"), 1.0
            ),
            _AudienceSpec("business", "商界 · Business", "business", "zh", ("cn-x",), 0.7),
        ),
    ),
)
CHANNELS: dict[str, tuple[str, int]] = {
    "de-x": ("x", 8500),
    "de-mastodon": ("mastodon", 2400),
    "de-bluesky": ("bluesky", 3100),
    "de-telegram": ("telegram", 1800),
    "cn-x": ("x", 5200),
    "cn-telegram": ("telegram", 9000),
    "cn-mastodon": ("mastodon", 900),
}
CATEGORIES = ("cultural_event", "education", "tourism", "economic_forum", "media_pr")
BASE_RATE = {"x": 0.018, "mastodon": 0.012, "bluesky": 0.015, "telegram": 0.030}
"""Typical engagements per impression (X, Telegram) or per follower (the others)."""
HALF_LIFE_HOURS = {"x": 5.0, "mastodon": 10.0, "bluesky": 7.0, "telegram": 20.0}
NARRATIVE_LIFT = (1.25, 1.0, 0.85, 1.1)
HOUR_LIFT = {h: 0.75 + 0.5 * math.exp(-(((h - 19) / 3.0) ** 2)) for h in range(24)}


@dataclass
class HistorySummary:
    campaigns: int = 0
    audiences: int = 0
    channels: int = 0
    posts: int = 0
    deliveries: int = 0
    published: int = 0
    snapshots: int = 0
    follower_samples: int = 0
    now: datetime = EPOCH
    channel_ids: dict[str, int] = field(default_factory=dict)


def generate_history(
    conn: Connection,
    *,
    deliveries: int = 10_000,
    snapshots: int = 1_000_000,
    seed: int = 0,
    simulated: bool = False,
    start: datetime = EPOCH,
    days: int = 180,
) -> HistorySummary:
    """Write a seeded two-campaign history with about ``deliveries`` deliveries and exactly
    ``snapshots`` metric snapshots (spread over the published ones, at decaying ages, inserted in
    a shuffled order per delivery). ``simulated`` makes every channel a ``sandbox`` channel and
    every snapshot simulated. The returned ``now`` is when the history ends (some posts are then
    younger than 7 days)."""
    rng = np.random.default_rng(seed)
    builder = Builder(conn, now=start)
    summary = HistorySummary(now=start + timedelta(days=days))
    for name, (platform, followers) in CHANNELS.items():
        channel_id = builder.channel(name, "sandbox" if simulated else platform)
        summary.channel_ids[name] = channel_id
        summary.channels += 1
        level = float(followers)
        for day in range(days + 1):
            builder.followers(
                channel_id, start + timedelta(days=day, hours=6), int(level), simulated=simulated
            )
            level *= 1.0 + rng.normal(0.0015, 0.002)
            summary.follower_samples += 1
    audience_ids: dict[tuple[str, str], int] = {}
    for spec in CAMPAIGNS:
        builder.campaign(
            spec.id,
            title=spec.title,
            country=spec.country,
            narrative=spec.narratives[0],
            timezone=spec.timezone,
            starts_on=start.date(),
            ends_on=(start + timedelta(days=days)).date(),
        )
        summary.campaigns += 1
        for aud in spec.audiences:
            audience_ids[spec.id, aud.key] = builder.audience(
                spec.id,
                aud.key,
                channels=[summary.channel_ids[c] for c in aud.channels],
                name=aud.name,
                group=aud.group,
                languages=[aud.language],
                timezone=spec.timezone,
            )
            summary.audiences += 1

    plans = list(_plan_deliveries(rng, deliveries, days))
    slots = sum(p.max_channels for p in plans if p.state == "published")
    snapshot_counts = iter(_spread(rng, snapshots, slots))

    rows: list[dict[str, Any]] = []
    for index, plan in enumerate(plans):
        spec = CAMPAIGNS[plan.campaign]
        auds = [spec.audiences[a] for a in plan.audiences]
        post_id = builder.post(
            spec.id,
            audiences=[audience_ids[spec.id, a.key] for a in auds],
            key=f"p{index:06d}",
            category=CATEGORIES[plan.category],
            narrative=spec.narratives[plan.narrative],
            variant=plan.variant,
        )
        summary.posts += 1
        channels = sorted({c for a in auds for c in a.channels})
        for channel in channels[: plan.max_channels]:
            platform, followers = CHANNELS[channel]
            follow = next(a for a in auds if channel in a.channels)
            zone = ZoneInfo(spec.timezone)
            due = datetime.combine(
                (start + timedelta(days=plan.day)).date(),
                datetime.min.time().replace(hour=plan.hour, minute=plan.minute),
                tzinfo=zone,
            ).astimezone(UTC)
            lateness = timedelta(seconds=float(rng.exponential(40.0)))
            published_at = due + lateness
            deleted_at = (
                published_at + (summary.now - published_at) * 0.9
                if plan.state == "published" and rng.random() < 0.01
                else None
            )
            delivery_id = builder.delivery(
                post_id,
                summary.channel_ids[channel],
                due_at=due,
                state=plan.state,
                published_at=published_at,
                audience_id=audience_ids[spec.id, follow.key],
                language=follow.language,
                timezone=spec.timezone,
                text=f"{spec.narratives[plan.narrative]} · {CATEGORIES[plan.category]} #{index}",
                remote_url=f"https://{platform}.example/{channel}/{index}",
                remote_deleted_at=deleted_at,
                collect_failures=int(rng.random() < 0.03),
            )
            summary.deliveries += 1
            if plan.state != "published":
                continue
            summary.published += 1
            count = next(snapshot_counts)
            lift = (
                follow.appeal
                * NARRATIVE_LIFT[plan.narrative % len(NARRATIVE_LIFT)]
                * HOUR_LIFT[plan.hour]
                * (1.15 if plan.variant == "B" else 1.0)
            )
            rows.extend(
                _curve(
                    rng,
                    delivery_id,
                    platform,
                    followers,
                    lift,
                    published_at,
                    summary.now,
                    count,
                    deleted_at=deleted_at,
                    simulated=simulated,
                )
            )
            if len(rows) >= 50_000:
                summary.snapshots += insert_snapshots(conn, rows)
                rows.clear()
    summary.snapshots += insert_snapshots(conn, rows)
    return summary


@dataclass(frozen=True)
class _Plan:
    campaign: int
    audiences: tuple[int, ...]
    category: int
    narrative: int
    variant: str | None
    day: int
    hour: int
    minute: int
    state: str
    max_channels: int


def _plan_deliveries(rng: np.random.Generator, deliveries: int, days: int) -> Iterator[_Plan]:
    made = 0
    while made < deliveries:
        campaign = int(rng.random() < 0.45)
        spec = CAMPAIGNS[campaign]
        n_aud = 2 if rng.random() < 0.25 else 1
        auds = tuple(sorted(int(a) for a in rng.choice(len(spec.audiences), n_aud, replace=False)))
        reach = len({c for a in auds for c in spec.audiences[a].channels})
        max_channels = min(reach, deliveries - made)
        roll = rng.random()
        state = (
            "published"
            if roll < 0.90
            else "missed"
            if roll < 0.94
            else "failed"
            if roll < 0.97
            else "cancelled"
        )
        yield _Plan(
            campaign=campaign,
            audiences=auds,
            category=int(rng.integers(len(CATEGORIES))),
            narrative=int(rng.integers(len(spec.narratives))),
            variant=("A" if rng.random() < 0.5 else "B") if rng.random() < 0.3 else None,
            day=int(rng.integers(days)),
            hour=int(rng.integers(8, 22)),
            minute=int(rng.choice([0, 15, 30, 45])),
            state=state,
            max_channels=max_channels,
        )
        made += max_channels


def _spread(rng: np.random.Generator, total: int, parts: int) -> list[int]:
    """``total`` split over ``parts`` (every part at least 1 when possible)."""
    if parts == 0:
        return []
    base = np.full(parts, total // parts, dtype=np.int64)
    base[rng.choice(parts, total - int(base.sum()), replace=False)] += 1
    return [int(x) for x in base]


def _curve(
    rng: np.random.Generator,
    delivery_id: int,
    platform: str,
    followers: int,
    lift: float,
    published_at: datetime,
    now: datetime,
    count: int,
    *,
    deleted_at: datetime | None,
    simulated: bool,
) -> list[dict[str, Any]]:
    """``count`` snapshots of one post: counters follow 1 - 2^(-t / half-life), with noise; a
    deleted post's last snapshot is the ``deleted`` one (counters NULL)."""
    max_age = ((deleted_at or now) - published_at).total_seconds()
    if count == 0 or max_age <= 600:
        return []
    ages = np.sort(np.exp(rng.uniform(math.log(600), math.log(max(max_age, 601)), count)))
    counters = PLATFORM_COUNTERS[platform]
    reach = followers * float(rng.lognormal(-0.3, 0.5))
    rate = BASE_RATE[platform] * lift * float(rng.lognormal(0.0, 0.45))
    half = HALF_LIFE_HOURS[platform] * 3600.0 * float(rng.lognormal(0.0, 0.3))
    share = np.array([0.62, 0.16, 0.12, 0.04, 0.06])  # likes, reposts, replies, quotes, bookmarks
    final_eng = reach * rate
    progress = 1.0 - np.power(2.0, -ages / half)
    eng = np.maximum.accumulate(np.floor(final_eng * progress + rng.normal(0, 0.3, count)))
    eng = np.maximum(eng, 0)
    impressions = np.maximum.accumulate(
        np.floor(reach * (1.0 - np.power(2.0, -ages / (half * 0.8))))
    )
    parts = np.floor(np.outer(eng, share))
    clicks = np.floor(impressions * 0.004 * lift)
    out: list[dict[str, Any]] = []
    for i in rng.permutation(count):
        values = {
            "impressions": int(impressions[i]),
            "likes": int(parts[i, 0]),
            "reposts": int(parts[i, 1]),
            "replies": int(parts[i, 2]),
            "quotes": int(parts[i, 3]),
            "bookmarks": int(parts[i, 4]),
            "link_clicks": int(clicks[i]),
        }
        row: dict[str, Any] = {k: (v if k in counters else None) for k, v in values.items()}
        row.update(
            delivery_id=delivery_id,
            collected_at=published_at + timedelta(seconds=float(ages[i])),
            followers=followers,
            simulated=simulated,
        )
        out.append(row)
    if deleted_at is not None:
        last = max(range(count), key=lambda j: out[j]["collected_at"])
        out[last] = {
            "delivery_id": delivery_id,
            "collected_at": deleted_at,
            "deleted": True,
            "simulated": simulated,
        }
    return out
