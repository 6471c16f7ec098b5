"""The Bluesky connector against the reference PDS itself (@atproto/pds, Node), run on 127.0.0.1
by tools/real_pds/start.js with an in-memory DID PLC directory and no AppView. Opt-in: set
ELSHI_REAL_PDS_DIR to a directory where ``npm install`` ran with tools/real_pds/package.json
(docs/connectors.md, "Bluesky against the reference PDS"); skipped otherwise. Not in .ci/run.

What the emulator copies from this server is asserted in tests/connectors/test_bluesky.py; here
the same behaviours are checked against the real thing, so a new PDS release that answers
differently shows up as a failure of this module."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from atproto import Session

from connectors.base import (
    AuthError,
    ChannelSettings,
    MemorySessionStore,
    RateLimitedError,
    RejectedError,
    SessionStore,
    StoredSession,
)
from connectors.bluesky import BlueskyConnector, record_key
from tests.connectors.files import png, post

ROOT = Path(__file__).resolve().parents[2]
START = ROOT / "tools" / "real_pds" / "start.js"
INSTALL = os.environ.get("ELSHI_REAL_PDS_DIR", "")
POST = "app.bsky.feed.post"


def _why_not() -> str | None:
    if not INSTALL:
        return (
            "ELSHI_REAL_PDS_DIR is not set: point it at a directory where `npm install` ran with "
            "tools/real_pds/package.json to run the connector against the reference Bluesky PDS"
        )
    if shutil.which("node") is None:
        return "node is not on PATH (the reference PDS needs Node.js 18 or later)"
    if not (Path(INSTALL) / "node_modules" / "@atproto" / "pds").is_dir():
        return (
            f"ELSHI_REAL_PDS_DIR={INSTALL} has no node_modules/@atproto/pds: run npm install there"
        )
    return None


if _why_not() is not None:  # one skip for the module, with the reason
    pytest.skip(_why_not() or "", allow_module_level=True)


@dataclass
class Pds:
    url: str
    jwt_secret: str

    def xrpc(
        self, method: str, nsid: str, *, token: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.request(
            method, f"{self.url}/xrpc/{nsid}", headers=headers, timeout=30, **kwargs
        )


@dataclass
class Account:
    handle: str
    did: str
    main_token: str
    app_password: str
    app_password_name: str


@pytest.fixture(scope="module")
def pds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pds]:
    secret = secrets.token_hex(16)
    data = tmp_path_factory.mktemp("pds")
    command = ["node", str(START), INSTALL, "--data", str(data), "--jwt-secret", secret]
    process = subprocess.Popen(
        [*command, "--stop-on-stdin-close"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdin is not None
    line = process.stdout.readline()  # the script prints one line once both servers listen
    if not line:
        error = process.stderr.read() if process.stderr else ""
        process.wait(timeout=10)
        pytest.fail(f"the reference PDS did not start: {error[-2000:]}")
    try:
        yield Pds(url=json.loads(line)["pds"], jwt_secret=secret)
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _new_account(pds: Pds, name: str) -> Account:
    handle = f"{name}-{secrets.token_hex(3)}.test"
    created = pds.xrpc(
        "POST",
        "com.atproto.server.createAccount",
        json={"handle": handle, "email": f"{name}@example.org", "password": secrets.token_hex(12)},
    )
    assert created.status_code == 200, created.text
    token = created.json()["accessJwt"]
    label = f"elshi-{secrets.token_hex(3)}"
    app = pds.xrpc(
        "POST", "com.atproto.server.createAppPassword", token=token, json={"name": label}
    )
    assert app.status_code == 200, app.text
    return Account(handle, created.json()["did"], token, app.json()["password"], label)


@pytest.fixture(scope="module")
def account(pds: Pds) -> Account:
    return _new_account(pds, "botschaft")


def settings_for(pds: Pds, account: Account) -> ChannelSettings:
    return ChannelSettings(
        name="press-bsky",
        platform="bluesky",
        api_base_url=pds.url,
        options={"handle": account.handle, "password_env": "ELSHI_BSKY_PASSWORD"},
        secrets={"password": account.app_password},
    )


@pytest.fixture
def store() -> MemorySessionStore:
    return MemorySessionStore()


@pytest.fixture
def bsky(pds: Pds, account: Account, store: MemorySessionStore) -> Iterator[BlueskyConnector]:
    connector = BlueskyConnector(settings_for(pds, account), sessions=store)
    yield connector
    connector.close()


def key(name: str) -> str:
    """A delivery key of its own for each run (the PDS keeps records across tests)."""
    return f"{name}-{secrets.token_hex(4)}"


def record(pds: Pds, account: Account, rkey: str) -> httpx.Response:
    return pds.xrpc(
        "GET",
        "com.atproto.repo.getRecord",
        params={"repo": account.did, "collection": POST, "rkey": rkey},
    )


def posts_of(pds: Pds, account: Account) -> list[dict[str, Any]]:
    answer = pds.xrpc(
        "GET",
        "com.atproto.repo.listRecords",
        params={"repo": account.did, "collection": POST, "limit": 100},
    )
    return list(answer.json()["records"])


def forged_access_token(pds: Pds, did: str, *, expired: bool) -> str:
    """An access JWT signed with the PDS's secret, as it issues them, already expired."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    now = int(time.time())
    header = {"typ": "at+jwt", "alg": "HS256"}
    claims = {
        "scope": "com.atproto.appPass",
        "aud": "did:web:localhost",
        "sub": did,
        "iat": now - 7200,
        "exp": now - 60 if expired else now + 3600,
    }
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(pds.jwt_secret.encode(), signing_input.encode(), hashlib.sha256)
    return f"{signing_input}.{b64(signature.digest())}"


