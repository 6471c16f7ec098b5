"""What only the LinkedIn connector does (the shared behaviour is in test_contract.py): the
LinkedIn-Version header and its retirement, little-text escaping, images with alt text, and the
~60-day access token (refreshed, or its expiry reported)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.base import (
    AuthError,
    ChannelSettings,
    MemorySessionStore,
    OutgoingPost,
    RateLimitedError,
)
from connectors.linkedin import LinkedInConnector, little_text, plain_text
from connectors.testing.linkedin import LinkedInEmulator
from tests.connectors.cases import NOW
from tests.connectors.files import png

TEXT = "Kasachstan (Zentralasien) & Deutschland: 30 Jahre #Partnerschaft – mehr unter https://kz-embassy.de/a_b?x=[1]"


@pytest.fixture(scope="module")
def server() -> Iterator[LinkedInEmulator]:
    with LinkedInEmulator(clock=NOW.timestamp) as running:
        assert isinstance(running, LinkedInEmulator)
        yield running


@pytest.fixture
def emulator(server: LinkedInEmulator) -> LinkedInEmulator:
    server.settle()
    server.reset()
    return server


def settings(
    emulator: LinkedInEmulator, *, refresh: bool = True, client: bool = True, **options: Any
) -> ChannelSettings:
    secrets = {"access_token": emulator.access_token}
    envs = {"access_token_env": "ELSHI_LI_TOKEN"}
    if client:
        secrets |= {"client_id": emulator.client_id, "client_secret": emulator.client_secret}
        envs |= {"client_id_env": "ELSHI_LI_ID", "client_secret_env": "ELSHI_LI_SECRET"}
    if refresh:
        secrets["refresh_token"] = emulator.refresh_token
        envs["refresh_token_env"] = "ELSHI_LI_REFRESH"
    return ChannelSettings(
        name="de-linkedin",
        platform="linkedin",
        api_base_url=emulator.url,
        options={"organization": str(emulator.organization_id), **envs, **options},
        secrets=secrets,
    )


def connect(
    emulator: LinkedInEmulator, store: MemorySessionStore | None = None, **kwargs: Any
) -> LinkedInConnector:
    return LinkedInConnector(settings(emulator, **kwargs), clock=lambda: NOW, sessions=store)


def post(text: str, key: str = "d-1", **kwargs: Any) -> OutgoingPost:
    return OutgoingPost(text=text, idempotency_key=key, **kwargs)


def test_reserved_characters_are_escaped_and_hashtags_become_templates() -> None:
    commentary = little_text(TEXT)

    assert "\\(Zentralasien\\)" in commentary
    assert "{hashtag|\\#|Partnerschaft}" in commentary
    assert plain_text(commentary) == TEXT


def test_a_text_full_of_reserved_characters_is_published_as_written(
    emulator: LinkedInEmulator,
) -> None:
    published = connect(emulator).publish(post(TEXT))

    (stored,) = emulator.stored()
    assert stored.text == TEXT
    assert published.url == f"https://www.linkedin.com/feed/update/{published.remote_id}/"


def test_every_call_names_the_configured_linkedin_version(emulator: LinkedInEmulator) -> None:
    connect(emulator, linkedin_version="202609").publish(post("Version"))

    rest = [r for r in emulator.requests if r.path.startswith("/rest/")]
    assert rest and {r.headers.get("LinkedIn-Version") for r in rest} == {"202609"}


def test_a_retired_version_is_an_auth_error_naming_the_setting(emulator: LinkedInEmulator) -> None:
    with pytest.raises(AuthError, match='linkedin_version = "YYYYMM"') as refused:
        connect(emulator, linkedin_version="202401").publish(post("Zu alt"))

    assert "202401" in refused.value.message
    assert emulator.stored() == []


def test_images_go_through_the_images_api_with_their_alt_text(
    emulator: LinkedInEmulator, tmp_path: Path
) -> None:
    images = (png(tmp_path / "a.png"), png(tmp_path / "b.png"))

    connect(emulator).publish(
        post("Zwei Bilder", media=images, alt_texts=("Die Steppe", "Astana bei Nacht"))
    )

    (stored,) = emulator.stored()
    assert stored.alt == ("Die Steppe", "Astana bei Nacht")
    assert all(image["uploaded"] for image in emulator.images.values())


def test_the_token_is_refreshed_a_week_before_it_expires_and_shared(
    emulator: LinkedInEmulator,
) -> None:
    emulator.access_token, _ = emulator.issue(access_lifetime=3 * 86_400)
    store = MemorySessionStore()
    first = connect(emulator, store)
    first.whoami()  # reads the expiry: three days left

    first.publish(post("Nach der Erneuerung"))
    second = connect(emulator, store)
    second.publish(post("Anderer Prozess", "d-2"))

    assert emulator.refreshes == 1
    saved = store.load(second.session_key)
    assert saved is not None and saved.data["access_token"] != emulator.access_token
    assert len(emulator.stored()) == 2


def test_without_a_refresh_token_the_expiry_date_is_reported(emulator: LinkedInEmulator) -> None:
    identity = connect(emulator, refresh=False).whoami()

    assert identity.expires_at == NOW + timedelta(days=60)


def test_without_client_credentials_the_expiry_is_unknown(emulator: LinkedInEmulator) -> None:
    identity = connect(emulator, refresh=False, client=False).whoami()

    assert identity.expires_at is None


def test_an_expired_token_without_refresh_says_when_and_how_to_renew(
    emulator: LinkedInEmulator,
) -> None:
    connector = connect(emulator, refresh=False)
    connector.whoami()
    emulator.expire_token()

    with pytest.raises(AuthError, match="refresh_token_env") as refused:
        connector.publish(post("Abgelaufen"))

    assert "expired on" in refused.value.message


def test_an_expired_token_with_refresh_is_renewed_and_the_post_goes_out_on_the_next_try(
    emulator: LinkedInEmulator,
) -> None:
    connector = connect(emulator)
    connector.whoami()  # a first look refreshes once to learn when the refresh token ends
    before = emulator.refreshes
    emulator.expire_token()

    with pytest.raises(AuthError):
        connector.publish(post("Erster Versuch"))
    connector.publish(post("Zweiter Versuch"))

    assert emulator.refreshes == before + 1
    assert [p.text for p in emulator.stored()] == ["Zweiter Versuch"]


def test_a_proxys_retry_after_date_is_honoured_before_the_midnight_reset(
    emulator: LinkedInEmulator,
) -> None:
    """LinkedIn's own 429 has no Retry-After (the day resets at midnight UTC); a proxy's
    429 may carry one as an HTTP date (RFC 9110)."""
    until = format_datetime(NOW + timedelta(minutes=2), usegmt=True)
    emulator.inject("rate_limit", path="/rest/posts", headers={"Retry-After": until})

    with pytest.raises(RateLimitedError) as limited:
        connect(emulator).publish(post("Zu früh."))

    assert limited.value.retry_after == 120


def test_statistics_are_read_per_share(emulator: LinkedInEmulator) -> None:
    connector = connect(emulator)
    published = connector.publish(post("Zahlen"))
    emulator.set_metrics(
        published.remote_id, impressions=900, likes=40, replies=3, reposts=5, link_clicks=12
    )

    (sample,) = connector.fetch_metrics([published.remote_id])

    assert (
        sample.impressions,
        sample.likes,
        sample.replies,
        sample.reposts,
        sample.link_clicks,
    ) == (900, 40, 3, 5, 12)
    assert sample.quotes is None and sample.bookmarks is None
    assert sample.followers == emulator.followers


def test_with_a_refresh_token_the_channel_lasts_as_long_as_the_refresh_token(
    emulator: LinkedInEmulator,
) -> None:
    """The access token is renewed before it expires, so only the refresh token's end (a year)
    is a date anyone must act by: no token warning every 60 days."""
    store = MemorySessionStore()

    first = connect(emulator, store).whoami()
    again = connect(emulator, store).whoami()  # another process: no second refresh

    assert first.expires_at == again.expires_at == NOW + timedelta(days=365)
    assert emulator.refreshes == 1
