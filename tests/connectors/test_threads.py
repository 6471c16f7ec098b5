"""What only the Threads connector does (the shared behaviour is in test_contract.py): the two
publishing steps, images by URL with alt text, carousels, and the 250-posts-per-day quota."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors._limits import DEFAULT_WAIT
from connectors.base import (
    ChannelSettings,
    MemorySessionStore,
    OutgoingPost,
    RateLimitedError,
    RejectedError,
)
from connectors.testing.threads import DEFAULT_TOKEN, QUOTA, ThreadsEmulator
from connectors.threads import ThreadsConnector
from tests.connectors.cases import NOW
from tests.connectors.files import png

MEDIA = "https://media.kz-embassy.de/elshi"


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadsEmulator]:
    with ThreadsEmulator(clock=NOW.timestamp) as running:
        assert isinstance(running, ThreadsEmulator)
        yield running


@pytest.fixture
def emulator(server: ThreadsEmulator) -> ThreadsEmulator:
    server.settle()
    server.reset()
    return server


def connector_for(emulator: ThreadsEmulator, **options: Any) -> ThreadsConnector:
    return ThreadsConnector(
        ChannelSettings(
            name="de-threads",
            platform="threads",
            api_base_url=emulator.url,
            options={"access_token_env": "ELSHI_THREADS_TOKEN", "media_base_url": MEDIA, **options},
            secrets={"access_token": DEFAULT_TOKEN},
        ),
        clock=lambda: NOW,
    )


@pytest.fixture
def threads(emulator: ThreadsEmulator) -> Iterator[ThreadsConnector]:
    connector = connector_for(emulator)
    yield connector
    connector.close()


def post(text: str, key: str = "d-1", **kwargs: Any) -> OutgoingPost:
    return OutgoingPost(text=text, idempotency_key=key, **kwargs)


def test_a_post_is_a_container_and_then_one_publish_call(
    threads: ThreadsConnector, emulator: ThreadsEmulator
) -> None:
    published = threads.publish(post("Nauryz in Berlin"))

    posts = [r for r in emulator.requests if r.method == "POST"]
    assert [r.path.rsplit("/", 1)[-1] for r in posts] == ["threads", "threads_publish"]
    assert published.url is not None and published.url.startswith(
        f"https://www.threads.net/@{emulator.username}/post/"
    )


def test_an_image_is_sent_as_its_public_url_with_its_alt_text(
    threads: ThreadsConnector, emulator: ThreadsEmulator, tmp_path: Path
) -> None:
    image = png(tmp_path / "jurte.png")

    threads.publish(post("Jurte", media=(image,), alt_texts=("Eine Jurte in der Steppe",)))

    (stored,) = emulator.live_posts()
    assert stored["images"] == [
        {"image_url": f"{MEDIA}/jurte.png", "alt_text": "Eine Jurte in der Steppe"}
    ]


def test_several_images_become_one_carousel(
    threads: ThreadsConnector, emulator: ThreadsEmulator, tmp_path: Path
) -> None:
    images = (png(tmp_path / "a.png"), png(tmp_path / "b.png"), png(tmp_path / "c.png"))

    threads.publish(post("Drei Bilder", media=images))

    (stored,) = emulator.live_posts()
    assert stored["media_type"] == "CAROUSEL"
    assert [i["image_url"] for i in stored["images"]] == [f"{MEDIA}/{p.name}" for p in images]


def test_an_image_without_a_media_base_url_is_refused_before_anything_is_posted(
    emulator: ThreadsEmulator, tmp_path: Path
) -> None:
    connector = connector_for(emulator, media_base_url="")

    with pytest.raises(RejectedError, match="media_base_url"):
        connector.publish(post("Bild", media=(png(tmp_path / "x.png"),)))

    assert emulator.live_posts() == []
    assert emulator.containers == {}


def test_the_daily_quota_waits_until_the_oldest_post_leaves_the_24_hours(
    threads: ThreadsConnector, emulator: ThreadsEmulator
) -> None:
    emulator.add_post("der älteste", age=20 * 3600)
    for n in range(QUOTA - 1):
        emulator.add_post(f"Beitrag {n}", age=3600)

    with pytest.raises(RateLimitedError) as limited:
        threads.publish(post("Einer zu viel"))

    assert limited.value.retry_after == pytest.approx(4 * 3600, abs=1)
    assert emulator.containers == {}  # nothing was prepared for a post that cannot go out


def test_a_rate_limit_waits_for_the_estimate_in_the_usage_header(
    threads: ThreadsConnector, emulator: ThreadsEmulator
) -> None:
    emulator.inject("rate_limit", path="threads_publish", retry_after=150)

    with pytest.raises(RateLimitedError) as limited:
        threads.publish(post("Zu schnell"))

    assert limited.value.retry_after == 180  # Threads estimates in whole minutes


def test_app_level_throttling_without_an_estimate_still_waits(
    threads: ThreadsConnector, emulator: ThreadsEmulator
) -> None:
    """Meta's app-level limit (code 4) comes with X-App-Usage, which has no
    estimated_time_to_regain_access: the channel waits connectors._limits' default, not 0."""
    emulator.inject(
        "rate_limit",
        path="threads_publish",
        headers={
            "X-Business-Use-Case-Usage": None,
            "X-App-Usage": '{"call_count":100,"total_cputime":12,"total_time":30}',
        },
    )

    with pytest.raises(RateLimitedError) as limited:
        threads.publish(post("Zu schnell"))

    assert limited.value.retry_after == DEFAULT_WAIT


