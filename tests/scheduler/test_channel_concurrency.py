"""One channel's independent posts in flight at once (`scheduler.lanes`, `scheduler.pool`),
through the real dispatcher, Mastodon.py and the Mastodon emulator on SQLite and PostgreSQL:
two posts due together are both at the platform before either is answered, each call with a
connector instance of its own; a reply still waits for its parent's committed result."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from campaigns.schema import Delivery, Post
from connectors.testing.server import Request
from tests.scheduler.conftest import at, mastodon_channel, post_yaml

GENEROUS = 10.0
"""Seconds a held request waits for its partner before giving up (the test then fails: the
client's own timeout, 2 s, comes first)."""


def _before_each_status(emulator: Any, gate: Callable[[Request], None]) -> None:
    """Every ``POST /api/v1/statuses`` passes ``gate`` (in its server thread) first."""
    method, pattern, handler = next(
        route
        for route in emulator._routes
        if route[0] == "POST" and route[1].pattern.startswith("/api/v1/statuses")
    )

    def gated(request: Request) -> Any:
        gate(request)
        return handler(request)

    emulator._routes.insert(0, (method, pattern, gated))


def test_two_posts_of_one_channel_due_together_are_in_flight_at_once(
    rig_factory: Any, mastodon: Any
) -> None:
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon, rate="6000/m")})
    rig.apply([post_yaml(f"p{i}", "2027-03-01 10:00", f"Beitrag {i}") for i in (1, 2, 3)])
    together = threading.Barrier(2, timeout=GENEROUS)
    arrived: list[str] = []
    lock = threading.Lock()

    def gate(request: Request) -> None:
        with lock:
            arrived.append(request.form().get("status", ""))
            first_two = len(arrived) <= 2
        if first_two:
            together.wait()  # answered only once the other one is at the platform too

    _before_each_status(mastodon, gate)
    rig.clock.set(at("2027-03-01T09:00:00"))
    # Claimed within a second (their slots 10 ms apart); the fake clock does not wait for them.
    stats = rig.dispatcher().dispatch(lookahead=1.0)
    assert stats.published == 3
    assert not together.broken
    assert sorted(p["text"] for p in mastodon.posts) == ["Beitrag 1", "Beitrag 2", "Beitrag 3"]
    assert rig.states() == ["published"] * 3
    # The third went out while the first two were held (three calls at once at most): each
    # call in flight had an instance of the connector of its own.
    assert rig.dispatcher().pool.instances("de-mastodon") == 3


def test_a_reply_starts_only_after_its_parents_result_is_committed(
    rig_factory: Any, mastodon: Any
) -> None:
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon, rate="6000/m")})
    rig.apply(
        [
            post_yaml("parent", "2027-03-01 10:00", "Teil 1"),
            post_yaml("other", "2027-03-01 10:00", "Daneben"),
            post_yaml("child", "2027-03-01 10:01", "Teil 2", reply_to="parent"),
        ]
    )
    seen: list[tuple[str, str | None, str | None]] = []

    def gate(request: Request) -> None:
        form = request.form()
        reply_to = form.get("in_reply_to_id")
        if reply_to is None:
            return
        with rig.sessions() as session:  # what another transaction sees at that moment
            state, remote_id = session.execute(
                select(Delivery.state, Delivery.remote_id)
                .join(Post, Delivery.post_id == Post.id)
                .where(Post.key == "parent")
            ).one()
        seen.append((state, remote_id, reply_to))

    _before_each_status(mastodon, gate)
    rig.clock.set(at("2027-03-01T09:01:00"))  # all three due
    assert rig.dispatcher().dispatch(lookahead=1.0).published == 3
    parent_id = next(p["id"] for p in mastodon.posts if p["text"] == "Teil 1")
    assert seen == [("published", parent_id, parent_id)]
