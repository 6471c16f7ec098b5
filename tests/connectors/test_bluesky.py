"""The Bluesky connector against the Bluesky emulator: real atproto and httpx, real HTTP on
127.0.0.1, fixed clocks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from atproto_client.models.string_formats import TID_RE

from connectors.base import (
    AuthError,
    ChannelSettings,
    MemorySessionStore,
    RateLimitedError,
    RejectedError,
    TransientError,
)
from connectors.bluesky import BlueskyConnector, record_key
from connectors.testing.bluesky import BlueskyEmulator, RateLimit
from tests.connectors.files import jpeg, png, png_bytes, post

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SINCE = NOW - timedelta(hours=1)

GERMAN = "Grüße aus Köln: Die Straße ist schön, Äpfel und Öl für alle – heute um 12 Uhr."
CHINESE = "外交部新闻发布会今天下午三点举行，欢迎各位记者参加。"
KAZAKH = "Сәлем, Қазақстан! Ғылым, өнер және әдебиет күні: ұлттық үйде һәр адам іздейді. Ү, ң, ө."
EMOJI = "Willkommen 🇩🇪🇰🇿🇨🇳 👩🏽‍💻 🎉"


@pytest.fixture(scope="module")
def shared_emulator() -> Iterator[BlueskyEmulator]:
    with BlueskyEmulator(clock=lambda: NOW.timestamp()) as running:
        assert isinstance(running, BlueskyEmulator)
        yield running


@pytest.fixture
def emulator(shared_emulator: BlueskyEmulator) -> BlueskyEmulator:
    shared_emulator.reset()
    return shared_emulator


@pytest.fixture
def own_emulator() -> Iterator[BlueskyEmulator]:
    """A server of its own, for a test that stops it or leaves a delayed answer running."""
    with BlueskyEmulator(clock=lambda: NOW.timestamp()) as running:
        assert isinstance(running, BlueskyEmulator)
        yield running


def settings_for(emulator: BlueskyEmulator, **options: object) -> ChannelSettings:
    return ChannelSettings(
        name="press-bsky",
        platform="bluesky",
        api_base_url=emulator.url,
        options={"handle": emulator.handle, "password_env": "ELSHI_BSKY_PASSWORD", **options},
        secrets={"password": emulator.password or ""},
    )


@pytest.fixture
def make_connector(emulator: BlueskyEmulator) -> Iterator[Callable[..., BlueskyConnector]]:
    made: list[BlueskyConnector] = []

    def make(**options: object) -> BlueskyConnector:
        connector = BlueskyConnector(settings_for(emulator, **options), clock=lambda: NOW)
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()


@pytest.fixture
def bsky(make_connector: Callable[..., BlueskyConnector]) -> BlueskyConnector:
    return make_connector()


def calls(emulator: BlueskyEmulator, nsid: str) -> list[Any]:
    return [r for r in emulator.requests if r.path == f"/xrpc/{nsid}"]


def uri_of(emulator: BlueskyEmulator, key: str) -> str:
    return f"at://{emulator.did}/app.bsky.feed.post/{record_key(key)}"


def xrpc(
    emulator: BlueskyEmulator,
    method: str,
    nsid: str,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """A raw XRPC request, to look at what the emulator answers on the wire."""
    sent = {**({"authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
    return httpx.request(method, f"{emulator.url}/xrpc/{nsid}", headers=sent, timeout=10, **kwargs)


def login(emulator: BlueskyEmulator) -> str:
    body = {"identifier": emulator.handle, "password": emulator.password}
    answer = xrpc(emulator, "POST", "com.atproto.server.createSession", json=body)
    return str(answer.json()["accessJwt"])


def facet_texts(stored: dict[str, Any]) -> list[tuple[str, str]]:
    """Each facet's kind and the text its UTF-8 byte range covers."""
    raw = stored["text"].encode("utf-8")
    out = []
    for facet in stored["facets"]:
        index = facet["index"]
        kind = facet["features"][0]["$type"].rsplit("#", 1)[1]
        out.append((kind, raw[index["byteStart"] : index["byteEnd"]].decode("utf-8")))
    return out


# --- publishing ---------------------------------------------------------------------------------


def test_publish_text_stores_exactly_one_post_under_the_delivery_record_key(
    bsky: BlueskyConnector, emulator: BlueskyEmulator
) -> None:
    published = bsky.publish(post("Pressebriefing um zwölf.", language="de"))

    (stored,) = emulator.posts
    assert stored["text"] == "Pressebriefing um zwölf."
    assert stored["rkey"] == record_key("delivery-1")
    assert stored["langs"] == ["de"]
    assert stored["record"]["createdAt"] == "2025-03-01T12:00:00.000Z"
    assert published.remote_id == stored["uri"] == uri_of(emulator, "delivery-1")
    assert published.url == f"https://bsky.app/profile/{emulator.handle}/post/{stored['rkey']}"
    assert published.published_at == NOW


