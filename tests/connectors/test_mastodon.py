"""The Mastodon connector against the Mastodon emulator: the real Mastodon.py client speaks HTTP
to a local instance that counts, stores and refuses like Mastodon 4.3 does."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors._limits import DEFAULT_WAIT
from connectors.base import (
    AuthError,
    ChannelSettings,
    OutgoingPost,
    RateLimitedError,
    RejectedError,
    TransientError,
)
from connectors.mastodon import MastodonConnector, html_to_text, normalize_text
from connectors.testing.mastodon import MastodonEmulator
from tests.connectors.files import png

TOKEN = "mastodon-Sekret-7f3a9c2e41b8d6"
TOKEN_ENV = "ELSHI_MASTODON_TOKEN"


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulator(clock: FakeClock) -> Iterator[MastodonEmulator]:
    with MastodonEmulator(token=TOKEN, clock=clock, followers=1234) as emulator:
        yield emulator


def make_connector(
    emulator: MastodonEmulator, clock: FakeClock, **options: Any
) -> MastodonConnector:
    settings = ChannelSettings(
        name="bund-mastodon",
        platform="mastodon",
        api_base_url=emulator.url,
        options={"token_env": TOKEN_ENV, "timeout": 5, **options},
        secrets={"token": TOKEN},
    )
    return MastodonConnector(settings, clock=clock)


@pytest.fixture
def connector(emulator: MastodonEmulator, clock: FakeClock) -> Iterator[MastodonConnector]:
    connector = make_connector(emulator, clock)
    yield connector
    connector.close()


def outgoing(text: str = "Pressemitteilung: Neue Förderrichtlinie.", **kwargs: Any) -> OutgoingPost:
    kwargs.setdefault("idempotency_key", f"delivery-{uuid.uuid4()}")
    return OutgoingPost(text=text, **kwargs)


def requests_to(emulator: MastodonEmulator, method: str, path: str) -> list[Any]:
    return [r for r in emulator.requests if r.method == method and r.path == path]


# --- publishing -------------------------------------------------------------------------------


def test_publish_text_returns_the_status_id_url_and_time(
    connector: MastodonConnector, emulator: MastodonEmulator, clock: FakeClock
) -> None:
    published = connector.publish(outgoing("Heute um 10 Uhr: Pressekonferenz."))

    [stored] = emulator.posts
    assert published.remote_id == stored["id"]
    assert published.url == f"{emulator.url}/@pressestelle/{stored['id']}"
    assert published.published_at == clock.now.replace(microsecond=0)
    assert stored["text"] == "Heute um 10 Uhr: Pressekonferenz."
    assert stored["visibility"] == "public"


def test_proxies_come_from_the_environment_once_not_at_every_request(
    emulator: MastodonEmulator, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    connector = make_connector(emulator, clock)
    try:
        connector.publish(outgoing("Ohne Proxy"))
        session = connector._session
        assert session is not None and not session.trust_env
        assert not session.proxies  # NO_PROXY covers the instance's address
        monkeypatch.setenv("NO_PROXY", "")
        connector.publish(outgoing("Noch ohne Proxy"))  # read when the connector was built
    finally:
        connector.close()
    assert [p["text"] for p in emulator.posts] == ["Ohne Proxy", "Noch ohne Proxy"]

    proxied = make_connector(emulator, clock)
    try:
        proxied._client()
        assert proxied._session is not None
        assert proxied._session.proxies.get("https") == "http://proxy.invalid:3128"
    finally:
        proxied.close()


def test_language_visibility_and_idempotency_key_reach_the_instance(
    emulator: MastodonEmulator, clock: FakeClock
) -> None:
    connector = make_connector(emulator, clock, visibility="unlisted")

    connector.publish(outgoing("Guten Morgen", language="de", idempotency_key="delivery-17"))

    [stored] = emulator.posts
    assert (stored["language"], stored["visibility"]) == ("de", "unlisted")
    [request] = requests_to(emulator, "POST", "/api/v1/statuses")
    assert request.headers["Idempotency-Key"] == "delivery-17"


def test_publish_with_an_image_uploads_it_through_the_v2_endpoint_and_attaches_it(
    connector: MastodonConnector, emulator: MastodonEmulator, tmp_path: Path
) -> None:
    image = png(tmp_path / "grafik.png", 2, 1)

    connector.publish(outgoing("Mit Grafik", media=(image,)))

    [stored] = emulator.posts
    [media_id] = stored["media_ids"]
    assert emulator.media[media_id]["mime"] == "image/png"
    assert emulator.media[media_id]["size"] == image.stat().st_size
    assert len(requests_to(emulator, "POST", "/api/v2/media")) == 1


def test_publish_waits_until_the_instance_has_processed_the_upload(
    clock: FakeClock, tmp_path: Path
) -> None:
    with MastodonEmulator(token=TOKEN, clock=clock, media_processing_polls=2) as emulator:
        connector = make_connector(emulator, clock)

        connector.publish(outgoing("Video folgt", media=(png(tmp_path / "a.png", 2, 1),)))

        [stored] = emulator.posts
        assert len(stored["media_ids"]) == 1
        media_polls = [r for r in emulator.requests if r.path.startswith("/api/v1/media/")]
        assert len(media_polls) == 3


def test_upload_still_processing_after_media_wait_is_transient_and_posts_nothing(
    clock: FakeClock, tmp_path: Path
) -> None:
    with MastodonEmulator(token=TOKEN, clock=clock, media_processing_polls=1000) as emulator:
        connector = make_connector(emulator, clock, media_wait=0.2)

        with pytest.raises(TransientError, match=r"still processing a\.png"):
            connector.publish(outgoing("Video", media=(png(tmp_path / "a.png", 2, 1),)))

        assert emulator.posts == []


def test_more_than_four_media_files_are_rejected_before_any_upload(
    connector: MastodonConnector, emulator: MastodonEmulator, tmp_path: Path
) -> None:
    images = tuple(png(tmp_path / f"{n}.png", 2, 1) for n in range(5))

    with pytest.raises(RejectedError, match="at most 4"):
        connector.publish(outgoing("Fünf Bilder", media=images))

    assert emulator.requests == []


def test_a_file_that_is_not_an_image_is_rejected_with_the_instances_reason(
    connector: MastodonConnector, emulator: MastodonEmulator, tmp_path: Path
) -> None:
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"not an image at all")

    with pytest.raises(RejectedError, match="File content type is invalid"):
        connector.publish(outgoing("Kaputt", media=(fake,)))

    assert emulator.posts == []


def test_a_reply_to_a_deleted_status_is_rejected(
    connector: MastodonConnector, emulator: MastodonEmulator
) -> None:
    first = connector.publish(outgoing("Wird gelöscht"))
    emulator.delete_post(first.remote_id)

    with pytest.raises(RejectedError, match="does not appear to exist"):
        connector.publish(outgoing("Antwort", reply_to=first.remote_id))

    assert len(emulator.live_posts()) == 0


def test_chinese_text_is_counted_per_character_against_the_500_limit(
    connector: MastodonConnector, emulator: MastodonEmulator
) -> None:
    connector.publish(outgoing("气" * 500))

    with pytest.raises(RejectedError, match="Text character limit of 500 exceeded"):
        connector.publish(outgoing("气" * 501))

    assert [len(p["text"]) for p in emulator.posts] == [500]


def test_text_over_the_limit_is_rejected_with_the_instances_reason_and_the_option(
    connector: MastodonConnector, emulator: MastodonEmulator
) -> None:
    with pytest.raises(RejectedError) as caught:
        connector.publish(outgoing("a" * 501))

    assert "Validation failed: Text character limit of 500 exceeded" in str(caught.value)
    assert "max_characters is 500" in str(caught.value)
    assert caught.value.status == 422
    assert emulator.posts == []


def test_an_instance_with_a_higher_limit_accepts_longer_texts(clock: FakeClock) -> None:
    with MastodonEmulator(token=TOKEN, clock=clock, max_characters=1000) as emulator:
        connector = make_connector(emulator, clock, max_characters=1000)

        connector.publish(outgoing("a" * 1000))

        assert len(emulator.posts) == 1


# --- metrics ----------------------------------------------------------------------------------


def test_metrics_for_45_statuses_take_three_batch_requests_and_mark_the_deleted_one(
    connector: MastodonConnector, emulator: MastodonEmulator, clock: FakeClock
) -> None:
    ids = [connector.publish(outgoing(f"Meldung {n}")).remote_id for n in range(45)]
    emulator.set_metrics(ids[0], likes=12, reposts=5, replies=2)
    emulator.delete_post(ids[44])

    samples = connector.fetch_metrics(ids)

    assert [s.remote_id for s in samples] == ids
    batches = requests_to(emulator, "GET", "/api/v1/statuses")
    assert [len(r.query["id[]"]) for r in batches] == [20, 20, 5]
    first = samples[0]
    assert (first.likes, first.reposts, first.replies) == (12, 5, 2)
    assert (first.impressions, first.quotes, first.bookmarks, first.link_clicks) == (
        None,
        None,
        None,
        None,
    )
    assert first.followers == 1234
    assert first.collected_at == clock.now
    assert samples[1].likes == 0
    gone = samples[44]
    assert gone.deleted and gone.likes is None and gone.replies is None


def test_quotes_are_counted_where_the_instance_reports_them(clock: FakeClock) -> None:
    with MastodonEmulator(token=TOKEN, clock=clock, version="4.5.0") as emulator:
        connector = make_connector(emulator, clock)
        remote_id = connector.publish(outgoing("Zitierfähig")).remote_id
        emulator.set_metrics(remote_id, quotes=3)

        [sample] = connector.fetch_metrics([remote_id])

        assert sample.quotes == 3


def test_metrics_read_one_status_at_a_time_on_instances_before_4_3(clock: FakeClock) -> None:
    with MastodonEmulator(token=TOKEN, clock=clock, version="4.2.10") as emulator:
        connector = make_connector(emulator, clock)
        kept = connector.publish(outgoing("Bleibt")).remote_id
        gone = connector.publish(outgoing("Geht")).remote_id
        emulator.set_metrics(kept, likes=7)
        emulator.delete_post(gone)

        samples = connector.fetch_metrics([kept, gone])
        connector.fetch_metrics([kept])

        assert [(s.likes, s.deleted) for s in samples] == [(7, False), (None, True)]
        assert len(requests_to(emulator, "GET", "/api/v1/statuses")) == 1
        assert len(requests_to(emulator, "GET", f"/api/v1/statuses/{kept}")) == 2


def test_metrics_of_no_statuses_ask_nothing(
    connector: MastodonConnector, emulator: MastodonEmulator
) -> None:
    assert connector.fetch_metrics([]) == []
    assert emulator.requests == []


def test_whoami_names_the_account_and_its_followers(
    connector: MastodonConnector, emulator: MastodonEmulator
) -> None:
    identity = connector.whoami()

    host = emulator.url.split("//")[1]
    assert identity.account_id == emulator.account_id
    assert identity.handle == f"@pressestelle@{host}"
    assert identity.display_name == "Pressestelle"
    assert identity.followers == 1234
    assert identity.url == f"{emulator.url}/@pressestelle"


# --- faults -----------------------------------------------------------------------------------


def test_rate_limit_gives_retry_after_from_the_reset_header_on_the_connectors_clock(
    connector: MastodonConnector, emulator: MastodonEmulator
) -> None:
    emulator.inject("rate_limit", retry_after=42)

    with pytest.raises(RateLimitedError) as caught:
        connector.publish(outgoing())

    assert caught.value.retry_after == 42.0
    assert emulator.posts == []


def test_a_server_clock_ahead_of_ours_waits_as_long_as_the_server_meant(
    clock: FakeClock,
) -> None:
    """X-RateLimit-Reset is the instance's instant: measured against the answer's Date header,
    not against our clock (five minutes behind the instance's here)."""
    ahead = FakeClock()
    ahead.advance(300)
    with MastodonEmulator(token=TOKEN, clock=ahead) as emu:
        connector = make_connector(emu, clock)
        emu.inject("rate_limit", retry_after=42)

        with pytest.raises(RateLimitedError) as caught:
            connector.publish(outgoing())

    assert caught.value.retry_after == 42.0


def test_an_epoch_reset_as_gotosocial_sends_it_is_read_as_epoch_seconds(
    connector: MastodonConnector, emulator: MastodonEmulator, clock: FakeClock
) -> None:
    """GoToSocial (a Mastodon-API server the connector can be pointed at) sends
    X-Ratelimit-Reset, in its own letter case, as Unix seconds (docs/api/ratelimiting.md), not
    as Mastodon's ISO 8601 instant."""
    reset = str(int(clock().timestamp()) + 90)
    emulator.inject(
        "rate_limit",
        headers={
            "X-Ratelimit-Limit": "1000",
            "X-Ratelimit-Remaining": "0",
            "X-Ratelimit-Reset": reset,
        },
    )

    with pytest.raises(RateLimitedError) as caught:
        connector.publish(outgoing())

    assert caught.value.retry_after == 90.0
    assert emulator.posts == []


@pytest.mark.parametrize("retry_after", ["120", "Sat, 01 Mar 2025 09:02:00 GMT"])
def test_a_proxys_429_with_only_retry_after_waits_that_long(
    connector: MastodonConnector, emulator: MastodonEmulator, retry_after: str
) -> None:
    """A reverse proxy in front of the instance (nginx limit_req, a CDN) refuses with 429 and a
    Retry-After in seconds or as an HTTP date, without Mastodon's X-RateLimit-* headers."""
    emulator.inject(
        "rate_limit",
        headers={
            "X-RateLimit-Limit": None,
            "X-RateLimit-Remaining": None,
            "X-RateLimit-Reset": None,
            "Retry-After": retry_after,
        },
    )

    with pytest.raises(RateLimitedError) as caught:
        connector.publish(outgoing())

    assert caught.value.retry_after == 120.0


def test_a_429_that_says_nothing_about_when_waits_the_default_not_zero(
    connector: MastodonConnector, emulator: MastodonEmulator
) -> None:
    emulator.inject(
        "rate_limit",
        headers={
            "X-RateLimit-Limit": None,
            "X-RateLimit-Remaining": None,
            "X-RateLimit-Reset": None,
        },
    )

    with pytest.raises(RateLimitedError) as caught:
        connector.publish(outgoing())

    assert caught.value.retry_after == DEFAULT_WAIT


def test_enforced_rate_limit_waits_until_the_window_resets(
    clock: FakeClock,
) -> None:
    with MastodonEmulator(token=TOKEN, clock=clock, rate_limit=2, enforce_rate_limit=True) as emu:
        connector = make_connector(emu, clock)
        connector.whoami()
        connector.whoami()

        with pytest.raises(RateLimitedError) as caught:
            connector.whoami()

        assert caught.value.retry_after == 300.0  # 09:00:00 is the start of a 5-minute window


def test_an_expired_token_is_an_auth_error_saying_where_to_get_a_new_one(
    connector: MastodonConnector, emulator: MastodonEmulator
) -> None:
    emulator.expire_token()

    with pytest.raises(AuthError) as caught:
        connector.whoami()

    message = str(caught.value)
    assert "The access token expired" in message
    assert "Preferences → Development" in message and TOKEN_ENV in message


def test_a_token_without_the_media_scope_is_an_auth_error_naming_the_scopes(
    clock: FakeClock, tmp_path: Path
) -> None:
    with MastodonEmulator(token=TOKEN, clock=clock, scopes=("read", "write:statuses")) as emu:
        connector = make_connector(emu, clock)

        with pytest.raises(AuthError, match="write:media"):
            connector.publish(outgoing("Bild", media=(png(tmp_path / "a.png", 2, 1),)))

        assert emu.posts == []


def test_the_same_key_after_the_idempotency_hour_posts_again(
    connector: MastodonConnector, emulator: MastodonEmulator, clock: FakeClock
) -> None:
    post = outgoing("Nach einer Stunde")
    connector.publish(post)
    clock.advance(3601)

    connector.publish(post)

    assert len(emulator.posts) == 2


def test_a_connection_dropped_on_metrics_is_transient(
    connector: MastodonConnector, emulator: MastodonEmulator
) -> None:
    emulator.inject("drop_before", path="/api/v1/statuses")

    with pytest.raises(TransientError):
        connector.fetch_metrics(["1"])


# --- reconcile --------------------------------------------------------------------------------


RICH_TEXT = (
    "Neu: Förderaufruf https://www.bmbf.de/bmbf/shareddocs/bekanntmachungen/de/2025/03/foo.html"
    " mit @presse@social.bund.de #Forschung & <Bildung>\n\nFragen? Schreiben Sie uns.\nDanke!"
)


def test_reconcile_ignores_the_same_text_posted_before_since(
    connector: MastodonConnector, clock: FakeClock
) -> None:
    connector.publish(outgoing("Wöchentlicher Hinweis"))
    clock.advance(7 * 24 * 3600)
    connector.publish(outgoing("Etwas Neueres"))

    assert connector.reconcile(outgoing("Wöchentlicher Hinweis"), since=clock.now) is None


def test_reconcile_requires_the_same_reply_target(
    connector: MastodonConnector, clock: FakeClock
) -> None:
    since = clock.now
    parent = connector.publish(outgoing("Thread"))
    connector.publish(outgoing("Weiter", reply_to=parent.remote_id))

    assert connector.reconcile(outgoing("Weiter"), since=since) is None
    found = connector.reconcile(outgoing("Weiter", reply_to=parent.remote_id), since=since)
    assert found is not None


def test_reconcile_reads_older_pages(
    connector: MastodonConnector, emulator: MastodonEmulator, clock: FakeClock
) -> None:
    connector.publish(outgoing("Vom Vortag"))
    clock.advance(24 * 3600)
    since = clock.now
    first = connector.publish(outgoing("Die erste Meldung"))
    for n in range(45):
        connector.publish(outgoing(f"Spätere Meldung {n}"))

    assert connector.reconcile(outgoing("Die erste Meldung"), since=since) == first
    assert (
        len(requests_to(emulator, "GET", f"/api/v1/accounts/{emulator.account_id}/statuses")) == 2
    )


def test_html_content_normalizes_back_to_the_posted_text() -> None:
    content = (
        '<p>Hallo <span class="h-card"><a href="https://x/@a" class="u-url mention">@<span>a'
        "</span></a></span> &amp; &lt;Team&gt;</p><p>Zeile<br />zwei</p>"
    )

    assert html_to_text(content) == "Hallo @a & <Team>\n\nZeile\nzwei"
    assert normalize_text("Hallo @a@b.social & <Team>\n\nZeile\nzwei") == normalize_text(
        html_to_text(content)
    )


# --- configuration and secrets ----------------------------------------------------------------


def test_a_channel_without_api_base_url_is_refused_naming_the_setting() -> None:
    settings = ChannelSettings(name="m", platform="mastodon", secrets={"token": TOKEN})

    with pytest.raises(AuthError, match="api_base_url"):
        MastodonConnector(settings)


def test_a_missing_token_names_the_variable_to_export(
    emulator: MastodonEmulator, clock: FakeClock
) -> None:
    settings = ChannelSettings(
        name="m", platform="mastodon", api_base_url=emulator.url, options={"token_env": TOKEN_ENV}
    )

    with pytest.raises(AuthError, match=TOKEN_ENV):
        MastodonConnector(settings, clock=clock).whoami()

    assert emulator.requests == []


def test_an_unknown_visibility_is_refused() -> None:
    settings = ChannelSettings(
        name="m", platform="mastodon", api_base_url="https://x", options={"visibility": "direct"}
    )

    with pytest.raises(AuthError, match="visibility"):
        MastodonConnector(settings)


def test_an_alt_text_past_the_instances_own_limit_is_refused_naming_the_option(
    clock: FakeClock, tmp_path: Path
) -> None:
    """An instance sets its alt text limit (1,500 by default); its refusal names the channel's
    max_alt_characters, which validation used. Nothing is posted."""
    with MastodonEmulator(token=TOKEN, clock=clock, description_limit=2000) as instance:
        image = png(tmp_path / "a.png", 2, 1)
        connector = make_connector(instance, clock, max_alt_characters=2500)
        try:
            connector.publish(outgoing("fits", media=(image,), alt_texts=("a" * 2000,)))
            with pytest.raises(RejectedError) as refused:
                connector.publish(outgoing("over", media=(image,), alt_texts=("a" * 2001,)))
        finally:
            connector.close()
        assert "(channel option max_alt_characters is 2500)" in str(refused.value)
        assert [p["text"] for p in instance.posts] == ["fits"]
