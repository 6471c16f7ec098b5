"""The X connector against the X emulator: real tweepy, real HTTP on 127.0.0.1, fixed clocks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from connectors._limits import DEFAULT_WAIT
from connectors.base import (
    AmbiguousError,
    AuthError,
    ChannelSettings,
    RateLimitedError,
    RejectedError,
    TransientError,
)
from connectors.testing.x import XEmulator
from connectors.x import XConnector
from tests.connectors.files import png, post

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
CONSUMER_SECRET = "consumer-secret-kRt93xQpLm20vB7yHs"
ACCESS_TOKEN_SECRET = "access-secret-Zw81nPq3cVb5XeRt7u"

GERMAN = "Grüße aus Köln: Die Straße ist schön, Äpfel und Öl für alle – heute um 12 Uhr."
CHINESE = "外交部新闻发布会今天下午三点举行，欢迎各位记者参加。"
KAZAKH = "Сәлем, Қазақстан! Ғылым, өнер және әдебиет күні: ұлттық үйде һәр адам іздейді. Ү, ң, ө."


@pytest.fixture(scope="module")
def shared_emulator() -> Iterator[XEmulator]:
    with XEmulator(clock=lambda: NOW.timestamp()) as running:
        assert isinstance(running, XEmulator)
        yield running


@pytest.fixture
def emulator(shared_emulator: XEmulator) -> XEmulator:
    shared_emulator.reset()
    return shared_emulator


@pytest.fixture
def own_emulator() -> Iterator[XEmulator]:
    """A server of its own, for a test that stops it or leaves a delayed answer running."""
    with XEmulator(clock=lambda: NOW.timestamp()) as running:
        assert isinstance(running, XEmulator)
        yield running


def settings_for(
    emulator: XEmulator, *, oauth2: bool = False, **options: object
) -> ChannelSettings:
    if oauth2:
        env = {"token_env": "ELSHI_X_TOKEN"}
        secrets = {"token": emulator.bearer_token}
    else:
        env = {
            "consumer_key_env": "ELSHI_X_CONSUMER_KEY",
            "consumer_secret_env": "ELSHI_X_CONSUMER_SECRET",
            "access_token_env": "ELSHI_X_ACCESS_TOKEN",
            "access_token_secret_env": "ELSHI_X_ACCESS_TOKEN_SECRET",
        }
        secrets = {
            "consumer_key": emulator.consumer_key,
            "consumer_secret": CONSUMER_SECRET,
            "access_token": emulator.access_token,
            "access_token_secret": ACCESS_TOKEN_SECRET,
        }
    return ChannelSettings(
        name="press-x",
        platform="x",
        api_base_url=emulator.url,
        options={**env, "timeout": 5, **options},
        secrets=secrets,
    )


@pytest.fixture
def make_connector(emulator: XEmulator) -> Iterator[Callable[..., XConnector]]:
    made: list[XConnector] = []

    def make(**kwargs: Any) -> XConnector:
        connector = XConnector(settings_for(emulator, **kwargs), clock=lambda: NOW)
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()


@pytest.fixture
def x(make_connector: Callable[..., XConnector]) -> XConnector:
    return make_connector()


def paths(emulator: XEmulator) -> list[str]:
    return [f"{r.method} {r.path}" for r in emulator.requests]


# --- publishing ---------------------------------------------------------------------------------


def test_publish_text_stores_exactly_one_post_and_returns_its_permalink(
    x: XConnector, emulator: XEmulator
) -> None:
    published = x.publish(post("Press briefing at noon."))

    assert [p["text"] for p in emulator.posts] == ["Press briefing at noon."]
    assert published.remote_id == emulator.posts[0]["id"]
    assert published.url == f"https://x.com/elshi_press/status/{published.remote_id}"
    assert published.published_at == NOW


def test_publish_with_image_uploads_it_and_attaches_its_media_id(
    x: XConnector, emulator: XEmulator, tmp_path: Path
) -> None:
    image = png(tmp_path / "chart.png")

    x.publish(post("Today's figures.", media=(image,)))

    assert len(emulator.media) == 1
    (media_id,) = emulator.media
    assert emulator.media[media_id]["type"] == "image/png"
    assert emulator.posts[0]["media_ids"] == [media_id]
    assert paths(emulator).count("POST /1.1/media/upload.json") == 1


def test_publish_with_oauth2_token_posts_as_bearer(
    make_connector: Callable[..., XConnector], emulator: XEmulator
) -> None:
    x = make_connector(oauth2=True)

    x.publish(post("Posted with an OAuth 2.0 user token."))

    assert len(emulator.posts) == 1
    tweet_request = next(r for r in emulator.requests if r.path == "/2/tweets")
    assert tweet_request.headers["Authorization"] == f"Bearer {emulator.bearer_token}"


def test_media_with_oauth2_token_is_rejected_before_anything_is_posted(
    make_connector: Callable[..., XConnector], emulator: XEmulator, tmp_path: Path
) -> None:
    x = make_connector(oauth2=True)

    with pytest.raises(RejectedError, match=r"OAuth 1\.0a"):
        x.publish(post("With a picture.", media=(png(tmp_path / "a.png"),)))

    assert emulator.posts == []


def test_unsupported_media_type_is_rejected_without_upload(
    x: XConnector, emulator: XEmulator, tmp_path: Path
) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42")

    with pytest.raises(RejectedError, match=r"clip\.mp4"):
        x.publish(post("A video.", media=(clip,)))

    assert emulator.media == {} and emulator.posts == []


def test_chinese_counts_double_so_140_characters_fit_and_141_do_not(
    x: XConnector, emulator: XEmulator
) -> None:
    at_limit = ("新闻发布会" * 28)[:140]
    x.publish(post(at_limit, "d-1"))

    with pytest.raises(RejectedError, match="too long") as refused:
        x.publish(post(("外交部声明" * 29)[:141], "d-2"))

    assert [p["text"] for p in emulator.posts] == [at_limit]
    assert refused.value.status == 400


# --- metrics ------------------------------------------------------------------------------------


def test_metrics_for_250_posts_take_three_lookups_and_mark_the_deleted_one(
    x: XConnector, emulator: XEmulator
) -> None:
    ids = [emulator.add_post(f"Post number {n}") for n in range(250)]
    emulator.set_metrics(ids[7], impressions=900, likes=31, reposts=4, replies=2, quotes=1)
    emulator.set_metrics(ids[7], bookmarks=6)
    emulator.delete_post(ids[200])

    samples = x.fetch_metrics(ids)

    lookups = [r for r in emulator.requests if r.path == "/2/tweets"]
    assert [len(r.query["ids"][0].split(",")) for r in lookups] == [100, 100, 50]
    assert [s.remote_id for s in samples] == ids
    seventh = samples[7]
    assert (seventh.impressions, seventh.likes, seventh.reposts) == (900, 31, 4)
    assert (seventh.replies, seventh.quotes, seventh.bookmarks) == (2, 1, 6)
    assert seventh.link_clicks is None
    assert samples[200].deleted and samples[200].likes is None
    assert not samples[0].deleted and samples[0].likes == 0


def test_metrics_carry_followers_from_one_users_me_call(x: XConnector, emulator: XEmulator) -> None:
    emulator.followers = 4321
    ids = [emulator.add_post(f"Post {n}") for n in range(3)]

    samples = x.fetch_metrics(ids)

    assert [s.followers for s in samples] == [4321] * 3
    assert paths(emulator).count("GET /2/users/me") == 1
    assert all(s.collected_at == NOW for s in samples)


def test_private_metrics_give_link_clicks_for_posts_with_links(
    make_connector: Callable[..., XConnector], emulator: XEmulator
) -> None:
    x = make_connector(private_metrics=True)
    with_link = emulator.add_post("Read it: https://example.org/statement")
    without_link = emulator.add_post("No link here.")
    emulator.set_metrics(with_link, link_clicks=17, likes=3)

    linked, plain = x.fetch_metrics([with_link, without_link])

    assert (linked.link_clicks, linked.likes) == (17, 3)
    assert plain.link_clicks is None


def test_posts_older_than_30_days_fall_back_to_public_metrics(
    make_connector: Callable[..., XConnector], emulator: XEmulator
) -> None:
    x = make_connector(private_metrics=True)
    old = emulator.add_post("Last month: https://example.org/old", age=31 * 86_400)
    emulator.set_metrics(old, likes=40, link_clicks=5)

    (sample,) = x.fetch_metrics([old])

    assert (sample.likes, sample.link_clicks, sample.deleted) == (40, None, False)
    lookups = [r for r in emulator.requests if r.path == "/2/tweets"]
    assert len(lookups) == 2
    assert "non_public_metrics" not in lookups[1].query["tweet.fields"][0]


def test_whoami_names_the_account_and_its_followers(x: XConnector, emulator: XEmulator) -> None:
    me = x.whoami()

    assert (me.account_id, me.handle, me.display_name) == (
        emulator.user_id,
        "elshi_press",
        "Elshi Press Office",
    )
    assert me.followers == 1000
    assert me.url == "https://x.com/elshi_press"


# --- faults -------------------------------------------------------------------------------------


def test_rate_limit_gives_retry_after_from_the_reset_header(
    x: XConnector, emulator: XEmulator
) -> None:
    emulator.inject("rate_limit", path="/2/tweets", retry_after=42)

    with pytest.raises(RateLimitedError) as limited:
        x.publish(post("Too soon."))

    assert limited.value.retry_after == 42
    assert emulator.posts == []


def test_a_server_clock_ahead_of_ours_waits_as_long_as_x_meant(emulator: XEmulator) -> None:
    """x-rate-limit-reset is epoch seconds of X's clock: measured against the answer's Date
    header, not against ours (five minutes behind X's here)."""
    emulator.clock = lambda: (NOW + timedelta(minutes=5)).timestamp()
    emulator.inject("rate_limit", path="/2/tweets", retry_after=42)
    x = XConnector(settings_for(emulator), clock=lambda: NOW)

    with pytest.raises(RateLimitedError) as limited:
        x.publish(post("Too soon."))

    assert limited.value.retry_after == 42


_NO_LIMIT_HEADERS = {
    "x-rate-limit-limit": None,
    "x-rate-limit-remaining": None,
    "x-rate-limit-reset": None,
}


def test_a_429_without_rate_limit_headers_waits_the_default_not_zero(
    x: XConnector, emulator: XEmulator
) -> None:
    emulator.inject("rate_limit", path="/2/tweets", headers=_NO_LIMIT_HEADERS)

    with pytest.raises(RateLimitedError) as limited:
        x.publish(post("Too soon."))

    assert limited.value.retry_after == DEFAULT_WAIT


def test_a_proxys_retry_after_date_is_honoured(x: XConnector, emulator: XEmulator) -> None:
    """A proxy's 429 with Retry-After as an HTTP date (RFC 9110) and no x-rate-limit-*."""
    until = format_datetime(NOW + timedelta(minutes=3), usegmt=True)
    emulator.inject(
        "rate_limit", path="/2/tweets", headers={**_NO_LIMIT_HEADERS, "Retry-After": until}
    )

    with pytest.raises(RateLimitedError) as limited:
        x.publish(post("Too soon."))

    assert limited.value.retry_after == 180


def test_exhausted_daily_cap_waits_for_the_24_hour_reset(emulator: XEmulator) -> None:
    emulator.user_daily_limit = 1
    x = XConnector(settings_for(emulator), clock=lambda: NOW + timedelta(hours=1))
    emulator.clock = lambda: (NOW + timedelta(hours=1)).timestamp()
    emulator.add_post("seeded, not counted")
    x.publish(post("The day's only post.", "d-1"))

    with pytest.raises(RateLimitedError) as limited:
        x.publish(post("One more.", "d-2"))

    assert limited.value.retry_after == 86_400
    assert len(emulator.posts) == 2


def test_window_limit_is_enforced_with_x_rate_limit_headers(emulator: XEmulator) -> None:
    emulator.limits["GET /2/users/me"] = 2
    x = XConnector(settings_for(emulator), clock=lambda: NOW + timedelta(minutes=5))
    x.whoami()
    x.whoami()
    emulator.clock = lambda: (NOW + timedelta(minutes=5)).timestamp()

    with pytest.raises(RateLimitedError) as limited:
        x.whoami()

    assert limited.value.retry_after == 10 * 60


def test_wrong_consumer_key_is_an_auth_error(emulator: XEmulator) -> None:
    settings = settings_for(emulator)
    wrong = replace(settings, secrets={**settings.secrets, "consumer_key": "not-the-key"})

    with pytest.raises(AuthError):
        XConnector(wrong, clock=lambda: NOW).whoami()


def test_missing_secret_names_the_variable_to_export(emulator: XEmulator) -> None:
    settings = settings_for(emulator)
    partial = replace(settings, secrets={"consumer_key": emulator.consumer_key})

    with pytest.raises(AuthError, match="ELSHI_X_CONSUMER_SECRET"):
        XConnector(partial).whoami()
    assert emulator.requests == []


def test_app_without_write_permission_is_an_auth_error(x: XConnector, emulator: XEmulator) -> None:
    emulator.read_only = True

    with pytest.raises(AuthError, match="oauth1 app permissions"):
        x.publish(post("Read-only app."))


def test_duplicate_text_is_rejected_and_hints_at_reconcile(x: XConnector) -> None:
    x.publish(post("Same words twice.", "d-1"))

    with pytest.raises(RejectedError, match="reconcile") as refused:
        x.publish(post("Same words twice.", "d-2"))

    assert refused.value.status == 403


# --- reconcile ----------------------------------------------------------------------------------


def test_reconcile_finds_a_post_with_an_image(
    x: XConnector, emulator: XEmulator, tmp_path: Path
) -> None:
    outgoing = post("Photo of the day.", media=(png(tmp_path / "p.png"),))
    emulator.inject("drop_after", path="/2/tweets")
    with pytest.raises(AmbiguousError):
        x.publish(outgoing)

    found = x.reconcile(outgoing, since=NOW - timedelta(minutes=5))

    assert found is not None and found.remote_id == emulator.posts[0]["id"]


def test_reconcile_of_an_image_without_text_is_ambiguous_among_such_posts(
    x: XConnector, emulator: XEmulator, tmp_path: Path
) -> None:
    outgoing = post("", media=(png(tmp_path / "only.png"),))
    emulator.inject("drop_after", path="/2/tweets")
    with pytest.raises(AmbiguousError):
        x.publish(outgoing)

    with pytest.raises(AmbiguousError):
        x.reconcile(outgoing, since=NOW - timedelta(minutes=5))


def test_reconcile_ignores_posts_before_since(x: XConnector, emulator: XEmulator) -> None:
    emulator.add_post("Same text.", age=7200)

    assert x.reconcile(post("Same text."), since=NOW - timedelta(hours=1)) is None


def test_reconcile_pages_through_the_timeline(x: XConnector, emulator: XEmulator) -> None:
    target = emulator.add_post("The one we look for.", age=60)
    for n in range(150):
        emulator.add_post(f"Later post {n}")

    found = x.reconcile(post("The one we look for."), since=NOW - timedelta(hours=1))

    assert found is not None and found.remote_id == target
    assert paths(emulator).count(f"GET /2/users/{emulator.user_id}/tweets") == 2


def test_reconcile_is_ambiguous_when_the_timeline_is_too_long_to_search(
    x: XConnector, emulator: XEmulator
) -> None:
    for n in range(501):
        emulator.add_post(f"Busy day {n}")

    with pytest.raises(AmbiguousError):
        x.reconcile(post("Lost in the crowd."), since=NOW - timedelta(hours=1))


# --- transport and secrets ----------------------------------------------------------------------


def test_every_call_goes_to_the_emulator_and_none_to_x(
    x: XConnector, emulator: XEmulator, tmp_path: Path, only_local_network: list[str]
) -> None:
    published = x.publish(post("Local only.", media=(png(tmp_path / "l.png"),)))
    x.fetch_metrics([published.remote_id])
    x.reconcile(post("Local only."), since=NOW - timedelta(minutes=1))

    assert paths(emulator) == [
        "GET /2/users/me",
        "POST /1.1/media/upload.json",
        "POST /2/tweets",
        "GET /2/users/me",
        "GET /2/tweets",
        f"GET /2/users/{emulator.user_id}/tweets",
    ]
    assert set(only_local_network) == {"127.0.0.1"}
    oauth = [r.headers["Authorization"] for r in emulator.requests]
    assert all(h.startswith("OAuth ") and "oauth_signature=" in h for h in oauth)


def test_without_api_base_url_requests_go_to_x_itself(
    emulator: XEmulator, only_local_network: list[str]
) -> None:
    real = replace(settings_for(emulator), api_base_url=None)

    with pytest.raises(TransientError):
        XConnector(real, clock=lambda: NOW).whoami()

    assert only_local_network == ["api.twitter.com"]
    assert emulator.requests == []
    only_local_network.clear()


def _all_secrets(emulator: XEmulator) -> list[str]:
    return [
        emulator.consumer_key,
        CONSUMER_SECRET,
        emulator.access_token,
        ACCESS_TOKEN_SECRET,
        emulator.bearer_token,
    ]