def test_record_key_is_a_valid_tid_that_only_the_idempotency_key_decides() -> None:
    keys = [f"delivery-{n}" for n in range(200)]

    tids = [record_key(key) for key in keys]

    assert all(TID_RE.fullmatch(tid) for tid in tids)
    assert len(set(tids)) == len(keys)
    assert tids == [record_key(key) for key in keys]
    assert all(datetime(2023, 1, 1, tzinfo=UTC) <= tid_time(tid) < NOW for tid in tids)


def tid_time(tid: str) -> datetime:
    value = 0
    for char in tid:
        value = value * 32 + "234567abcdefghijklmnopqrstuvwxyz".index(char)
    return datetime.fromtimestamp((value >> 10) / 1_000_000, UTC)


def test_publish_with_images_uploads_each_and_embeds_them_with_their_alt_texts(
    bsky: BlueskyConnector, emulator: BlueskyEmulator, tmp_path: Path
) -> None:
    media = (png(tmp_path / "chart.png"), jpeg(tmp_path / "photo.jpg"))

    bsky.publish(
        post("Die Zahlen des Tages.", media=media, alt_texts=("Balkendiagramm", "Pressefoto"))
    )

    assert len(calls(emulator, "com.atproto.repo.uploadBlob")) == 2
    assert sorted(blob["mimeType"] for blob in emulator.blobs.values()) == [
        "image/jpeg",
        "image/png",
    ]
    embed = emulator.posts[0]["embed"]
    assert embed["$type"] == "app.bsky.embed.images"
    assert [image["alt"] for image in embed["images"]] == ["Balkendiagramm", "Pressefoto"]
    assert {image["image"]["ref"]["$link"] for image in embed["images"]} == set(emulator.blobs)


def test_images_carry_their_aspect_ratio(
    bsky: BlueskyConnector, emulator: BlueskyEmulator, tmp_path: Path
) -> None:
    bsky.publish(post("Breitbild.", media=(png(tmp_path / "wide.png", 16, 9),)))

    (image,) = emulator.posts[0]["embed"]["images"]
    assert (image["aspectRatio"]["width"], image["aspectRatio"]["height"]) == (16, 9)


def test_images_without_alt_text_get_an_empty_one(
    bsky: BlueskyConnector, emulator: BlueskyEmulator, tmp_path: Path
) -> None:
    bsky.publish(post("", media=(png(tmp_path / "only.png"),)))

    assert emulator.posts[0]["embed"]["images"][0]["alt"] == ""


def test_more_than_four_images_are_rejected_before_any_request(
    bsky: BlueskyConnector, emulator: BlueskyEmulator, tmp_path: Path
) -> None:
    media = tuple(png(tmp_path / f"{n}.png") for n in range(5))

    with pytest.raises(RejectedError, match="at most 4"):
        bsky.publish(post("Five pictures.", media=media))

    assert emulator.requests == []


@pytest.mark.parametrize("name", ["clip.mp4", "big.png"])
def test_unsuitable_media_is_rejected_without_upload(
    bsky: BlueskyConnector, emulator: BlueskyEmulator, tmp_path: Path, name: str
) -> None:
    path = tmp_path / name
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 1_000_001)

    with pytest.raises(RejectedError, match=name.replace(".", r"\.")):
        bsky.publish(post("Unsuitable.", media=(path,)))

    assert emulator.requests == [] and emulator.posts == []


def test_thread_replies_carry_the_root_and_the_parent_as_strong_refs(
    bsky: BlueskyConnector, emulator: BlueskyEmulator
) -> None:
    first = bsky.publish(post("1/3 Unsere Erklärung zum Gipfel.", "d-1"))
    second = bsky.publish(post("2/3 Die Einzelheiten.", "d-2", reply_to=first.remote_id))
    third = bsky.publish(post("3/3 Volltext auf der Website.", "d-3", reply_to=second.remote_id))

    root, middle, last = emulator.posts
    assert middle["reply"] == {"root": first.remote_id, "parent": first.remote_id}
    assert last["reply"] == {"root": first.remote_id, "parent": second.remote_id}
    assert last["record"]["reply"]["root"]["cid"] == root["cid"]
    assert last["record"]["reply"]["parent"]["cid"] == middle["cid"]
    assert last["uri"] == third.remote_id