def with_access_token(store: SessionStore, connector: BlueskyConnector, token: str) -> None:
    """Replace the access token of the session the connector keeps in ``store`` (for the next
    process that takes it from there)."""
    stored = store.load(connector.session_key)
    assert stored is not None
    session = Session.decode(stored.data["session"])
    session.access_jwt = token
    store.save(
        connector.session_key,
        StoredSession(
            data={**stored.data, "session": session.export()}, expires_at=stored.expires_at
        ),
    )


# --- account and publishing ---------------------------------------------------------------------


def test_whoami_names_the_account_from_its_repository(
    bsky: BlueskyConnector, account: Account
) -> None:
    me = bsky.whoami()

    assert (me.account_id, me.handle) == (account.did, account.handle)
    assert me.followers is None  # a PDS without an AppView counts no followers


def test_a_post_with_link_tag_and_mention_gets_facets_at_utf8_byte_offsets(
    bsky: BlueskyConnector, pds: Pds, account: Account
) -> None:
    text = f"Grüße aus Astana: https://kazakhstan.example/kultur #Kasachstan @{account.handle}"

    published = bsky.publish(post(text, key("facets"), language="de"))

    stored = record(pds, account, published.remote_id.rsplit("/", 1)[1]).json()["value"]
    raw = stored["text"].encode("utf-8")
    covered = [
        (
            f["features"][0]["$type"].rsplit("#", 1)[1],
            raw[f["index"]["byteStart"] : f["index"]["byteEnd"]],
        )
        for f in stored["facets"]
    ]
    assert covered == [
        ("link", b"https://kazakhstan.example/kultur"),
        ("tag", b"#Kasachstan"),
        ("mention", f"@{account.handle}".encode()),
    ]
    assert stored["facets"][2]["features"][0]["did"] == account.did
    assert stored["langs"] == ["de"]


def test_an_image_goes_out_with_its_alt_text_and_aspect_ratio(
    bsky: BlueskyConnector, pds: Pds, account: Account, tmp_path: Path
) -> None:
    image = png(tmp_path / "steppe.png", 40, 20)

    published = bsky.publish(post("Bild.", key("image"), media=(image,), alt_texts=("Steppe",)))

    stored = record(pds, account, published.remote_id.rsplit("/", 1)[1]).json()["value"]
    (embedded,) = stored["embed"]["images"]
    assert embedded["alt"] == "Steppe"
    assert (embedded["aspectRatio"]["width"], embedded["aspectRatio"]["height"]) == (40, 20)
    assert embedded["image"]["mimeType"] == "image/png"


def test_a_thread_reply_names_the_root_and_its_parent(
    bsky: BlueskyConnector, pds: Pds, account: Account
) -> None:
    root = bsky.publish(post("1/3", key("root")))
    middle = bsky.publish(post("2/3", key("middle"), reply_to=root.remote_id))
    last = bsky.publish(post("3/3", key("last"), reply_to=middle.remote_id))

    reply = record(pds, account, last.remote_id.rsplit("/", 1)[1]).json()["value"]["reply"]
    assert (reply["root"]["uri"], reply["parent"]["uri"]) == (root.remote_id, middle.remote_id)


