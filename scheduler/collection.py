"""Metric collection rounds: engagement counters for published deliveries on a decaying
schedule after publication (e.g. 1 h, 6 h, 24 h, 3 d, 7 d, 30 d), in batches per channel, and the
accounts' follower counts once a day.

Each due delivery is first taken with a short lease (its ``next_collect_at`` pushed forward in a
committed transaction, rows locked with SKIP LOCKED) so several daemons do not collect the same
post; results are appended as `MetricSnapshot` rows. A failed collection writes nothing (never
zeros) and is retried later with backoff; a counter the platform does not give stays NULL; a
post deleted on the platform is marked ``remote_deleted_at`` and gets one ``deleted`` snapshot.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from campaigns.bulk import insert_snapshots
from campaigns.schema import Channel, Delivery, FollowerSample
from campaigns.schema import DeliveryState as S
from campaigns.store import immediate
from connectors.base import METRIC_FIELDS, AuthError, ConnectorError, MetricSample
from scheduler.dispatch import pause_channel
from scheduler.policy import Settings, backoff
from scheduler.pool import ConnectorPool, UnknownChannelError

log = logging.getLogger("elshi.collect")

Progress = Callable[[int], None]


@dataclass
class CollectStats:
    due: int = 0
    snapshots: int = 0
    deleted: int = 0
    failed: int = 0
    follower_samples: int = 0
    channels_failed: int = 0


@dataclass(frozen=True)
class _Item:
    delivery_id: int
    remote_id: str
    published_at: datetime
    step: int


def take_due(
    sessions: sessionmaker[Session], settings: Settings, now: datetime, *, limit: int = 5000
) -> dict[str, list[_Item]]:
    """Due deliveries by channel name, leased to this round."""
    lease = timedelta(seconds=max(settings.lease_seconds, 60.0))
    out: dict[str, list[_Item]] = defaultdict(list)
    with immediate(sessions) as session:
        rows = session.execute(
            select(Delivery, Channel.name)
            .join(Channel, Delivery.channel_id == Channel.id)
            .where(
                Delivery.state == S.published.value,
                Delivery.next_collect_at.is_not(None),
                Delivery.next_collect_at <= now,
                Delivery.remote_deleted_at.is_(None),
                Delivery.remote_id.is_not(None),
                Channel.paused.is_(False),
            )
            .order_by(Delivery.next_collect_at)
            .limit(limit)
            .with_for_update(of=Delivery, skip_locked=True)
        ).all()
        for delivery, channel in rows:
            assert delivery.remote_id is not None and delivery.published_at is not None
            out[channel].append(
                _Item(delivery.id, delivery.remote_id, delivery.published_at, delivery.collect_step)
            )
            delivery.next_collect_at = now + lease
        session.commit()
    return out


def _next_due(item: _Item, settings: Settings, step: int) -> datetime | None:
    schedule = settings.metrics_schedule
    return item.published_at + timedelta(seconds=schedule[step]) if step < len(schedule) else None


def _snapshot_row(delivery_id: int, sample: MetricSample) -> dict[str, object]:
    row: dict[str, object] = {name: getattr(sample, name) for name in METRIC_FIELDS}
    row.update(
        delivery_id=delivery_id,
        collected_at=sample.collected_at,
        deleted=sample.deleted,
        simulated=sample.simulated,
    )
    return row


def collect_round(
    sessions: sessionmaker[Session],
    pool: ConnectorPool,
    settings: Settings,
    clock: Callable[[], datetime],
    *,
    progress: Progress | None = None,
    rng: random.Random | None = None,
    channels: Iterable[str] | None = None,
) -> CollectStats:
    """One round: every due delivery, batched per channel; then daily follower samples."""
    rng = rng or random.Random()
    stats = CollectStats()
    due = take_due(sessions, settings, clock())
    if channels is not None:
        wanted = set(channels)
        due = {k: v for k, v in due.items() if k in wanted}
    stats.due = sum(len(v) for v in due.values())
    for channel, items in due.items():
        try:
            with pool.lease(channel) as connector:
                size = max(1, connector.capabilities.metrics_batch_size)
                for start in range(0, len(items), size):
                    batch = items[start : start + size]
                    try:
                        samples = connector.fetch_metrics([i.remote_id for i in batch])
                    except AuthError as exc:
                        # Refused credentials: pause the channel (it then sends nothing, not
                        # even metric reads); its posts are collected after the resume.
                        pause_channel(
                            sessions, channel, f"{exc.kind}: {exc.message}", clock(), settings
                        )
                        stats.channels_failed += 1
                        break
                    except ConnectorError as exc:
                        _record_failure(sessions, settings, batch, exc, clock(), rng, stats)
                        stats.channels_failed += 1
                        log.warning(
                            "metrics for %d posts on %s failed: %s",
                            len(batch),
                            channel,
                            exc.message,
                        )
                        if progress:
                            progress(len(batch))
                        continue
                    _record_samples(sessions, settings, batch, samples, clock(), rng, stats)
                    if progress:
                        progress(len(batch))
        except UnknownChannelError as exc:
            _record_failure(
                sessions, settings, items, ConnectorError(str(exc)), clock(), rng, stats
            )
    sample_followers(sessions, pool, settings, clock, stats=stats)
    return stats


def _record_samples(
    sessions: sessionmaker[Session],
    settings: Settings,
    batch: list[_Item],
    samples: list[MetricSample],
    now: datetime,
    rng: random.Random,
    stats: CollectStats,
) -> None:
    by_remote = {s.remote_id: s for s in samples}
    rows: list[dict[str, object]] = []
    with immediate(sessions) as session:
        for item in batch:
            delivery = session.get(Delivery, item.delivery_id)
            assert delivery is not None
            sample = by_remote.get(item.remote_id)
            if sample is None:
                delivery.collect_failures += 1
                delivery.next_collect_at = now + timedelta(
                    seconds=backoff(delivery.collect_failures, settings, rng=rng)
                )
                stats.failed += 1
                continue
            rows.append(_snapshot_row(item.delivery_id, sample))
            if sample.deleted:
                delivery.remote_deleted_at = sample.collected_at
                delivery.next_collect_at = None
                stats.deleted += 1
                continue
            step = item.step + 1
            # Skip steps already passed (e.g. after downtime): one snapshot now covers them.
            while (nxt := _next_due(item, settings, step)) is not None and nxt <= now:
                step += 1
            delivery.collect_step = step
            delivery.next_collect_at = _next_due(item, settings, step)
        if rows:
            insert_snapshots(session, rows)
            _channel_failing(session, batch[0].delivery_id, now, None)
        session.commit()
    stats.snapshots += len(rows)


def _record_failure(
    sessions: sessionmaker[Session],
    settings: Settings,
    batch: list[_Item],
    error: ConnectorError,
    now: datetime,
    rng: random.Random,
    stats: CollectStats,
) -> None:
    retry_after = getattr(error, "retry_after", None)
    with immediate(sessions) as session:
        for item in batch:
            delivery = session.get(Delivery, item.delivery_id)
            assert delivery is not None
            delivery.collect_failures += 1
            delay = backoff(delivery.collect_failures, settings, retry_after=retry_after, rng=rng)
            delivery.next_collect_at = now + timedelta(seconds=delay)
        if batch:
            _channel_failing(session, batch[0].delivery_id, now, error.message)
        session.commit()
    stats.failed += len(batch)


def _channel_failing(session: Session, delivery_id: int, now: datetime, error: str | None) -> None:
    """Note on the channel since when its collection fails (None: it works again); alerts and
    ``elshi status --check`` report a channel failing for longer than a day."""
    channel = session.scalar(
        select(Channel)
        .join(Delivery, Delivery.channel_id == Channel.id)
        .where(Delivery.id == delivery_id)
    )
    if channel is None:
        return
    if error is None:
        channel.collect_failing_since = None
        channel.collect_error = None
    else:
        channel.collect_failing_since = channel.collect_failing_since or now
        channel.collect_error = error


def sample_followers(
    sessions: sessionmaker[Session],
    pool: ConnectorPool,
    settings: Settings,
    clock: Callable[[], datetime],
    *,
    stats: CollectStats | None = None,
) -> int:
    """A follower count per channel that has deliveries, when the last one is older than
    ``followers_every``."""
    now = clock()
    every = timedelta(seconds=settings.followers_every_seconds)
    with sessions() as session:
        last = dict(
            session.execute(
                select(FollowerSample.channel_id, func.max(FollowerSample.sampled_at)).group_by(
                    FollowerSample.channel_id
                )
            ).all()
        )
        channels = session.execute(
            select(Channel.id, Channel.name).where(
                Channel.paused.is_(False),
                Channel.id.in_(
                    select(Delivery.channel_id).where(Delivery.state == S.published.value)
                ),
            )
        ).all()
    taken = 0
    for channel_id, name in channels:
        previous = last.get(channel_id)
        if previous is not None and now - previous < every:
            continue
        try:
            with pool.lease(name) as connector:
                identity = connector.whoami()
                simulated = connector.capabilities.simulated
        except AuthError as exc:
            pause_channel(sessions, name, f"{exc.kind}: {exc.message}", clock(), settings)
            continue
        except (ConnectorError, UnknownChannelError) as exc:
            log.warning("followers of %s: %s", name, exc)
            continue
        with sessions() as session:
            channel = session.get(Channel, channel_id)
            if channel is not None:
                if identity.handle and channel.handle != identity.handle:
                    channel.handle = identity.handle
                # Where the platform says when the credentials stop working (alerts warn).
                channel.token_expires_at = identity.expires_at
            if identity.followers is not None:
                session.add(
                    FollowerSample(
                        channel_id=channel_id,
                        sampled_at=clock(),
                        followers=identity.followers,
                        simulated=simulated,
                    )
                )
                taken += 1
            session.commit()
    if stats is not None:
        stats.follower_samples += taken
    return taken