def test_reply_to_a_deleted_post_is_rejected(
    bsky: BlueskyConnector, emulator: BlueskyEmulator
) -> None:
    gone = emulator.add_post("Deleted soon.")
    emulator.delete_post(gone)

    with pytest.raises(RejectedError, match="does not exist"):
        bsky.publish(post("Too late.", reply_to=gone))

    assert emulator.live_posts() == []


def test_reply_to_something_that_is_not_a_post_uri_is_rejected(
    bsky: BlueskyConnector, emulator: BlueskyEmulator
) -> None:
    with pytest.raises(RejectedError, match="at-uri"):
        bsky.publish(post("Reply.", reply_to="https://bsky.app/profile/x/post/3k"))

    assert emulator.requests == []


def test_links_tags_and_mentions_become_facets_at_utf8_byte_offsets(
    bsky: BlueskyConnector, emulator: BlueskyEmulator
) -> None:
    journalist = emulator.add_account("reporterin.bsky.social")
    text = (
        f"{CHINESE} Қазақстан туралы: https://example.org/pressemitteilung?id=7. "
        "#Пресса #外交 Danke @reporterin.bsky.social!"
    )

    bsky.publish(post(text))

    (stored,) = emulator.posts
    assert facet_texts(stored) == [
        ("link", "https://example.org/pressemitteilung?id=7"),
        ("tag", "#Пресса"),
        ("tag", "#外交"),
        ("mention", "@reporterin.bsky.social"),
    ]
    features = [facet["features"][0] for facet in stored["facets"]]
    assert features[0]["uri"] == "https://example.org/pressemitteilung?id=7"
    assert [f.get("tag") for f in features[1:3]] == ["Пресса", "外交"]
    assert features[3]["did"] == journalist
    assert stored["facets"][0]["index"]["byteStart"] > text.index("https")


def test_facets_have_the_byte_offsets_the_sdk_itself_computes(
    bsky: BlueskyConnector, emulator: BlueskyEmulator
) -> None:
    """The real PDS stores facets whatever their offsets, so the emulator cannot catch wrong
    ones: compare with atproto's own TextBuilder, which builds text and facets together."""
    from atproto import client_utils

    journalist = emulator.add_account("reporterin.bsky.social")
    built = (
        client_utils.TextBuilder()
        .text("Grüße 🇰🇿 aus Köln – ")
        .link("https://example.org/straße?id=7", "https://example.org/straße?id=7")
        .text(" ")
        .tag("#Пресса", "Пресса")
        .text(" 外交 ")
        .mention("@reporterin.bsky.social", journalist)
    )

    bsky.publish(post(built.build_text()))

    stored = emulator.posts[0]["facets"]
    expected = [f.model_dump(by_alias=True, exclude_none=True) for f in built.build_facets()]
    assert [f["index"] for f in stored] == [f["index"] for f in expected]
    assert [f["features"] for f in stored] == [f["features"] for f in expected]


def test_a_mention_that_does_not_resolve_stays_plain_text(
    bsky: BlueskyConnector, emulator: BlueskyEmulator
) -> None:
    bsky.publish(post("Hallo @niemand.bsky.social, siehe https://example.org"))

    assert [kind for kind, _ in facet_texts(emulator.posts[0])] == ["link"]
    assert len(calls(emulator, "com.atproto.identity.resolveHandle")) == 1


def test_length_counts_graphemes_so_300_chinese_characters_fit_and_301_do_not(
    bsky: BlueskyConnector, emulator: BlueskyEmulator
) -> None:
    at_limit = ("外交部新闻发布会" * 40)[:300]
    bsky.publish(post(at_limit, "d-1"))

    with pytest.raises(
        RejectedError, match=r"grapheme too big \(maximum 300, got 301\)"
    ) as refused:
        bsky.publish(post(("哈萨克斯坦共和国" * 40)[:301], "d-2"))

    assert [p["text"] for p in emulator.posts] == [at_limit]
    assert refused.value.status == 400


def test_emoji_clusters_count_once_but_more_than_3000_bytes_are_refused(
    bsky: BlueskyConnector, emulator: BlueskyEmulator
) -> None:
    bsky.publish(post("👩🏽‍💻" * 200, "d-1"))  # 200 graphemes, 3000 bytes

    with pytest.raises(RejectedError, match=r"string too big \(maximum 3000, got 3001\)"):
        bsky.publish(post("👩🏽‍💻" * 200 + "!", "d-2"))

    assert len(emulator.posts) == 1


# --- exactly once -------------------------------------------------------------------------------