def test_too_long_a_text_is_rejected_with_the_validator_s_reason(bsky: BlueskyConnector) -> None:
    with pytest.raises(RejectedError, match=r"grapheme too big \(maximum 300, got 301\)"):
        bsky.publish(post("ä" * 301, key("long")))


# --- exactly once -------------------------------------------------------------------------------


def test_a_second_attempt_after_a_lost_answer_returns_the_first_post(
    bsky: BlueskyConnector, pds: Pds, account: Account
) -> None:
    """The PDS refuses the taken record key (with a 500): the connector finds the post."""
    delivery = key("lost")
    first = bsky.publish(post("Einmal.", delivery))
    before = len(posts_of(pds, account))

    again = bsky.publish(post("Einmal.", delivery))

    assert again.remote_id == first.remote_id
    assert len(posts_of(pds, account)) == before
    assert first.remote_id.endswith("/" + record_key(delivery))


def test_reconcile_finds_a_published_delivery_by_its_record_key_and_not_an_unsent_one(
    bsky: BlueskyConnector,
) -> None:
    delivery = key("reconcile")
    published = bsky.publish(post("Nach dem Absturz.", delivery))
    since = datetime.now(UTC)

    found = bsky.reconcile(post("Nach dem Absturz.", delivery), since=since)

    assert found is not None and found.remote_id == published.remote_id
    assert bsky.reconcile(post("Nie gesendet.", key("never")), since=since) is None


def test_the_id_of_a_bsky_app_permalink(bsky: BlueskyConnector, account: Account) -> None:
    published = bsky.publish(post("Verlinkt.", key("link")))
    assert published.url is not None

    assert bsky.remote_id_from_url(published.url) == published.remote_id
    by_did = published.url.replace(account.handle, account.did)
    assert bsky.remote_id_from_url(by_did) == published.remote_id
    with pytest.raises(RejectedError):
        bsky.remote_id_from_url(published.url.replace(account.handle, "someone-else.test"))


# --- metrics ------------------------------------------------------------------------------------


def test_metrics_without_an_appview_tell_only_which_posts_were_deleted(
    bsky: BlueskyConnector, pds: Pds, account: Account
) -> None:
    live = bsky.publish(post("Bleibt.", key("live")))
    gone = bsky.publish(post("Verschwindet.", key("gone")))
    deleted = pds.xrpc(
        "POST",
        "com.atproto.repo.deleteRecord",
        token=account.main_token,
        json={"repo": account.did, "collection": POST, "rkey": gone.remote_id.rsplit("/", 1)[1]},
    )
    assert deleted.status_code == 200

    samples = bsky.fetch_metrics([live.remote_id, gone.remote_id])

    assert [(s.remote_id, s.deleted) for s in samples] == [(gone.remote_id, True)]


# --- sessions -----------------------------------------------------------------------------------


def test_a_second_process_reuses_the_stored_session_without_logging_in(
    pds: Pds, account: Account, store: MemorySessionStore
) -> None:
    saved: list[str] = []

    class Watching(MemorySessionStore):
        def save(self, key: str, session: StoredSession) -> None:
            saved.append(key)
            super().save(key, session)

    shared = Watching()
    first = BlueskyConnector(settings_for(pds, account), sessions=shared)
    first.publish(post("Erster Lauf.", key("run")))
    second = BlueskyConnector(settings_for(pds, account), sessions=shared)
    second.publish(post("Zweiter Lauf.", key("run")))

    assert len(saved) == 1  # one login; the second process took its session
    first.close()
    second.close()


def test_an_expired_access_token_is_refreshed_and_the_post_goes_out(
    bsky: BlueskyConnector, pds: Pds, account: Account, store: MemorySessionStore
) -> None:
    bsky.whoami()
    bsky.close()
    with_access_token(store, bsky, forged_access_token(pds, account.did, expired=True))
    refused = pds.xrpc(
        "GET",
        "com.atproto.server.getSession",
        token=forged_access_token(pds, account.did, expired=True),
    )
    assert (refused.status_code, refused.json()["error"]) == (400, "ExpiredToken")

    before = store.load(bsky.session_key)
    later = BlueskyConnector(settings_for(pds, account), sessions=store)

    published = later.publish(post("Nach Ablauf.", key("expired")))

    assert record(pds, account, published.remote_id.rsplit("/", 1)[1]).status_code == 200
    after = store.load(bsky.session_key)
    assert before is not None and after is not None
    assert (
        Session.decode(after.data["session"]).refresh_jwt
        != Session.decode(before.data["session"]).refresh_jwt
    )  # refreshed, and shared with the other processes
    later.close()


