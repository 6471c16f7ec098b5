"""Platform logins kept in the database: shared by every process, encrypted at rest when
ELSHI_SECRET_KEY is set, never readable without that key."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from campaigns.schema import ConnectorSession
from connectors.base import StoredSession
from scheduler.sessions import DatabaseSessionStore

TOKEN = "eyJhbGciOiJIUzI1NiJ9.access-token-value.signature"
LATER = datetime(2027, 6, 1, tzinfo=UTC)


def payloads(sessions: Any) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(ConnectorSession.payload)))


def test_a_saved_session_is_read_back_by_another_store_on_the_same_database(
    sessions: Any,
) -> None:
    DatabaseSessionStore(sessions, secret="k" * 32).save(
        "bluesky/press", StoredSession({"session": TOKEN}, expires_at=LATER)
    )

    loaded = DatabaseSessionStore(sessions, secret="k" * 32).load("bluesky/press")

    assert loaded == StoredSession({"session": TOKEN}, expires_at=LATER)


def test_with_a_key_the_payload_is_encrypted_at_rest(sessions: Any) -> None:
    DatabaseSessionStore(sessions, secret="correct horse battery").save(
        "wechat/cn", StoredSession({"access_token": TOKEN})
    )

    (stored,) = payloads(sessions)
    assert stored.startswith("fernet:")
    assert "access-token-value" not in stored


def test_without_a_key_the_payload_is_plain_and_the_store_says_so(sessions: Any) -> None:
    store = DatabaseSessionStore(sessions)
    store.save("wechat/cn", StoredSession({"access_token": TOKEN}))

    assert not store.encrypted
    assert payloads(sessions)[0].startswith("plain:")
    assert store.load("wechat/cn") == StoredSession({"access_token": TOKEN})


@pytest.mark.parametrize("reader_key", [None, "another key"], ids=["no-key", "wrong-key"])
def test_an_encrypted_session_without_its_key_counts_as_absent(
    sessions: Any, reader_key: str | None
) -> None:
    DatabaseSessionStore(sessions, secret="the right key").save(
        "linkedin/de", StoredSession({"access_token": TOKEN})
    )

    assert DatabaseSessionStore(sessions, secret=reader_key).load("linkedin/de") is None


def test_saving_again_replaces_and_forget_removes(sessions: Any) -> None:
    store = DatabaseSessionStore(sessions)
    store.save("x", StoredSession({"t": "first-token"}))
    store.save("x", StoredSession({"t": "second-token"}, expires_at=LATER))

    assert store.load("x") == StoredSession({"t": "second-token"}, expires_at=LATER)
    store.forget("x")
    assert store.load("x") is None
    assert payloads(sessions) == []


def test_the_key_comes_from_elshi_secret_key(sessions: Any) -> None:
    store = DatabaseSessionStore.from_environment(sessions, environ={"ELSHI_SECRET_KEY": "s3"})

    assert store.encrypted
    assert not DatabaseSessionStore.from_environment(sessions, environ={}).encrypted


@pytest.fixture
def bluesky() -> Iterator[Any]:
    from connectors.testing.bluesky import BlueskyEmulator

    with BlueskyEmulator() as emulator:
        yield emulator


def test_runs_of_the_cli_share_one_bluesky_login_through_the_database(
    sessions: Any, bluesky: Any
) -> None:
    from connectors.base import ChannelSettings, OutgoingPost
    from connectors.bluesky import BlueskyConnector

    settings = ChannelSettings(
        name="de-bluesky",
        platform="bluesky",
        api_base_url=bluesky.url,
        options={"handle": bluesky.handle, "password_env": "ELSHI_BSKY"},
        secrets={"password": bluesky.password},
    )
    for run in range(3):  # three processes, each with its own store object
        connector = BlueskyConnector(settings, sessions=DatabaseSessionStore(sessions))
        connector.publish(OutgoingPost(text=f"Lauf {run}", idempotency_key=f"k-{run}"))
        connector.close()

    assert bluesky.session_creations == 1
    assert len(bluesky.posts) == 3