def test_a_container_is_published_only_once(emulator: ThreadsEmulator) -> None:
    import httpx

    threads = connector_for(emulator)
    threads.publish(post("Einmal"))
    (container,) = emulator.containers

    again = httpx.post(
        f"{emulator.url}/v1.0/{emulator.user_id}/threads_publish",
        data={"creation_id": container, "access_token": DEFAULT_TOKEN},
    )

    assert again.status_code == 400
    assert len(emulator.live_posts()) == 1


# --- the long-lived token -----------------------------------------------------------------------


class Clock:
    """The test's one time, read by the connectors and the emulator alike."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def epoch(self) -> float:
        return self.now.timestamp()


@pytest.fixture
def clock(emulator: ThreadsEmulator) -> Clock:
    moving = Clock()
    emulator.clock = moving.epoch
    return moving


def process(
    emulator: ThreadsEmulator, clock: Clock, store: MemorySessionStore, token: str = DEFAULT_TOKEN
) -> ThreadsConnector:
    """A new Elshi process on the channel: a connector sharing the session store."""
    return ThreadsConnector(
        ChannelSettings(
            name="de-threads",
            platform="threads",
            api_base_url=emulator.url,
            options={"access_token_env": "ELSHI_THREADS_TOKEN", "media_base_url": MEDIA},
            secrets={"access_token": token},
        ),
        clock=clock,
        sessions=store,
    )


def calls_with(emulator: ThreadsEmulator, path: str) -> list[str]:
    """The tokens sent to ``path``, in order."""
    return [r.arg("access_token") or "" for r in emulator.requests if r.path == path]


def test_the_token_is_refreshed_once_and_every_process_uses_the_new_one(
    emulator: ThreadsEmulator, clock: Clock
) -> None:
    store = MemorySessionStore()

    identity = process(emulator, clock, store).whoami()
    process(emulator, clock, store).publish(post("Nauryz in Berlin"))

    assert emulator.refreshes == 1
    assert identity.expires_at == NOW + timedelta(days=60)  # shown by channels check and status
    (refreshed,) = set(emulator.tokens) - {DEFAULT_TOKEN}
    assert calls_with(emulator, "/v1.0/me")[-1] == refreshed
    assert calls_with(emulator, f"/v1.0/{emulator.user_id}/threads_publish") == [refreshed]


def test_a_week_before_it_expires_the_token_is_refreshed_again_and_posts_keep_going(
    emulator: ThreadsEmulator, clock: Clock
) -> None:
    store = MemorySessionStore()
    process(emulator, clock, store).whoami()

    clock.now = NOW + timedelta(days=52)
    process(emulator, clock, store).whoami()
    assert emulator.refreshes == 1  # eight days left: nothing to do yet

    clock.now = NOW + timedelta(days=54)
    late = process(emulator, clock, store)
    assert late.whoami().expires_at == clock.now + timedelta(days=60)
    clock.now = NOW + timedelta(days=61)  # the first refreshed token has expired by now
    late.publish(post("Tag der Hauptstadt"))

    assert emulator.refreshes == 2
    assert len(emulator.live_posts()) == 1


def test_a_token_younger_than_a_day_is_used_as_it_is_and_refreshed_hours_later(
    emulator: ThreadsEmulator, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.tokens[DEFAULT_TOKEN] = NOW.timestamp() - 3600  # exported an hour ago
    store = MemorySessionStore()

    with caplog.at_level(logging.WARNING, logger="connectors.threads"):
        process(emulator, clock, store).publish(post("Nauryz in Berlin"))
    process(emulator, clock, store).whoami()  # another process does not ask again at once

    assert len(emulator.live_posts()) == 1
    assert calls_with(emulator, "/refresh_access_token") == [DEFAULT_TOKEN]
    assert "not refreshed" in caplog.text and DEFAULT_TOKEN not in caplog.text
    assert process(emulator, clock, store).whoami().expires_at is None

    clock.now = NOW + timedelta(hours=23, minutes=1)
    assert process(emulator, clock, store).whoami().expires_at == clock.now + timedelta(days=60)
    assert emulator.refreshes == 1


def test_a_new_token_in_the_variable_replaces_the_one_refreshed_from_the_old(
    emulator: ThreadsEmulator, clock: Clock
) -> None:
    store = MemorySessionStore()
    process(emulator, clock, store).whoami()
    replacement = "THAAanotherLongLivedTokenTheOfficeExported42"
    emulator.tokens[replacement] = NOW.timestamp() - 2 * 86_400

    process(emulator, clock, store, token=replacement).whoami()

    assert calls_with(emulator, "/refresh_access_token") == [DEFAULT_TOKEN, replacement]
