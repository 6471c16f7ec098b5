"""Metric collection rounds against the Mastodon emulator: the decaying schedule, append-only
snapshots, NULL for what Mastodon does not give, deleted posts, failures that write nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from tests.scheduler.conftest import at, mastodon_channel, post_yaml


def snapshots(rig: Any) -> list[Any]:
    from campaigns.schema import MetricSnapshot

    with rig.sessions() as session:
        return list(session.scalars(select(MetricSnapshot).order_by(MetricSnapshot.id)))


def published_rig(rig_factory: Any, mastodon: Any, **overrides: Any) -> Any:
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)}, **overrides)
    rig.apply(
        [post_yaml("p1", "2027-03-01 10:00", "Eins"), post_yaml("p2", "2027-03-01 10:00", "Zwei")]
    )
    rig.clock.set(at("2027-03-01T09:00:00"))
    rig.run_until(at("2027-03-01T09:01:00"))
    assert rig.states() == ["published", "published"]
    return rig


def test_metrics_follow_the_decaying_schedule(rig_factory: Any, mastodon: Any) -> None:
    rig = published_rig(rig_factory, mastodon, metrics_schedule=(3600, 6 * 3600, 86400))
    dispatcher = rig.dispatcher()
    assert dispatcher.collect().snapshots == 0  # nothing due before 1 h
    first = rig.deliveries()[0]
    mastodon.set_metrics(first.remote_id, likes=4, reposts=1, replies=0)
    last = max(d.published_at for d in rig.deliveries())
    rig.clock.set(last + timedelta(hours=1))
    stats = dispatcher.collect()
    assert stats.snapshots == 2
    rows = snapshots(rig)
    mine = next(r for r in rows if r.delivery_id == first.id)
    assert (mine.likes, mine.reposts, mine.replies) == (4, 1, 0)
    assert mine.impressions is None and mine.bookmarks is None and mine.link_clicks is None
    assert rig.delivery(first.id).next_collect_at == first.published_at + timedelta(hours=6)
    mastodon.set_metrics(first.remote_id, likes=9)
    rig.clock.set(last + timedelta(hours=6))
    dispatcher.collect()
    history = [r.likes for r in snapshots(rig) if r.delivery_id == first.id]
    assert history == [4, 9]  # appended, never overwritten
    rig.clock.set(first.published_at + timedelta(days=2))
    dispatcher.collect()
    assert rig.delivery(first.id).next_collect_at is None  # schedule done
    assert len([r for r in snapshots(rig) if r.delivery_id == first.id]) == 3


def test_failed_collection_writes_nothing_and_retries_later(
    rig_factory: Any, mastodon: Any
) -> None:
    rig = published_rig(rig_factory, mastodon, metrics_schedule=(3600,))
    rig.clock.advance(hours=1, minutes=1)
    mastodon.inject("unavailable", path="/api/v1/statuses$", method="GET", times=5)
    mastodon.inject("unavailable", path="/api/v1/statuses/", method="GET", times=5)
    stats = rig.dispatcher().collect()
    assert stats.snapshots == 0 and stats.failed == 2
    assert snapshots(rig) == []
    delivery = rig.deliveries()[0]
    assert delivery.collect_failures == 1 and delivery.next_collect_at > rig.clock()
    mastodon.clear_faults()
    rig.clock.set(max(d.next_collect_at for d in rig.deliveries()))
    assert rig.dispatcher().collect().snapshots == 2


def test_deleted_remote_post_is_marked_not_counted_as_zero(rig_factory: Any, mastodon: Any) -> None:
    rig = published_rig(rig_factory, mastodon, metrics_schedule=(3600, 7200))
    first, second = rig.deliveries()
    mastodon.delete_post(first.remote_id)
    rig.clock.advance(hours=1, minutes=1)
    rig.dispatcher().collect()
    gone = rig.delivery(first.id)
    assert gone.remote_deleted_at is not None and gone.next_collect_at is None
    (row,) = [r for r in snapshots(rig) if r.delivery_id == first.id]
    assert row.deleted and row.likes is None
    rig.clock.advance(hours=2)
    rig.dispatcher().collect()
    assert len([r for r in snapshots(rig) if r.delivery_id == first.id]) == 1
    assert len([r for r in snapshots(rig) if r.delivery_id == second.id]) == 2


def test_followers_are_sampled_once_a_day(rig_factory: Any, mastodon: Any) -> None:
    from campaigns.schema import FollowerSample

    mastodon.followers = 321
    rig = published_rig(rig_factory, mastodon, metrics_schedule=(3600,))
    dispatcher = rig.dispatcher()
    dispatcher.collect()
    dispatcher.collect()
    rig.clock.advance(days=1)
    mastodon.followers = 330
    dispatcher.collect()
    with rig.sessions() as session:
        samples = [s.followers for s in session.scalars(select(FollowerSample))]
    assert samples == [321, 330]


def test_downtime_takes_one_snapshot_for_the_steps_it_slept_through(
    rig_factory: Any, mastodon: Any
) -> None:
    rig = published_rig(rig_factory, mastodon, metrics_schedule=(3600, 7200, 86400))
    rig.clock.advance(hours=5)
    rig.dispatcher().collect()
    first = rig.deliveries()[0]
    assert len([r for r in snapshots(rig) if r.delivery_id == first.id]) == 1
    assert first.next_collect_at == first.published_at + timedelta(days=1)
