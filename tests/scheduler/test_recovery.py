"""Recovery where the platform cannot confirm (Telegram), where it needs a text search (X),
operator resolution, and local times across daylight-saving changes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.scheduler.conftest import at, mastodon_channel, post_yaml, telegram_channel, x_channel


def test_a_telegram_message_sent_behind_a_server_error_is_not_sent_again(
    rig_factory: Any, telegram: Any
) -> None:
    """The Bot API has no idempotency key and a bot cannot read the channel: a 500 that may
    come after the message went out sends the delivery to review, never to a second send; a 502
    (the gateway's backend never got it) is retried."""
    rig = rig_factory({"de-telegram": telegram_channel(telegram)})
    rig.apply(
        [
            post_yaml("p1", "2027-03-01 10:00", "Сәлеметсіз бе, Берлин!"),
            post_yaml("p2", "2027-03-01 11:00", "Guten Tag, Berlin!"),
        ]
    )
    telegram.inject("server_error_after", path="sendMessage")
    rig.run_until(at("2027-03-01T10:30:00"))
    assert rig.delivery(1).state == "needs_review"

    telegram.inject("unavailable", path="sendMessage")
    rig.run_until(at("2027-03-01T13:00:00"))

    assert [p["text"] for p in telegram.posts] == [
        "Сәлеметсіз бе, Берлин!",
        "Guten Tag, Berlin!",
    ]
    assert [d.state for d in rig.deliveries()] == ["needs_review", "published"]


def test_telegram_ambiguity_goes_to_review_and_an_operator_resolves_it(
    rig_factory: Any, telegram: Any
) -> None:
    from scheduler.operations import resolve

    rig = rig_factory({"de-telegram": telegram_channel(telegram)})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Сәлеметсіз бе, Берлин!")])
    telegram.inject("drop_after", path="sendMessage")
    rig.clock.set(at("2027-03-01T09:00:00"))
    assert rig.run().ambiguous == 1
    assert len(telegram.posts) == 1
    rig.clock.advance(minutes=3)
    assert rig.run().needs_review == 1
    delivery = rig.delivery()
    assert delivery.state == "needs_review"
    assert "elshi deliveries resolve" in rig.audit(delivery.id)[-1][2]
    rig.clock.advance(hours=1)
    rig.run()
    assert len(telegram.posts) == 1  # never re-sent while under review
    url = f"https://t.me/{telegram.username}/{telegram.posts[0]['message_id']}"
    with rig.sessions() as session:
        resolve(
            session,
            [delivery.id],
            actor="user:ops",
            now=rig.clock(),
            published_url=url,
            remote_id=None,
            cancel_instead=False,
            metrics_schedule=[3600],
        )
        session.commit()
    delivery = rig.delivery()
    assert delivery.state == "published" and delivery.remote_url == url
    assert delivery.remote_id == str(telegram.posts[0]["message_id"])


def test_not_published_resolution_sends_again_once(rig_factory: Any, telegram: Any) -> None:
    from scheduler.operations import resolve

    rig = rig_factory({"de-telegram": telegram_channel(telegram)})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Hallo")])
    telegram.inject("drop_before", path="sendMessage")
    rig.clock.set(at("2027-03-01T09:00:00"))
    rig.run()
    rig.clock.advance(minutes=3)
    rig.run()
    assert rig.delivery().state == "needs_review"
    assert telegram.posts == []
    with rig.sessions() as session:
        resolve(
            session,
            [1],
            actor="user:ops",
            now=rig.clock(),
            published_url=None,
            remote_id=None,
            cancel_instead=False,
        )
        session.commit()
    rig.run()
    assert rig.delivery().state == "published"
    assert len(telegram.posts) == 1


def test_x_dropped_answer_is_found_by_searching_the_accounts_posts(
    rig_factory: Any, xemu: Any
) -> None:
    rig = rig_factory({"de-x": x_channel(xemu)})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Kasachstan: Tor nach Eurasien")])
    xemu.inject("drop_after", path="/2/tweets$", method="POST")
    rig.clock.set(at("2027-03-01T09:00:00"))
    rig.run()
    assert rig.delivery().state == "publishing"
    rig.clock.advance(minutes=3)
    rig.run()
    delivery = rig.delivery()
    assert delivery.state == "published"
    assert delivery.remote_id == xemu.posts[0]["id"]
    assert len(xemu.posts) == 1


def test_x_lost_request_is_sent_again_after_the_search_finds_nothing(
    rig_factory: Any, xemu: Any
) -> None:
    rig = rig_factory({"de-x": x_channel(xemu)})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Kasachstan: Tor nach Eurasien")])
    xemu.inject("drop_before", path="/2/tweets$", method="POST")
    rig.clock.set(at("2027-03-01T09:00:00"))
    rig.run()
    assert xemu.posts == []
    rig.clock.advance(minutes=3)
    rig.run_until(rig.clock() + timedelta(minutes=1))
    assert rig.delivery().state == "published"
    assert len(xemu.posts) == 1


def test_a_duplicate_refusal_whose_original_cannot_be_found_goes_to_review_not_round_again(
    rig_factory: Any, xemu: Any
) -> None:
    rig = rig_factory({"de-x": x_channel(xemu)})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Kasachstan: Tor nach Eurasien")])
    xemu.add_post("Kasachstan: Tor nach Eurasien", age=7 * 86_400)  # the same words, long ago
    rig.clock.set(at("2027-03-01T09:00:00"))

    rig.run_until(rig.clock() + timedelta(minutes=30))

    delivery = rig.delivery()
    assert delivery.state == "needs_review"
    assert "duplicate" in rig.audit(delivery.id)[-1][2]
    tweets = [r for r in xemu.requests if r.method == "POST" and r.path == "/2/tweets"]
    assert len(tweets) == 1


def test_x_post_stored_behind_a_5xx_is_found_when_the_next_send_comes_much_later(
    rig_factory: Any, xemu: Any
) -> None:
    # X stores the post but answers 503; the retry then meets a 15-minute rate-limit window, so
    # the send that X refuses as a duplicate comes long after the first claim. The search must
    # still reach back to that first send, not just ten minutes before the latest claim.
    rig = rig_factory({"de-x": x_channel(xemu)})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Kasachstan: Tor nach Eurasien")])
    xemu.inject("unavailable_after", path="/2/tweets$", method="POST")
    xemu.inject("rate_limit", path="/2/tweets$", method="POST", retry_after=15 * 60)
    rig.clock.set(at("2027-03-01T09:00:00"))

    rig.run_until(rig.clock() + timedelta(minutes=40))

    delivery = rig.delivery()
    assert len(xemu.posts) == 1
    assert delivery.state == "published", rig.audit(delivery.id)[-1][2]
    assert delivery.remote_id == xemu.posts[0]["id"]
    tweets = [r for r in xemu.requests if r.method == "POST" and r.path == "/2/tweets"]
    assert len(tweets) == 3  # stored behind a 503, rate limited, refused as a duplicate


def test_mastodon_status_stored_behind_a_5xx_is_not_posted_again_after_the_key_expired(
    rig_factory: Any, mastodon: Any
) -> None:
    # The instance stores the status but answers 503; the retry then meets the account's
    # posting window (reset two hours later), so the next send comes after the instance forgot
    # the Idempotency-Key (one hour): it must find the status instead of posting it twice.
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Kasachstan: Tor nach Eurasien")])
    mastodon.inject("unavailable_after", path="/api/v1/statuses$", method="POST")
    mastodon.inject("rate_limit", path="/api/v1/statuses$", method="POST", retry_after=2 * 3600)
    rig.clock.set(at("2027-03-01T09:00:00"))

    rig.run_until(rig.clock() + timedelta(hours=3))

    delivery = rig.delivery()
    assert len(mastodon.posts) == 1
    assert delivery.state == "published", rig.audit(delivery.id)[-1][2]
    assert delivery.remote_id == str(mastodon.posts[0]["id"])
    sends = [r for r in mastodon.requests if r.method == "POST" and r.path == "/api/v1/statuses"]
    assert len(sends) == 2  # stored behind a 503, rate limited; then found, not sent


@pytest.mark.parametrize(
    ("local", "zone", "utc"),
    [
        ("2027-03-27 10:00", "Europe/Berlin", "2027-03-27T09:00:00"),  # CET, day before DST
        ("2027-03-29 10:00", "Europe/Berlin", "2027-03-29T08:00:00"),  # CEST
        ("2027-10-30 10:00", "Europe/Berlin", "2027-10-30T08:00:00"),  # CEST, day before
        ("2027-11-01 10:00", "Europe/Berlin", "2027-11-01T09:00:00"),  # CET again
        ("2027-03-28 10:00", "Asia/Shanghai", "2027-03-28T02:00:00"),
        ("2027-10-31 10:00", "Asia/Almaty", "2027-10-31T05:00:00"),
    ],
)
def test_local_ten_oclock_goes_out_at_ten_local_across_dst(
    rig_factory: Any, mastodon: Any, local: str, zone: str, utc: str
) -> None:
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    rig.apply([post_yaml("p1", local, "Guten Morgen", timezone=zone)])
    rig.clock.set(at(utc) - timedelta(seconds=1))
    rig.run()
    assert mastodon.posts == []
    rig.clock.set(at(utc))
    rig.run()
    assert len(mastodon.posts) == 1
    assert rig.delivery().published_at == at(utc)


def test_an_operators_bluesky_permalink_is_stored_as_the_posts_at_uri(
    rig_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors.testing.bluesky import BlueskyEmulator
    from elshi.runtime import permalink_reader
    from scheduler.operations import OperationError, resolve

    with BlueskyEmulator() as bluesky:
        monkeypatch.setenv("ELSHI_TEST_BSKY_PASSWORD", bluesky.password)
        channel = {
            "platform": "bluesky",
            "api_base_url": bluesky.url,
            "handle": bluesky.handle,
            "password_env": "ELSHI_TEST_BSKY_PASSWORD",
            "timeout": 2,
            "rate": "60/m",
        }
        rig = rig_factory({"de-bluesky": channel}, max_reconcile_attempts=1)
        rig.apply([post_yaml("p1", "2027-03-01 10:00", "Nauryz in Berlin")])
        bluesky.inject("drop_after", path="createRecord")
        bluesky.inject("server_error", path="getRecord", times=100)  # cannot tell
        rig.clock.set(at("2027-03-01T09:00:00"))
        rig.run()
        rig.clock.advance(minutes=3)
        rig.run()
        assert rig.delivery().state == "needs_review"
        (stored,) = bluesky.live_posts()
        url = f"https://bsky.app/profile/{bluesky.handle}/post/{stored['rkey']}"
        identify = permalink_reader(rig.config, rig.clock)

        with rig.sessions() as session, pytest.raises(OperationError, match="not the permalink"):
            resolve(
                session,
                [1],
                actor="user:ops",
                now=rig.clock(),
                published_url="https://x.com/botschaft/status/1234",
                remote_id=None,
                cancel_instead=False,
                identify=identify,
            )
        assert rig.delivery().state == "needs_review"
        with rig.sessions() as session:
            resolve(
                session,
                [1],
                actor="user:ops",
                now=rig.clock(),
                published_url=url,
                remote_id=None,
                cancel_instead=False,
                identify=identify,
            )
            session.commit()

        assert rig.delivery().remote_id == stored["uri"]  # not the bare record key