def test_server_error_on_create_is_transient_once_the_record_is_known_absent(
    bsky: BlueskyConnector, emulator: BlueskyEmulator
) -> None:
    emulator.inject("server_error", path="createRecord")

    with pytest.raises(TransientError) as failed:
        bsky.publish(post("Später nochmal."))

    assert failed.value.status == 500
    assert emulator.posts == []
    assert len(calls(emulator, "com.atproto.repo.getRecord")) == 1


# --- sessions -----------------------------------------------------------------------------------


def test_one_login_serves_many_publishes_and_reads(
    bsky: BlueskyConnector, emulator: BlueskyEmulator
) -> None:
    published = [bsky.publish(post(f"Meldung {n}", f"d-{n}")) for n in range(12)]
    bsky.fetch_metrics([p.remote_id for p in published])
    bsky.whoami()
    bsky.reconcile(post("Meldung 0", "d-0"), since=SINCE)

    assert emulator.session_creations == 1
    assert len(calls(emulator, "com.atproto.server.createSession")) == 1


def test_the_session_outlives_close(bsky: BlueskyConnector, emulator: BlueskyEmulator) -> None:
    bsky.publish(post("Vorher.", "d-1"))
    bsky.close()

    bsky.publish(post("Nachher.", "d-2"))

    assert emulator.session_creations == 1
    assert len(emulator.posts) == 2


def test_processes_sharing_a_session_store_log_in_once(emulator: BlueskyEmulator) -> None:
    store = MemorySessionStore()
    runs = [
        BlueskyConnector(settings_for(emulator), clock=lambda: NOW, sessions=store)
        for _ in range(5)  # e.g. `elshi run --once` from a minute timer
    ]
    for n, run in enumerate(runs):
        run.publish(post(f"Lauf {n}.", f"run-{n}"))
        run.close()

    assert emulator.session_creations == 1
    assert len(emulator.posts) == 5


def test_the_session_is_refreshed_before_the_access_token_expires(
    emulator: BlueskyEmulator,
) -> None:
    store = MemorySessionStore()
    emulator.access_lifetime = 10 * 60  # inside atproto's 15-minute margin
    first = BlueskyConnector(settings_for(emulator), clock=lambda: NOW, sessions=store)
    first.publish(post("Erster.", "d-1"))
    before = store.load(first.session_key)

    second = BlueskyConnector(settings_for(emulator), clock=lambda: NOW, sessions=store)
    second.publish(post("Zweiter.", "d-2"))

    after = store.load(second.session_key)
    assert emulator.session_creations == 1
    assert emulator.session_refreshes >= 1
    assert before is not None and after is not None and before.data != after.data
    first.close()
    second.close()


def test_a_process_adopts_the_newer_session_another_process_refreshed(
    emulator: BlueskyEmulator,
) -> None:
    store = MemorySessionStore()
    a = BlueskyConnector(settings_for(emulator), clock=lambda: NOW, sessions=store)
    a.publish(post("A.", "a-1"))
    emulator.expire_token()
    b = BlueskyConnector(settings_for(emulator), clock=lambda: NOW, sessions=store)
    b.publish(post("B.", "b-1"))  # B refreshes and shares the new session

    a.publish(post("A again.", "a-2"))  # A's token was refused: it takes B's, no refresh

    assert emulator.session_creations == 1
    assert emulator.session_refreshes == 1
    assert len(emulator.posts) == 3
    a.close()
    b.close()


def test_two_processes_refreshing_with_one_refresh_token_both_get_in_without_a_login(
    emulator: BlueskyEmulator,
) -> None:
    """The PDS keeps a rotated refresh token good for two hours, so a process that refreshes
    with the token another process has just rotated is not logged out."""
    a_store, b_store = MemorySessionStore(), MemorySessionStore()
    a = BlueskyConnector(settings_for(emulator), clock=lambda: NOW, sessions=a_store)
    a.publish(post("A.", "a-1"))
    b_store.save(a.session_key, a_store.load(a.session_key))  # type: ignore[arg-type]
    b = BlueskyConnector(settings_for(emulator), clock=lambda: NOW, sessions=b_store)
    emulator.expire_token()

    a.publish(post("A again.", "a-2"))
    b.publish(post("B.", "b-1"))

    assert (emulator.session_creations, emulator.session_refreshes) == (1, 2)
    assert len(emulator.posts) == 3
    a.close()
    b.close()