def test_a_signed_out_session_logs_in_again_with_the_app_password(
    bsky: BlueskyConnector, pds: Pds, account: Account, store: MemorySessionStore
) -> None:
    bsky.whoami()
    bsky.close()
    stored = store.load(bsky.session_key)
    assert stored is not None
    refresh = Session.decode(stored.data["session"]).refresh_jwt
    signed_out = pds.xrpc("POST", "com.atproto.server.deleteSession", token=refresh)
    assert signed_out.status_code == 200
    with_access_token(store, bsky, forged_access_token(pds, account.did, expired=True))

    later = BlueskyConnector(settings_for(pds, account), sessions=store)

    published = later.publish(post("Neue Sitzung.", key("relogin")))

    assert record(pds, account, published.remote_id.rsplit("/", 1)[1]).status_code == 200
    renewed = store.load(bsky.session_key)
    assert renewed is not None and Session.decode(renewed.data["session"]).refresh_jwt != refresh
    later.close()


def test_a_revoked_app_password_is_an_auth_error_naming_the_variable(pds: Pds) -> None:
    """Its access token still works until it expires (the PDS does not look it up); then the
    refresh and a new login are both refused."""
    revoked = _new_account(pds, "revoked")
    store = MemorySessionStore()
    connector = BlueskyConnector(settings_for(pds, revoked), sessions=store)
    connector.whoami()
    answer = pds.xrpc(
        "POST",
        "com.atproto.server.revokeAppPassword",
        token=revoked.main_token,
        json={"name": revoked.app_password_name},
    )
    assert answer.status_code == 200
    connector.publish(post("Noch gültig.", key("still")))
    connector.close()
    with_access_token(store, connector, forged_access_token(pds, revoked.did, expired=True))
    later = BlueskyConnector(settings_for(pds, revoked), sessions=store)

    with pytest.raises(AuthError, match="ELSHI_BSKY_PASSWORD") as refused:
        later.publish(post("Nicht mehr.", key("revoked")))

    assert refused.value.status == 401
    assert len(posts_of(pds, revoked)) == 1


def test_a_wrong_app_password_is_an_auth_error(pds: Pds, account: Account) -> None:
    settings = replace(settings_for(pds, account), secrets={"password": "zzzz-zzzz-zzzz-zzzz"})

    with pytest.raises(AuthError, match="AuthenticationRequired"):
        BlueskyConnector(settings).whoami()


def test_exhausted_logins_are_rate_limited_until_the_ratelimit_reset(pds: Pds) -> None:
    """30 logins per identifier in 5 minutes; the 429 has ratelimit-* headers, no Retry-After."""
    limited = _new_account(pds, "limited")
    for _ in range(30):
        pds.xrpc(
            "POST",
            "com.atproto.server.createSession",
            json={"identifier": limited.handle, "password": "wrong-wrong-wrong"},
        )

    with pytest.raises(RateLimitedError) as refused:
        BlueskyConnector(settings_for(pds, limited)).whoami()

    assert refused.value.retry_after is not None and 0 < refused.value.retry_after <= 300


def test_a_429_says_remaining_0_and_dates_itself_as_the_emulator_copies(pds: Pds) -> None:
    """The wire format connectors._limits reads and the emulator copies: ratelimit-remaining
    0 on the refusal (the refused request's points count), epoch-second ratelimit-reset, a
    Date header of the PDS's clock; the connector's wait is the reset measured on that Date."""
    limited = _new_account(pds, "dated")
    for _ in range(30):
        pds.xrpc(
            "POST",
            "com.atproto.server.createSession",
            json={"identifier": limited.handle, "password": "wrong-wrong-wrong"},
        )
    refused = pds.xrpc(
        "POST",
        "com.atproto.server.createSession",
        json={"identifier": limited.handle, "password": "wrong-wrong-wrong"},
    )

    assert refused.status_code == 429 and refused.json()["error"] == "RateLimitExceeded"
    assert refused.headers["ratelimit-remaining"] == "0"
    assert refused.headers["ratelimit-policy"] == "30;w=300"
    served = parsedate_to_datetime(refused.headers["date"]).timestamp()
    meant = int(refused.headers["ratelimit-reset"]) - served
    with pytest.raises(RateLimitedError) as caught:
        BlueskyConnector(settings_for(pds, limited)).whoami()
    assert caught.value.retry_after is not None
    assert abs(caught.value.retry_after - meant) <= 2
