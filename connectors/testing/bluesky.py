"""An emulator of one Bluesky account's PDS with the AppView behind it, speaking XRPC as the
reference implementation does under ``/xrpc/``: ``com.atproto.server.createSession`` /
``refreshSession`` / ``getSession`` (HS256 JWTs with ``exp``, no ``didDoc`` so the client stays on
this host), ``com.atproto.identity.resolveHandle``, ``com.atproto.repo.uploadBlob`` /
``createRecord`` / ``getRecord`` / ``deleteRecord`` for ``app.bsky.feed.post`` records (and the
``app.bsky.actor.profile`` record ``self``, ``describeRepo``) (record
keys chosen by the caller are honoured; a duplicate one is answered as the reference PDS answers
it), ``app.bsky.feed.getPosts`` and ``app.bsky.actor.getProfile`` with real ``PostView`` and
``ProfileViewDetailed`` shapes. It enforces the access token (``ExpiredToken`` / ``InvalidToken``
/ ``AuthMissing``), the 300-grapheme and 3000-byte text limits of `campaigns.textrules` with the
lexicon validator's messages, at most four images of at most 1,000,000 bytes, and the rate
limits of `DEFAULT_LIMITS` with ``ratelimit-*`` headers of the tightest limit (no ``Retry-After``,
as the reference PDS sends none). It counts created sessions, keeps every accepted post in
`posts` and serves no other method; it is a test double and must not be imported by the product.
What it copies was observed on the reference PDS (``tools/real_pds``, @atproto/pds 0.4.217);
``appview=False`` answers ``app.bsky.*`` reads as a PDS without an AppView does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from campaigns import textrules
from connectors.testing.server import Emulator, Fault, Handler, Request, Response, StoredPost

POST = "app.bsky.feed.post"
PROFILE = "app.bsky.actor.profile"
IMAGES = "app.bsky.embed.images"
ACCESS_LIFETIME = 2 * 3600
REFRESH_LIFETIME = 90 * 86_400
MAX_IMAGES = 4
MAX_IMAGE_BYTES = 1_000_000
MAX_URIS = 25
_TID_CHARS = "234567abcdefghijklmnopqrstuvwxyz"
_TID = re.compile(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}")
_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
_COUNTERS = {
    "likes": "likeCount",
    "reposts": "repostCount",
    "replies": "replyCount",
    "quotes": "quoteCount",
    "bookmarks": "bookmarkCount",
}


@dataclass(frozen=True)
class RateLimit:
    limit: int
    window: int
    """Seconds."""


DEFAULT_LIMITS: dict[str, RateLimit] = {
    "global": RateLimit(3000, 300),
    "createSession": RateLimit(30, 300),
    "createSessionDay": RateLimit(300, 86_400),
    "write": RateLimit(5000, 3600),
    "writeDay": RateLimit(35_000, 86_400),
    "uploadBlob": RateLimit(1000, 86_400),
}
"""The reference PDS's limits: every request counts against ``global``; logins also against
``createSession`` and ``createSessionDay``, repository writes against ``write`` and ``writeDay``
(write points: a create costs 3, a delete 1), uploads against ``uploadBlob``. Tests may lower
them."""
REFRESH_GRACE = 2 * 3600
"""Seconds a rotated refresh token still refreshes (the reference PDS's grace period)."""


def _xrpc_error(status: int, error: str, message: str) -> Response:
    return Response(status, {"error": error, "message": message})


def _invalid(message: str) -> Response:
    return _xrpc_error(400, "InvalidRequest", message)


def _invalid_post(problem: str) -> Response:
    """The lexicon validator's refusal of a post record, worded as the reference PDS words it."""
    return _invalid(f"Invalid {POST} record: {problem}")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _cid(data: bytes, *, raw: bool = False) -> str:
    """A CIDv1 (sha2-256; dag-cbor for records, raw for blobs) in base32, as the PDS prints it."""
    prefix = b"\x01" + (b"\x55" if raw else b"\x71") + b"\x12\x20"
    encoded = base64.b32encode(prefix + hashlib.sha256(data).digest()).decode("ascii")
    return "b" + encoded.lower().rstrip("=")


def _iso(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _header(request: Request, name: str) -> str:
    for key, value in request.headers.items():
        if key.lower() == name:
            return value
    return ""


def _nsid(path: str) -> str:
    return path.removeprefix("/xrpc/")


class BlueskyEmulator(Emulator):
    """One account (``handle``, ``did``, an App Password ``password``) on a PDS at this server.
    ``clock`` gives the emulator's epoch seconds (``indexedAt``, rate-limit resets); JWT ``exp``
    always follows the wall clock because the client compares it with its own. Refused tokens
    are answered as the reference PDS answers them, 400 ``InvalidToken``/``ExpiredToken``;
    ``entryway=True`` answers 401 as bsky.social's entryway does. ``did_doc`` puts the account's
    DID document in session answers, as bsky.social does (a PDS only with
    ``PDS_ENABLE_DID_DOC_WITH_SESSION``; its PDS service endpoint is this server, so a client that
    follows it stays here). A 429 carries ``ratelimit-*`` headers and no ``Retry-After``; answers
    refused for a missing or bad token carry no rate-limit headers (the PDS checks the token
    first). Revoking sessions or the App Password leaves access tokens valid until they expire
    (they are not looked up), as on the PDS; a rotated refresh token still refreshes for two
    hours. ``appview=False``: the PDS has no AppView, so ``app.bsky.*`` reads and unknown methods
    are 400 ``InvalidRequest`` "No service configured for ...". Facets are stored as sent, even past the end of the text: the real
    PDS does not check their offsets, so tests compare them with the SDK's own computation. ``duplicate_status`` is the answer to a create with an existing
    record key: 500 ``InternalServerError`` as the reference PDS gives today, or 409
    ``RecordAlreadyExists`` as other implementations do."""

    name = "bluesky"
    access_lifetime = ACCESS_LIFETIME
    """Seconds an access JWT lives (a test may shorten it on the instance)."""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        handle: str = "botschaft.bsky.social",
        did: str = "did:plc:ewvi7nxzyoun6zhxrhs64oiz",
        password: str = "abcd-efgh-ijkl-mnop",
        display_name: str = "Botschaft Pressestelle",
        followers: int = 1200,
        entryway: bool = False,
        did_doc: bool = True,
        duplicate_status: int = 500,
        bookmark_counts: bool = True,
        appview: bool = True,
        limits: Mapping[str, RateLimit] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if duplicate_status not in (409, 500):
            raise ValueError("duplicate_status is 500 (reference PDS) or 409")
        self.handle = handle
        self.did = did
        self.did_doc = did_doc
        self._initial = (
            display_name,
            password,
            followers,
            entryway,
            duplicate_status,
            bookmark_counts,
            appview,
            {**DEFAULT_LIMITS, **(limits or {})},
            clock,
        )
        self._signing_key = secrets.token_bytes(32)
        super().__init__(latency=latency)
        self.reset()

    def reset(self) -> None:
        """Forget posts, blobs, sessions, other accounts, recorded requests, faults, rate-limit
        counters and changed settings, so one running emulator can serve many tests."""
        with self._lock:
            name, password, followers, entryway, duplicate, bookmarks, appview, limits, clock = (
                self._initial
            )
            self.display_name = name
            self.password: str | None = password
            self.followers = followers
            self.entryway = entryway
            self.duplicate_status = duplicate
            self.bookmark_counts = bookmarks
            self.appview = appview
            self.limits = dict(limits)
            self.clock = clock
            self.access_lifetime = ACCESS_LIFETIME
            self.posts: list[dict[str, Any]] = []
            self.blobs: dict[str, dict[str, Any]] = {}
            self.accounts: dict[str, str] = {self.handle: self.did}
            """Handles the PDS resolves, to their DIDs."""
            self.session_creations = 0
            self.session_refreshes = 0
            self.issued_tokens: list[str] = []
            """Every access and refresh JWT handed out (for tests that look for leaks)."""
            self._access: dict[str, bool] = {}
            self._refresh: dict[str, float | None] = {}
            """Refresh JWTs: None while current, else the epoch second their use ends (a
            rotated one's grace period; 0 once revoked)."""
            self.hidden: set[str] = set()
            """At-uris of posts the AppView does not show (not indexed yet, or taken down)."""
            self._windows: dict[str, tuple[float, int]] = {}
            self._tid_clock = 0
            self.requests.clear()
            self.clear_faults()

    # --- control --------------------------------------------------------------------------

    def expire_token(self) -> None:
        """Every access token handed out so far is now expired (refresh tokens still work)."""
        with self._lock:
            self._access = dict.fromkeys(self._access, False)

    def revoke_sessions(self) -> None:
        """Revoke every refresh token (the sessions were signed out): the access tokens handed
        out still work until they expire (`expire_token`), then only a new createSession with
        the App Password gets in."""
        with self._lock:
            self._refresh = dict.fromkeys(self._refresh, 0.0)

    def revoke_app_password(self) -> None:
        """The owner deleted the App Password: it no longer logs in and its refresh tokens are
        revoked; access tokens already handed out work until they expire (`expire_token`)."""
        with self._lock:
            self.password = None
            self.revoke_sessions()

    def hide_from_appview(self, post_id: str) -> None:
        """The AppView stops showing the post (its at-uri or record key) although it is still
        in the repository: not indexed yet, or taken down by moderation."""
        with self._lock:
            self.hidden.add(self._find(post_id)["uri"])

    def add_account(self, handle: str) -> str:
        """Another account whose handle resolves (for mentions); returns its DID."""
        with self._lock:
            did = "did:plc:" + hashlib.sha256(handle.encode()).hexdigest()[:24]
            self.accounts[handle] = did
            return did

    def add_post(self, text: str, *, rkey: str | None = None) -> str:
        """Put a post on the account as if published by other means; returns its at-uri."""
        with self._lock:
            record = {"$type": POST, "text": text, "createdAt": _iso(self.clock())}
            return str(self._store(rkey or self._next_tid(), record)["uri"])

    def set_metrics(self, post_id: str, **counters: int) -> None:
        """Set counters of a post (its at-uri or record key) by our names: ``likes``,
        ``reposts``, ``replies``, ``quotes``, ``bookmarks``."""
        with self._lock:
            post = self._find(post_id)
            for name, value in counters.items():
                if name in _COUNTERS:
                    post["metrics"][_COUNTERS[name]] = value

    def delete_post(self, post_id: str) -> None:
        with self._lock:
            self._find(post_id)["deleted"] = True

    def stored(self) -> list[StoredPost]:
        with self._lock:
            return [
                StoredPost(
                    id=post["uri"],
                    text=post["text"],
                    alt=tuple(
                        str(image.get("alt", ""))
                        for image in ((post["embed"] or {}).get("images") or [])
                    ),
                    reply_to=(post["reply"] or {}).get("parent"),
                    deleted=post["deleted"],
                )
                for post in self.posts
            ]

    def live_posts(self) -> list[dict[str, Any]]:
        with self._lock:
            return [post for post in self.posts if not post["deleted"]]

    def _find(self, post_id: str) -> dict[str, Any]:
        for post in self.posts:
            if post_id in (post["uri"], post["rkey"]) and not post["deleted"]:
                return post
        raise KeyError(f"no post {post_id}")

    def _live(self, rkey: str) -> dict[str, Any] | None:
        return next((p for p in self.posts if p["rkey"] == rkey and not p["deleted"]), None)

    def _next_tid(self) -> str:
        micros = int(self.clock() * 1_000_000)
        self._tid_clock = max(self._tid_clock + 1, micros)
        value = (self._tid_clock << 10) | 7
        return "".join(_TID_CHARS[(value >> (5 * i)) & 31] for i in reversed(range(13)))

    def _store(
        self, rkey: str, record: dict[str, Any], *, embed: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        uri = f"at://{self.did}/{POST}/{rkey}"
        reply = record.get("reply")
        post: dict[str, Any] = {
            "id": uri,
            "uri": uri,
            "rkey": rkey,
            "cid": _cid(json.dumps(record, sort_keys=True).encode()),
            "text": record.get("text", ""),
            "facets": record.get("facets", []),
            "embed": record.get("embed"),
            "embed_view": embed,
            "reply": (
                {"root": reply["root"]["uri"], "parent": reply["parent"]["uri"]} if reply else None
            ),
            "langs": record.get("langs", []),
            "record": record,
            "indexed_at": self.clock(),
            "deleted": False,
            "metrics": {name: 0 for name in _COUNTERS.values()},
        }
        self.posts.append(post)
        if reply:
            parent = next((p for p in self.posts if p["uri"] == reply["parent"]["uri"]), None)
            if parent is not None:
                parent["metrics"]["replyCount"] += 1
        return post

    # --- routing, auth and rate limits ----------------------------------------------------

    def server_time(self) -> float:
        return self.clock()

    def routes(self) -> None:
        session, write = ("createSession", "createSessionDay"), ("write", "writeDay")
        # (method, NSID, handler, rate-limit buckets besides global, cost, needs an access token)
        endpoints: list[tuple[str, str, Handler, tuple[str, ...], int, bool]] = [
            ("POST", "com.atproto.server.createSession", self._create_session, session, 1, False),
            ("POST", "com.atproto.server.refreshSession", self._refresh_session, (), 1, False),
            ("GET", "com.atproto.server.getSession", self._get_session, (), 1, True),
            ("GET", "com.atproto.identity.resolveHandle", self._resolve_handle, (), 1, False),
            ("POST", "com.atproto.repo.uploadBlob", self._upload_blob, ("uploadBlob",), 1, True),
            ("POST", "com.atproto.repo.createRecord", self._create_record, write, 3, True),
            ("GET", "com.atproto.repo.getRecord", self._get_record, (), 1, False),
            ("GET", "com.atproto.repo.describeRepo", self._describe_repo, (), 1, False),
            ("POST", "com.atproto.repo.deleteRecord", self._delete_record, write, 1, True),
            ("GET", "app.bsky.feed.getPosts", self._get_posts, (), 1, True),
            ("GET", "app.bsky.actor.getProfile", self._get_profile, (), 1, True),
        ]  # fmt: skip
        for method, nsid, handler, buckets, cost, auth in endpoints:
            if nsid.startswith("app.bsky."):
                handler = self._through_appview(nsid, handler)
            guarded = self._guard(handler, buckets=buckets, cost=cost, auth=auth)
            self.route(method, "/xrpc/" + re.escape(nsid), guarded)
        for method in ("GET", "POST"):
            self.route(method, r"/xrpc/.+", self._guard(self._not_implemented, auth=False))

    def _guard(
        self, handler: Handler, *, buckets: tuple[str, ...] = (), cost: int = 1, auth: bool = True
    ) -> Handler:
        """The token first (a refusal carries no rate-limit headers), then every limit the
        request counts against, then ``handler``; the headers name the tightest limit."""

        def guarded(request: Request) -> Response:
            with self._lock:
                denied = self._check_access(request) if auth else None
                if denied is not None:
                    return denied
                costs = {"global": 1, **dict.fromkeys(buckets, cost)}
                refused = self._take(costs)
                response = refused or handler(request)
                response.headers.update(self._limit_headers(costs))
                return response

        return guarded

    def _check_access(self, request: Request) -> Response | None:
        header = _header(request, "authorization")
        if not header:
            return _xrpc_error(401, "AuthMissing", "Authentication Required")
        if not header.startswith("Bearer "):
            return _xrpc_error(400, "InvalidToken", "Unexpected authorization type")
        token = header.removeprefix("Bearer ")
        if token in self._refresh:
            return _xrpc_error(400, "InvalidToken", "Invalid token type")
        valid = self._access.get(token)
        if valid is None:
            return self._token_error("InvalidToken", "Token could not be verified")
        if not valid:
            return self._token_error("ExpiredToken", "Token has expired")
        return None

    def _token_error(self, error: str, message: str) -> Response:
        return _xrpc_error(401 if self.entryway else 400, error, message)

    def _bucket(self, bucket: str) -> tuple[RateLimit, float, int]:
        limit = self.limits[bucket]
        now = self.clock()
        start, used = self._windows.get(bucket, (now, 0))
        if now >= start + limit.window:
            start, used = now, 0
        return limit, start, used

    def _take(self, costs: Mapping[str, int]) -> Response | None:
        """Count the request against each limit; a 429 when one of them is used up."""
        refused = False
        for bucket, cost in costs.items():
            limit, start, used = self._bucket(bucket)
            # rate-limiter-flexible counts a refused request's points too, so the 429's
            # ratelimit-remaining is 0 (not what was left before it).
            refused = refused or used + cost > limit.limit
            self._windows[bucket] = (start, used + cost)
        return _xrpc_error(429, "RateLimitExceeded", "Rate Limit Exceeded") if refused else None

    def _limit_headers(
        self, costs: Mapping[str, int], *, reset_in: float | None = None
    ) -> dict[str, str]:
        """The ``ratelimit-*`` headers of the tightest limit (fewest points left), as
        xrpc-server sends them; the reset is whole epoch seconds, rounded down."""
        tightest = None
        for bucket in costs:
            limit, start, used = self._bucket(bucket)
            remaining = max(0, limit.limit - used)
            if tightest is None or remaining < tightest[1]:
                tightest = (limit, remaining, start + limit.window)
        assert tightest is not None
        limit, remaining, reset = tightest
        if reset_in is not None:
            remaining, reset = 0, self.clock() + reset_in
        return {
            "ratelimit-limit": str(limit.limit),
            "ratelimit-remaining": str(remaining),
            "ratelimit-reset": str(math.floor(reset)),
            "ratelimit-policy": f"{limit.limit};w={limit.window}",
        }

    def error_response(self, fault: Fault, request: Request) -> Response:
        nsid = _nsid(request.path)
        bucket = {
            "com.atproto.server.createSession": "createSession",
            "com.atproto.repo.createRecord": "write",
            "com.atproto.repo.deleteRecord": "write",
            "com.atproto.repo.uploadBlob": "uploadBlob",
        }.get(nsid, "global")
        costs = {bucket: 1}
        with self._lock:
            if fault.kind == "rate_limit":
                response = _xrpc_error(429, "RateLimitExceeded", "Rate Limit Exceeded")
                response.headers.update(self._limit_headers(costs, reset_in=fault.retry_after))
                return response
            if fault.kind == "auth" and nsid == "com.atproto.server.createSession":
                response = _xrpc_error(
                    401, "AuthenticationRequired", "Invalid identifier or password"
                )
            elif fault.kind == "auth":
                response = self._token_error("ExpiredToken", fault.message or "Token has expired")
            elif fault.kind == "server_error":
                response = _xrpc_error(500, "InternalServerError", "Internal Server Error")
            elif fault.kind == "unavailable":
                response = _xrpc_error(503, "NotEnoughResources", "Not Enough Resources")
            else:
                response = _invalid(
                    fault.message
                    or f"Invalid {POST} record: grapheme too big (maximum 300, got 301) at "
                    "$.record.text"
                )
            response.headers.update(self._limit_headers(costs))
            return response

    # --- sessions -------------------------------------------------------------------------

    def _jwt(self, kind: str, scope: str, lifetime: int) -> str:
        now = int(time.time())
        header = {"typ": kind, "alg": "HS256"}
        claims = {
            "scope": scope,
            "sub": self.did,
            "aud": "did:web:bsky.social",
            "jti": secrets.token_urlsafe(16),
            "iat": now,
            "exp": now + lifetime,
        }
        signing_input = (
            f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        )
        signature = hmac.new(self._signing_key, signing_input.encode(), hashlib.sha256).digest()
        token = f"{signing_input}.{_b64url(signature)}"
        self.issued_tokens.append(token)
        return token

    def _issue(self) -> dict[str, Any]:
        access = self._jwt("at+jwt", "com.atproto.appPass", self.access_lifetime)
        refresh = self._jwt("refresh+jwt", "com.atproto.refresh", REFRESH_LIFETIME)
        self._access[access] = True
        self._refresh[refresh] = None
        answer: dict[str, Any] = {
            "accessJwt": access,
            "refreshJwt": refresh,
            "handle": self.handle,
            "did": self.did,
            "active": True,
        }
        if self.did_doc:
            answer["didDoc"] = self._did_document()
        return answer

    def _did_document(self) -> dict[str, Any]:
        """The account's DID document as the PDS includes it: its PDS is this server."""
        return {
            "@context": [
                "https://www.w3.org/ns/did/v1",
                "https://w3id.org/security/multikey/v1",
                "https://w3id.org/security/suites/secp256k1-2019/v1",
            ],
            "id": self.did,
            "alsoKnownAs": [f"at://{self.handle}"],
            "verificationMethod": [
                {
                    "id": f"{self.did}#atproto",
                    "type": "Multikey",
                    "controller": self.did,
                    "publicKeyMultibase": "zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF",
                }
            ],
            "service": [
                {
                    "id": "#atproto_pds",
                    "type": "AtprotoPersonalDataServer",
                    "serviceEndpoint": self.url,
                }
            ],
        }

    def _create_session(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict) or not body.get("identifier") or not body.get("password"):
            return _invalid("Input must have the properties identifier and password")
        known = body["identifier"] in (self.handle, self.did)
        if not known or self.password is None or body["password"] != self.password:
            return _xrpc_error(401, "AuthenticationRequired", "Invalid identifier or password")
        self.session_creations += 1
        return Response(
            200,
            {
                **self._issue(),
                "email": "presse@botschaft.example",
                "emailConfirmed": True,
                "emailAuthFactor": False,
            },
        )

    def _refresh_session(self, request: Request) -> Response:
        """A new token pair; the refresh token used stays good for `REFRESH_GRACE` seconds more
        (so two processes refreshing with it both succeed), then is refused."""
        token = _header(request, "authorization").removeprefix("Bearer ")
        if token in self._access:
            return _xrpc_error(400, "InvalidToken", "Invalid token type")
        if token not in self._refresh:
            return self._token_error("InvalidToken", "Token could not be verified")
        ends = self._refresh[token]
        now = self.clock()
        if ends is not None and now >= ends:
            return _xrpc_error(400, "ExpiredToken", "Token has been revoked")
        if ends is None:
            self._refresh[token] = now + REFRESH_GRACE
        self.session_refreshes += 1
        return Response(
            200, {**self._issue(), "email": "presse@botschaft.example", "emailConfirmed": True}
        )

    def _get_session(self, request: Request) -> Response:
        return Response(
            200,
            {
                "handle": self.handle,
                "did": self.did,
                "email": "presse@botschaft.example",
                "emailConfirmed": True,
                "active": True,
            },
        )

    def _resolve_handle(self, request: Request) -> Response:
        did = self.accounts.get((request.arg("handle") or "").lower())
        if did is None:
            return _invalid("Unable to resolve handle")
        return Response(200, {"did": did})

    # --- the repository -------------------------------------------------------------------

    def _upload_blob(self, request: Request) -> Response:
        data = request.body
        declared = _header(request, "content-type")
        if not declared:
            return _invalid("Request encoding (Content-Type) required but not provided")
        # The PDS sniffs images; anything else keeps the declared type (atproto sends "*/*").
        mime = next((kind for magic, kind in _IMAGE_MAGIC if data.startswith(magic)), declared)
        cid = _cid(data, raw=True)
        self.blobs[cid] = {"mimeType": mime, "size": len(data)}
        blob = {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime, "size": len(data)}
        return Response(200, {"blob": blob})

    def _create_record(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict) or not isinstance(body.get("record"), dict):
            return _invalid("Input must have the property record")
        if body.get("repo") not in (self.did, self.handle):
            return _invalid(f"Could not find repo: {body.get('repo')}")
        if body.get("collection") != POST:
            return _invalid(f"Lexicon not found: lex:{body.get('collection')}")
        rkey = body.get("rkey") or self._next_tid()
        if not isinstance(rkey, str) or not _TID.fullmatch(rkey):
            return _invalid(
                f'Invalid record key for {POST}: Invalid TID string (got "{rkey}") at $'
            )
        record = dict(body["record"])
        record.setdefault("$type", POST)
        problem = self._validate(record)
        if problem is not None:
            return problem
        if self._live(rkey) is not None:
            if self.duplicate_status == 409:
                uri = f"at://{self.did}/{POST}/{rkey}"
                return _xrpc_error(409, "RecordAlreadyExists", f"Record already exists: {uri}")
            return _xrpc_error(500, "InternalServerError", "Internal Server Error")
        post = self._store(rkey, record, embed=self._embed_view(record))
        return Response(
            200,
            {
                "uri": post["uri"],
                "cid": post["cid"],
                "commit": {"cid": _cid(post["cid"].encode()), "rev": self._next_tid()},
                "validationStatus": "valid",
            },
        )

    def _validate(self, record: dict[str, Any]) -> Response | None:
        """The lexicon's checks of a post, refused with the reference PDS's messages."""
        text = record.get("text")
        for key in ("text", "createdAt"):
            if not isinstance(record.get(key), str):
                return _invalid_post(f'Missing required key "{key}" at $.record')
        assert isinstance(text, str)
        if (size := len(text.encode("utf-8"))) > 3000:
            return _invalid_post(f"string too big (maximum 3000, got {size}) at $.record.text")
        if (count := textrules.graphemes(text)) > 300:
            return _invalid_post(f"grapheme too big (maximum 300, got {count}) at $.record.text")
        for n, facet in enumerate(record.get("facets") or []):
            index = facet.get("index") or {}
            # The lexicon only asks for non-negative integers: offsets past the end of the
            # text (or not on a character boundary) are stored as sent, as the real PDS does.
            for key in ("byteStart", "byteEnd"):
                value = index.get(key)
                where = f"$.record.facets[{n}].index"
                if not isinstance(value, int):
                    return _invalid_post(f'Missing required key "{key}" at {where}')
                if value < 0:
                    return _invalid_post(
                        f"integer too small (minimum 0, got {value}) at {where}.{key}"
                    )
        embed = record.get("embed")
        if embed is None:
            return None
        if embed.get("$type") != IMAGES:
            return _invalid_post(f"embed $type {embed.get('$type')} is not supported here")
        images = embed.get("images") or []
        if len(images) > MAX_IMAGES:
            return _invalid_post(
                f"array too big (maximum {MAX_IMAGES}, got {len(images)}) at $.record.embed.images"
            )
        for n, image in enumerate(images):
            where = f"$.record.embed.images[{n}]"
            if not isinstance(image.get("alt"), str):
                return _invalid_post(f'Missing required key "alt" at {where}')
            ref = ((image.get("image") or {}).get("ref") or {}).get("$link")
            blob = self.blobs.get(ref or "")
            if blob is None:
                return _xrpc_error(400, "BlobNotFound", f"Could not find blob: {ref}")
            if not blob["mimeType"].startswith("image/"):
                return _invalid_post(
                    f'Expected "image/*" (got "{blob["mimeType"]}") at {where}.image.mimeType'
                )
            if blob["size"] > MAX_IMAGE_BYTES:
                return _invalid_post(
                    f"blob too big (maximum {MAX_IMAGE_BYTES}, got {blob['size']}) at {where}.image"
                )
            ratio = image.get("aspectRatio")
            if ratio is None:
                continue
            for key in ("width", "height"):
                value = ratio.get(key) if isinstance(ratio, dict) else None
                if not isinstance(value, int):
                    return _invalid_post(f'Missing required key "{key}" at {where}.aspectRatio')
                if value < 1:
                    return _invalid_post(
                        f"integer too small (minimum 1, got {value}) at {where}.aspectRatio.{key}"
                    )
        return None

    def _embed_view(self, record: dict[str, Any]) -> dict[str, Any] | None:
        embed = record.get("embed")
        if not embed:
            return None
        views = []
        for image in embed.get("images") or []:
            cid = image["image"]["ref"]["$link"]
            views.append(
                {
                    "thumb": f"https://cdn.bsky.app/img/feed_thumbnail/plain/{self.did}/{cid}@jpeg",
                    "fullsize": f"https://cdn.bsky.app/img/feed_fullsize/plain/{self.did}/{cid}@jpeg",
                    "alt": image.get("alt", ""),
                    **({"aspectRatio": image["aspectRatio"]} if image.get("aspectRatio") else {}),
                }
            )
        return {"$type": f"{IMAGES}#view", "images": views}

    def _get_record(self, request: Request) -> Response:
        repo, rkey = request.arg("repo"), request.arg("rkey") or ""
        collection = request.arg("collection")
        if repo not in (self.did, self.handle):
            return _invalid("Could not locate record")
        if collection == PROFILE and rkey == "self" and self.display_name:
            record = {"$type": PROFILE, "displayName": self.display_name}
            uri = f"at://{self.did}/{PROFILE}/self"
            return Response(200, {"uri": uri, "cid": _cid(uri.encode()), "value": record})
        post = self._live(rkey) if collection == POST else None
        if post is None:
            uri = f"at://{repo}/{collection}/{rkey}"
            return _xrpc_error(400, "RecordNotFound", f"Could not locate record: {uri}")
        return Response(200, {"uri": post["uri"], "cid": post["cid"], "value": post["record"]})

    def _describe_repo(self, request: Request) -> Response:
        if request.arg("repo") not in (self.did, self.handle):
            return _invalid(f"Could not find repo: {request.arg('repo')}")
        collections = [PROFILE] if self.display_name else []
        collections += [POST] if self.posts else []
        return Response(
            200,
            {
                "handle": self.handle,
                "did": self.did,
                "didDoc": self._did_document(),
                "collections": collections,
                "handleIsCorrect": True,
            },
        )

    def _delete_record(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict) or body.get("repo") not in (self.did, self.handle):
            return _invalid("Could not find repo")
        post = self._live(str(body.get("rkey"))) if body.get("collection") == POST else None
        if post is None:
            return Response(200, {})  # nothing to delete: no commit
        post["deleted"] = True
        return Response(
            200, {"commit": {"cid": _cid(secrets.token_bytes(8)), "rev": self._next_tid()}}
        )

    # --- the AppView ----------------------------------------------------------------------

    def _author(self) -> dict[str, Any]:
        return {
            "did": self.did,
            "handle": self.handle,
            "displayName": self.display_name,
            "avatar": f"https://cdn.bsky.app/img/avatar/plain/{self.did}/bafkreiavatar@jpeg",
            "viewer": {"muted": False, "blockedBy": False},
            "labels": [],
            "createdAt": "2023-05-04T09:00:00.000Z",
        }

    def _get_posts(self, request: Request) -> Response:
        uris = request.query.get("uris", [])
        if not uris:
            return _invalid('Params must have the property "uris"')
        if len(uris) > MAX_URIS:
            return _invalid(f"Error: uris must not have more than {MAX_URIS} elements")
        views = []
        for uri in uris:
            post = next((p for p in self.posts if p["uri"] == uri and not p["deleted"]), None)
            if post is None or uri in self.hidden:
                continue
            metrics = dict(post["metrics"])
            if not self.bookmark_counts:
                metrics.pop("bookmarkCount")
            view: dict[str, Any] = {
                "uri": post["uri"],
                "cid": post["cid"],
                "author": self._author(),
                "record": post["record"],
                **metrics,
                "indexedAt": _iso(post["indexed_at"]),
                "viewer": {"threadMuted": False, "embeddingDisabled": False},
                "labels": [],
            }
            if post["embed_view"] is not None:
                view["embed"] = post["embed_view"]
            views.append(view)
        return Response(200, {"posts": views})

    def _get_profile(self, request: Request) -> Response:
        actor = request.arg("actor") or ""
        if actor not in (self.handle, self.did):
            handle = next((h for h, d in self.accounts.items() if actor in (h, d)), None)
            if handle is None:
                return _invalid("Profile not found")
            return Response(200, {"did": self.accounts[handle], "handle": handle, "labels": []})
        live = sum(1 for post in self.posts if not post["deleted"])
        return Response(
            200,
            {
                **self._author(),
                "description": "Offizieller Account der Pressestelle.",
                "followersCount": self.followers,
                "followsCount": 42,
                "postsCount": live,
                "indexedAt": _iso(self.clock()),
                "associated": {"lists": 0, "feedgens": 0, "starterPacks": 0, "labeler": False},
            },
        )

    def _through_appview(self, nsid: str, handler: Handler) -> Handler:
        """``handler`` as the AppView behind the PDS; without one the PDS cannot forward it."""

        def forwarded(request: Request) -> Response:
            if not self.appview:
                return _invalid(f"No service configured for {nsid}")
            return handler(request)

        return forwarded

    def _not_implemented(self, request: Request) -> Response:
        if not self.appview:
            return _invalid(f"No service configured for {_nsid(request.path)}")
        return _xrpc_error(501, "MethodNotImplemented", "Method Not Implemented")