def test_a_refresh_token_rotated_more_than_two_hours_ago_means_a_new_login(
    emulator: BlueskyEmulator,
) -> None:
    now = [NOW.timestamp()]
    emulator.clock = lambda: now[0]
    a_store, b_store = MemorySessionStore(), MemorySessionStore()
    a = BlueskyConnector(settings_for(emulator), clock=lambda: NOW, sessions=a_store)
    a.publish(post("A.", "a-1"))
    b_store.save(a.session_key, a_store.load(a.session_key))  # type: ignore[arg-type]
    b = BlueskyConnector(settings_for(emulator), clock=lambda: NOW, sessions=b_store)
    emulator.expire_token()
    a.publish(post("A again.", "a-2"))  # rotates the refresh token both hold
    now[0] += 2 * 3600 + 1
    emulator.expire_token()

    b.publish(post("B.", "b-1"))

    assert (emulator.session_creations, emulator.session_refreshes) == (2, 1)
    assert len(emulator.posts) == 3
    a.close()
    b.close()


def test_a_stored_session_of_another_account_is_not_used(emulator: BlueskyEmulator) -> None:
    store = MemorySessionStore()
    BlueskyConnector(settings_for(emulator), clock=lambda: NOW, sessions=store).whoami()
    other = emulator.add_account("presse.bsky.social")
    assert other

    moved = BlueskyConnector(
        settings_for(emulator, handle="presse.bsky.social"), clock=lambda: NOW, sessions=store
    )
    with pytest.raises(AuthError):
        moved.whoami()  # it logs in as the other handle (and that password is wrong)

    assert emulator.session_creations == 1


@pytest.mark.parametrize("entryway", [True, False], ids=["bsky.social-401", "own-pds-400"])
def test_expired_access_token_is_refreshed_once_and_the_post_goes_out(
    bsky: BlueskyConnector, emulator: BlueskyEmulator, entryway: bool
) -> None:
    emulator.entryway = entryway
    bsky.whoami()
    emulator.expire_token()

    bsky.publish(post("Nach Ablauf des Tokens."))

    assert len(emulator.posts) == 1
    assert (emulator.session_refreshes, emulator.session_creations) == (1, 1)


def test_revoked_session_logs_in_again_once(
    bsky: BlueskyConnector, emulator: BlueskyEmulator
) -> None:
    bsky.whoami()
    emulator.revoke_sessions()
    emulator.expire_token()

    bsky.publish(post("Neue Sitzung."))

    assert len(emulator.posts) == 1
    assert emulator.session_creations == 2


def test_a_revoked_app_password_still_posts_until_its_access_token_expires(
    bsky: BlueskyConnector, emulator: BlueskyEmulator
) -> None:
    """The PDS does not look access tokens up: revoking the App Password only ends the
    refresh token and further logins."""
    bsky.whoami()
    emulator.revoke_app_password()

    bsky.publish(post("Noch gültig.", "d-1"))
    emulator.expire_token()
    with pytest.raises(AuthError, match="ELSHI_BSKY_PASSWORD"):
        bsky.publish(post("Jetzt nicht mehr.", "d-2"))

    assert [p["text"] for p in emulator.posts] == ["Noch gültig."]
    assert emulator.session_refreshes == 0  # the revoked refresh token was refused


def test_revoked_app_password_is_an_auth_error_naming_the_variable(
    bsky: BlueskyConnector, emulator: BlueskyEmulator
) -> None:
    bsky.whoami()
    emulator.revoke_app_password()
    emulator.expire_token()

    with pytest.raises(AuthError, match="ELSHI_BSKY_PASSWORD") as refused:
        bsky.publish(post("Kein Zugang mehr."))

    assert refused.value.status == 401
    assert emulator.posts == []
    assert len(calls(emulator, "com.atproto.server.createSession")) == 2


def test_token_refused_again_after_renewal_is_an_auth_error(
    bsky: BlueskyConnector, emulator: BlueskyEmulator
) -> None:
    bsky.whoami()
    emulator.inject("auth", path="createRecord", times=2)

    with pytest.raises(AuthError):
        bsky.publish(post("Abgelehnt."))

    assert emulator.session_refreshes == 1
    assert len(calls(emulator, "com.atproto.repo.createRecord")) == 2
    assert emulator.posts == []


def test_wrong_password_is_an_auth_error(emulator: BlueskyEmulator) -> None:
    settings = replace(settings_for(emulator), secrets={"password": "zzzz-zzzz-zzzz-zzzz"})

    with pytest.raises(AuthError, match="App Password"):
        BlueskyConnector(settings, clock=lambda: NOW).whoami()


def test_missing_password_names_the_variable_to_export(emulator: BlueskyEmulator) -> None:
    settings = replace(settings_for(emulator), secrets={})

    with pytest.raises(AuthError, match="ELSHI_BSKY_PASSWORD"):
        BlueskyConnector(settings, clock=lambda: NOW).publish(post("No password."))

    assert emulator.requests == []


def test_missing_handle_is_an_auth_error(emulator: BlueskyEmulator) -> None:
    settings = replace(settings_for(emulator), options={"password_env": "ELSHI_BSKY_PASSWORD"})

    with pytest.raises(AuthError, match="handle"):
        BlueskyConnector(settings, clock=lambda: NOW).whoami()

    assert emulator.requests == []


def test_exhausted_login_limit_is_rate_limited_until_the_window_resets(
    emulator: BlueskyEmulator,
) -> None:
    emulator.limits["createSession"] = RateLimit(1, 300)
    BlueskyConnector(settings_for(emulator), clock=lambda: NOW).whoami()
    later = NOW + timedelta(minutes=1)
    emulator.clock = lambda: later.timestamp()

    with pytest.raises(RateLimitedError) as limited:
        BlueskyConnector(settings_for(emulator), clock=lambda: later).whoami()

    assert limited.value.retry_after == 240


# --- metrics ------------------------------------------------------------------------------------


def test_metrics_for_60_posts_take_three_lookups_and_mark_the_deleted_one(
    bsky: BlueskyConnector, emulator: BlueskyEmulator
) -> None:
    uris = [emulator.add_post(f"Beitrag {n}") for n in range(60)]
    emulator.set_metrics(uris[7], likes=31, reposts=4, replies=2, quotes=1, bookmarks=6)
    emulator.delete_post(uris[40])

    samples = bsky.fetch_metrics(uris)

    lookups = calls(emulator, "app.bsky.feed.getPosts")
    assert [len(r.query["uris"]) for r in lookups] == [25, 25, 10]
    assert [s.remote_id for s in samples] == uris
    seventh = samples[7]
    assert (seventh.likes, seventh.reposts, seventh.replies) == (31, 4, 2)
    assert (seventh.quotes, seventh.bookmarks) == (1, 6)
    assert (seventh.impressions, seventh.link_clicks) == (None, None)
    assert samples[40].deleted and samples[40].likes is None
    assert not samples[0].deleted and samples[0].likes == 0
    assert all(s.collected_at == NOW for s in samples)


def test_metrics_carry_followers_from_one_profile_lookup(
    bsky: BlueskyConnector, emulator: BlueskyEmulator
) -> None:
    emulator.followers = 4321
    uris = [emulator.add_post(f"Beitrag {n}") for n in range(3)]

    samples = bsky.fetch_metrics(uris)

    assert [s.followers for s in samples] == [4321] * 3
    assert len(calls(emulator, "app.bsky.actor.getProfile")) == 1


def test_bookmarks_are_none_when_the_appview_does_not_count_them(
    bsky: BlueskyConnector, emulator: BlueskyEmulator
) -> None:
    emulator.bookmark_counts = False
    uri = emulator.add_post("Ohne Lesezeichen.")

    (sample,) = bsky.fetch_metrics([uri])

    assert sample.bookmarks is None and sample.likes == 0


def test_an_id_that_is_not_a_post_uri_is_reported_deleted_without_spoiling_the_batch(
    bsky: BlueskyConnector, emulator: BlueskyEmulator
) -> None:
    uri = emulator.add_post("Echt.")

    real, bogus = bsky.fetch_metrics([uri, "1800000000000000001"])

    assert not real.deleted and bogus.deleted


def test_a_post_the_appview_does_not_show_is_not_reported_deleted(
    bsky: BlueskyConnector, emulator: BlueskyEmulator
) -> None:
    """Not indexed yet or hidden by the AppView, but still in the repository: no sample (the
    scheduler reads it again later), never "deleted"."""
    shown, hidden, gone = (emulator.add_post(f"Beitrag {n}") for n in range(3))
    emulator.hide_from_appview(hidden)
    emulator.delete_post(gone)

    samples = bsky.fetch_metrics([shown, hidden, gone])

    assert [(s.remote_id, s.deleted) for s in samples] == [(shown, False), (gone, True)]
    looked_up = [r.query["rkey"] for r in calls(emulator, "com.atproto.repo.getRecord")]
    assert looked_up == [[hidden.rsplit("/", 1)[1]], [gone.rsplit("/", 1)[1]]]


def test_without_an_appview_metrics_tell_only_which_posts_were_deleted(
    bsky: BlueskyConnector, emulator: BlueskyEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    """A PDS without an AppView answers app.bsky reads 400 "No service configured": no
    counters and no followers, but a deleted post is still known to be deleted."""
    emulator.appview = False
    live, gone = emulator.add_post("Lebt."), emulator.add_post("Weg.")
    emulator.delete_post(gone)

    with caplog.at_level("WARNING", logger="connectors.bluesky"):
        samples = bsky.fetch_metrics([live, gone])
        assert bsky.fetch_metrics([live]) == []

    assert [(s.remote_id, s.deleted, s.followers) for s in samples] == [(gone, True, None)]
    assert calls(emulator, "app.bsky.feed.getPosts") == []
    assert [r.message for r in caplog.records].count(
        f"channel press-bsky: the PDS at {emulator.url} has no AppView configured; profile "
        "and post counters cannot be read there (only whether posts still exist)"
    ) == 1


def test_whoami_without_an_appview_names_the_account_from_its_repository(
    bsky: BlueskyConnector, emulator: BlueskyEmulator
) -> None:
    emulator.appview = False

    me = bsky.whoami()

    assert (me.account_id, me.handle, me.display_name, me.followers) == (
        emulator.did,
        emulator.handle,
        "Botschaft Pressestelle",
        None,
    )
    emulator.display_name = ""
    assert bsky.whoami().display_name is None


def test_whoami_names_the_account_and_its_followers(
    bsky: BlueskyConnector, emulator: BlueskyEmulator
) -> None:
    me = bsky.whoami()

    assert (me.account_id, me.handle, me.display_name) == (
        emulator.did,
        emulator.handle,
        "Botschaft Pressestelle",
    )
    assert me.followers == 1200
    assert me.url == f"https://bsky.app/profile/{emulator.handle}"


# --- faults -------------------------------------------------------------------------------------


def test_the_rate_limit_headers_name_the_tightest_limit_and_a_429_has_no_retry_after(
    emulator: BlueskyEmulator,
) -> None:
    """As the reference PDS sends them: the limit with the fewest points left, reset in whole
    epoch seconds, no Retry-After; a refused token gets no rate-limit headers at all."""
    emulator.limits["write"] = RateLimit(7, 3600)  # two creates (3 points each)
    token = login(emulator)
    record = {
        "repo": emulator.did,
        "collection": "app.bsky.feed.post",
        "record": {"$type": "app.bsky.feed.post", "text": "x", "createdAt": "2025-03-01T12:00:00Z"},
    }

    first = xrpc(emulator, "POST", "com.atproto.repo.createRecord", token=token, json=record)
    read = xrpc(emulator, "GET", "com.atproto.server.getSession", token=token)
    xrpc(emulator, "POST", "com.atproto.repo.createRecord", token=token, json=record)
    third = xrpc(emulator, "POST", "com.atproto.repo.createRecord", token=token, json=record)
    anonymous = xrpc(emulator, "POST", "com.atproto.repo.createRecord", json=record)

    assert first.status_code == 200
    assert (first.headers["ratelimit-policy"], first.headers["ratelimit-remaining"]) == (
        "7;w=3600",
        "4",
    )
    assert read.headers["ratelimit-policy"] == "3000;w=300"
    assert third.status_code == 429 and third.json()["error"] == "RateLimitExceeded"
    assert "retry-after" not in third.headers
    assert third.headers["ratelimit-reset"] == str(int(NOW.timestamp()) + 3600)
    assert anonymous.status_code == 401 and "ratelimit-limit" not in anonymous.headers
    assert len(emulator.posts) == 2


def test_exhausted_write_points_are_rate_limited_for_the_rest_of_the_hour(
    bsky: BlueskyConnector, emulator: BlueskyEmulator
) -> None:
    emulator.limits["write"] = RateLimit(7, 3600)
    bsky.publish(post("Eins.", "d-1"))
    bsky.publish(post("Zwei.", "d-2"))

    with pytest.raises(RateLimitedError) as limited:
        bsky.publish(post("Drei.", "d-3"))

    assert limited.value.retry_after == 3600
    assert len(emulator.posts) == 2


def test_uploads_keep_the_declared_type_unless_they_are_images_and_need_one(
    emulator: BlueskyEmulator,
) -> None:
    token = login(emulator)
    upload = "com.atproto.repo.uploadBlob"

    text = xrpc(
        emulator, "POST", upload, token=token, content=b"hi", headers={"content-type": "*/*"}
    )
    image = xrpc(
        emulator, "POST", upload, token=token, content=png_bytes(), headers={"content-type": "*/*"}
    )
    untyped = xrpc(emulator, "POST", upload, token=token, content=b"hi")

    assert text.json()["blob"]["mimeType"] == "*/*"
    assert image.json()["blob"]["mimeType"] == "image/png"
    assert image.headers["ratelimit-policy"] == "1000;w=86400"
    assert untyped.status_code == 400
    assert untyped.json()["message"] == "Request encoding (Content-Type) required but not provided"


def test_a_pds_clock_ahead_of_ours_waits_as_long_as_the_pds_meant(
    emulator: BlueskyEmulator,
) -> None:
    """ratelimit-reset is epoch seconds of the PDS's clock: measured against the answer's Date
    header, not against ours (five minutes behind the PDS's here)."""
    emulator.clock = lambda: (NOW + timedelta(minutes=5)).timestamp()
    emulator.inject("rate_limit", path="createRecord", retry_after=42)
    bsky = BlueskyConnector(settings_for(emulator), clock=lambda: NOW)

    with pytest.raises(RateLimitedError) as limited:
        bsky.publish(post("Zu früh."))

    assert limited.value.retry_after == 42


def test_an_appviews_429_forwarded_by_the_pds_waits_its_retry_after(
    bsky: BlueskyConnector, emulator: BlueskyEmulator
) -> None:
    """The PDS forwards an AppView's 429 with the AppView's retry-after (pipethrough.ts
    RES_HEADERS_TO_FORWARD) under its own ratelimit-* headers, which describe the PDS's global
    limit, not the one that was hit (points remain): they must not set the wait."""
    uri = bsky.publish(post("Erster Beitrag.", "d-1")).remote_id
    emulator.inject(
        "rate_limit",
        path="getPosts",
        headers={
            "ratelimit-limit": "3000",
            "ratelimit-remaining": "2990",
            "ratelimit-reset": str(int(NOW.timestamp()) + 300),
            "ratelimit-policy": "3000;w=300",
            "retry-after": "30",
        },
    )

    with pytest.raises(RateLimitedError) as limited:
        bsky.fetch_metrics([uri])

    assert limited.value.retry_after == 30


def test_a_newer_pds_sends_retry_after_beside_ratelimit_reset_and_both_agree(
    bsky: BlueskyConnector, emulator: BlueskyEmulator
) -> None:
    """@atproto/xrpc-server since July 2026 adds Retry-After (seconds, rounded up) to its
    429s; the wait is the same whichever is read."""
    emulator.inject(
        "rate_limit", path="createRecord", retry_after=42, headers={"Retry-After": "42"}
    )

    with pytest.raises(RateLimitedError) as limited:
        bsky.publish(post("Zu früh."))

    assert limited.value.retry_after == 42


def test_rate_limit_gives_retry_after_from_the_ratelimit_reset_header(
    bsky: BlueskyConnector, emulator: BlueskyEmulator
) -> None:
    emulator.inject("rate_limit", path="createRecord", retry_after=42)

    with pytest.raises(RateLimitedError) as limited:
        bsky.publish(post("Zu früh."))

    assert limited.value.retry_after == 42
    assert emulator.posts == []


def test_reject_fault_is_rejected_with_the_pds_reason(
    bsky: BlueskyConnector, emulator: BlueskyEmulator
) -> None:
    emulator.inject("reject", path="createRecord")

    with pytest.raises(
        RejectedError, match=r"InvalidRequest: Invalid app\.bsky\.feed\.post record"
    ):
        bsky.publish(post("Abgelehnt."))


def test_auth_fault_on_login_is_an_auth_error(
    bsky: BlueskyConnector, emulator: BlueskyEmulator
) -> None:
    emulator.inject("auth", path="createSession")

    with pytest.raises(AuthError, match="AuthenticationRequired"):
        bsky.whoami()


# --- reconcile ----------------------------------------------------------------------------------


# --- transport and secrets ----------------------------------------------------------------------


def test_every_call_goes_to_the_emulator_and_none_to_bluesky(
    bsky: BlueskyConnector,
    emulator: BlueskyEmulator,
    tmp_path: Path,
    only_local_network: list[str],
) -> None:
    published = bsky.publish(post("Nur lokal.", media=(png(tmp_path / "l.png"),)))
    bsky.fetch_metrics([published.remote_id])

    assert [r.path.removeprefix("/xrpc/") for r in emulator.requests] == [
        "com.atproto.server.createSession",
        "com.atproto.repo.uploadBlob",
        "com.atproto.repo.createRecord",
        "app.bsky.actor.getProfile",
        "app.bsky.feed.getPosts",
    ]
    assert set(only_local_network) == {"127.0.0.1"}


def test_without_api_base_url_requests_go_to_bsky_social(
    emulator: BlueskyEmulator, only_local_network: list[str]
) -> None:
    real = replace(settings_for(emulator), api_base_url=None)

    with pytest.raises(TransientError):
        BlueskyConnector(real, clock=lambda: NOW).whoami()

    assert only_local_network == ["bsky.social"]
    assert emulator.requests == []
    only_local_network.clear()
