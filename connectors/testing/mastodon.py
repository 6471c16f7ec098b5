"""A Mastodon instance (REST API of Mastodon 4.3) for tests, benchmarks and demos: one local
account, the endpoints Elshi's connector reaches through Mastodon.py (instance information, verify
credentials, post/read/delete statuses, read statuses in batches, the account's statuses with
pagination, media uploads with asynchronous processing), Mastodon's JSON shapes (HTML content with
linkified URLs, mentions and hashtags), its bearer-token and scope checks, its ``Idempotency-Key``
handling, its post length rule (`campaigns.textrules.mastodon_length`) and its error bodies and
``X-RateLimit-*`` headers. It keeps every status it accepted in `posts`; it does not federate,
notify or render timelines other than the account's own.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from campaigns.textrules import URL_RE, mastodon_length
from connectors.base import Clock, system_clock
from connectors.testing.server import Emulator, Fault, Handler, Request, Response, StoredPost

DEFAULT_TOKEN = "mastodon-emulator-token"
RATE_LIMIT_PERIOD = 300
"""Mastodon's general API limit: 300 requests per 5 minutes per account."""
STATUSES_BATCH_LIMIT = 20
"""``GET /api/v1/statuses?id[]=`` refuses more ids (Api::BaseController DEFAULT_STATUSES_LIMIT)."""
MAX_MEDIA = 4
IMAGE_SIZE_LIMIT = 16 * 1024 * 1024
MAX_DESCRIPTION = 1500
"""Characters of a media attachment's description (alt text): MediaAttachment's validation."""

_ENTITY_RE = re.compile(
    rf"(?P<url>{URL_RE.pattern})"
    r"|(?<![\w/])@(?P<user>\w+)(?:@(?P<domain>[\w.-]+\w))?"
    r"|(?<![\w/&])#(?P<tag>\w*[^\W\d]\w*)"
)
_URL_PREFIX_RE = re.compile(r"\Ahttps?://(?:www\.)?")

_HTML_500 = (
    b"<!DOCTYPE html>\n<html><head><title>We're sorry, but something went wrong (500)</title>"
    b"</head><body><div class='dialog'><h1>We're sorry, but something went wrong on our end."
    b"</h1></div></body></html>\n"
)
_HTML_503 = (
    b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    b"<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>"
    b"\r\n</body>\r\n</html>\r\n"
)


def _iso(instant: datetime, *, digits: int = 3) -> str:
    """Mastodon's timestamps: UTC with milliseconds (``iso8601(3)``), rate-limit resets with
    microseconds (``iso8601(6)``)."""
    text = instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return text[: len(text) - 6 + digits] + "Z"


def _version(text: str) -> tuple[int, ...]:
    parts = (re.match(r"\d+", part) for part in text.split(".")[:3])
    return tuple(int(part.group(0)) if part else 0 for part in parts)


def _sniff(data: bytes) -> tuple[str, str] | None:
    """(MIME type, media type) from the file's magic bytes, as Mastodon's Paperclip does."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png", "image"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg", "image"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif", "gifv"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "image"
    if data[4:8] == b"ftyp":
        return "video/mp4", "video"
    return None


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return None


class MastodonEmulator(Emulator):
    """One Mastodon account on a local instance.

    ``token`` is the valid bearer token and ``scopes`` its OAuth scopes; ``version`` is what the
    instance reports (``quotes_count`` appears from 4.5, ``GET /api/v1/statuses?id[]`` from
    4.3); ``media_processing_polls`` makes uploads asynchronous (202 with ``url: null``, then that
    many 206 answers to ``GET /api/v1/media/:id``); ``idempotency_ttl`` is how long an
    ``Idempotency-Key`` is remembered (Mastodon: one hour); ``enforce_rate_limit`` answers 429
    once ``rate_limit`` requests were made in the current 5-minute window. ``clock`` stamps
    statuses and rate-limit resets, so a test can share a fake clock with the connector.
    """

    name = "mastodon"

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        scopes: Iterable[str] = ("read", "write"),
        latency: float = 0.0,
        max_characters: int = 500,
        description_limit: int = MAX_DESCRIPTION,
        version: str = "4.3.0",
        media_processing_polls: int = 0,
        idempotency_ttl: float = 3600.0,
        rate_limit: int = 300,
        enforce_rate_limit: bool = False,
        username: str = "pressestelle",
        display_name: str = "Pressestelle",
        followers: int = 0,
        clock: Clock = system_clock,
    ) -> None:
        super().__init__(latency=latency)
        self.token = token
        self.scopes = set(scopes)
        self.max_characters = max_characters
        self.description_limit = description_limit
        """The instance's alt text limit (an admin may raise Mastodon's 1,500; reported from
        4.4 as ``media_attachments.description_limit``)."""
        self.version = version
        self.media_processing_polls = media_processing_polls
        self.idempotency_ttl = idempotency_ttl
        self.rate_limit = rate_limit
        self.enforce_rate_limit = enforce_rate_limit
        self.username = username
        self.display_name = display_name
        self.followers = followers
        self.clock = clock
        self.posts: list[dict[str, Any]] = []
        """Every status this instance accepted, in order, as stored (deleted ones flagged)."""
        self.media: dict[str, dict[str, Any]] = {}
        self._by_id: dict[str, dict[str, Any]] = {}
        self._statuses_count = 0
        self._last_status_at: datetime | None = None
        self._token_error: str | None = None
        self._idempotency: dict[str, tuple[str, datetime]] = {}
        self._last_id = 0
        self._window: tuple[int, int] = (0, 0)
        self.account_id = self._next_id()
        self.created_at = clock()

    def start(self) -> MastodonEmulator:
        super().start()
        assert self._server is not None
        # The base server sends headers and body in two writes; without TCP_NODELAY each answer
        # waits ~40 ms for the client's delayed ACK, which would dominate benchmarks.
        setattr(self._server.RequestHandlerClass, "disable_nagle_algorithm", True)  # noqa: B010
        return self

    def __enter__(self) -> MastodonEmulator:
        return self.start()

    # --- controls for tests -----------------------------------------------------------------

    def expire_token(self, message: str = "The access token expired") -> None:
        """From now on the token is refused with Doorkeeper's 401 and ``message`` ("The access
        token was revoked" for a token its user revoked under Preferences → Authorized apps)."""
        with self._lock:
            self._token_error = message

    def set_metrics(self, post_id: str, **counters: int) -> None:
        """Set a status's counters by Elshi's names (``likes``, ``reposts``, ``replies``,
        ``quotes``); Mastodon has no others, so the rest are ignored."""
        with self._lock:
            post = self._post(post_id)
            if post is None:
                raise KeyError(f"no status {post_id}")
            for name, key in (
                ("likes", "favourites_count"),
                ("reposts", "reblogs_count"),
                ("replies", "replies_count"),
                ("quotes", "quotes_count"),
            ):
                if counters.get(name) is not None:
                    post[key] = counters[name]

    def delete_post(self, post_id: str) -> None:
        """Delete a status as its author would in the web interface."""
        with self._lock:
            post = self._post(post_id)
            if post is None or post["deleted"]:
                raise KeyError(f"no status {post_id}")
            self._delete(post)

    def reset(self) -> None:
        with self._lock:
            self.posts.clear()
            self.media.clear()
            self._by_id.clear()
            self._statuses_count = 0
            self._last_status_at = None
            self._token_error = None
            self._idempotency.clear()
            self._window = (0, 0)
            self.requests.clear()
            self.clear_faults()

    def stored(self) -> list[StoredPost]:
        with self._lock:
            return [
                StoredPost(
                    id=post["id"],
                    text=post["text"],
                    alt=tuple(self.media[m].get("description") or "" for m in post["media_ids"]),
                    reply_to=post["in_reply_to_id"],
                    deleted=post["deleted"],
                )
                for post in self.posts
            ]

    def live_posts(self) -> list[dict[str, Any]]:
        with self._lock:
            return [post for post in self.posts if not post["deleted"]]

    # --- Mastodon's rendering of faults -----------------------------------------------------

    def error_response(self, fault: Fault, request: Request) -> Response:
        if fault.kind == "rate_limit":
            reset = self.clock() + timedelta(seconds=fault.retry_after)
            return self._too_many_requests(reset)
        if fault.kind == "server_error":
            response = Response(500, raw=_HTML_500, content_type="text/html; charset=utf-8")
        elif fault.kind == "unavailable":
            response = Response(503, raw=_HTML_503, content_type="text/html")
        elif fault.kind == "auth":
            response = self._unauthorized(fault.message or "The access token is invalid")
        else:
            reason = f"Validation failed: Text character limit of {self.max_characters} exceeded"
            response = Response(422, {"error": fault.message or reason})
        with self._lock:
            response.headers.update(self._rate_headers())
        return response

    # --- routing ----------------------------------------------------------------------------

    def server_time(self) -> float:
        return self.clock().timestamp()

    def routes(self) -> None:
        self.route("GET", r"/api/v1/instance/?", self._instance_v1)
        self.route("GET", r"/api/v2/instance/?", self._instance_v2)
        api = self._api
        self.route(
            "GET",
            r"/api/v1/accounts/verify_credentials",
            api(self._verify_credentials, "read", "read:accounts", "profile"),
        )
        self.route(
            "GET",
            r"/api/v1/accounts/(?P<id>\d+)/statuses",
            api(self._account_statuses, "read", "read:statuses"),
        )
        self.route("POST", r"/api/v1/statuses", api(self._create, "write", "write:statuses"))
        self.route("GET", r"/api/v1/statuses", api(self._index, "read", "read:statuses"))
        self.route("GET", r"/api/v1/statuses/(?P<id>\d+)", api(self._show, "read", "read:statuses"))
        self.route(
            "DELETE",
            r"/api/v1/statuses/(?P<id>\d+)",
            api(self._destroy, "write", "write:statuses"),
        )
        self.route("POST", r"/api/v2/media", api(self._upload, "write", "write:media"))
        self.route("GET", r"/api/v1/media/(?P<id>\d+)", api(self._media, "write", "write:media"))

    def _api(self, handler: Handler, *scopes: str) -> Handler:
        """Doorkeeper's token and scope check, Rack::Attack's limit, and the rate-limit headers
        every answer carries."""

        def guarded(request: Request) -> Response:
            with self._lock:
                throttled = self._count_request()
                if throttled is not None:
                    return self._too_many_requests(throttled)
                bearer = request.headers.get("Authorization", "")
                if bearer != f"Bearer {self.token}":
                    response = self._unauthorized("The access token is invalid")
                elif self._token_error is not None:
                    response = self._unauthorized(self._token_error)
                elif not self.scopes.intersection(scopes):
                    response = Response(
                        403, {"error": "This action is outside the authorized scopes"}
                    )
                else:
                    response = handler(request)
                response.headers.update(self._rate_headers())
                return response

        return guarded

    def _count_request(self) -> datetime | None:
        """Counts a request in the current window; the window's reset when it is over the
        limit and the limit is enforced."""
        window, count = self._window
        now = self.clock()
        current = int(now.timestamp()) // RATE_LIMIT_PERIOD
        count = count + 1 if current == window else 1
        self._window = (current, count)
        if self.enforce_rate_limit and count > self.rate_limit:
            return self._window_reset()
        return None

    def _window_reset(self) -> datetime:
        window = int(self.clock().timestamp()) // RATE_LIMIT_PERIOD
        return datetime.fromtimestamp((window + 1) * RATE_LIMIT_PERIOD, UTC)

    def _rate_headers(self) -> dict[str, str]:
        window, count = self._window
        current = int(self.clock().timestamp()) // RATE_LIMIT_PERIOD
        used = count if current == window else 0
        return {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(0, self.rate_limit - used)),
            "X-RateLimit-Reset": _iso(self._window_reset(), digits=6),
        }

    def _too_many_requests(self, reset: datetime) -> Response:
        return Response(
            429,
            {"error": "Too many requests"},
            headers={
                "X-RateLimit-Limit": str(self.rate_limit),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": _iso(reset, digits=6),
            },
        )

    @staticmethod
    def _unauthorized(message: str) -> Response:
        return Response(
            401,
            {"error": message},
            headers={
                "WWW-Authenticate": 'Bearer realm="Doorkeeper", error="invalid_token", '
                f'error_description="{message}"'
            },
        )

    # --- instance ---------------------------------------------------------------------------

    def _host(self) -> str:
        return urlsplit(self.url).netloc

    def _instance_v1(self, request: Request) -> Response:
        with self._lock:
            response = Response(
                200,
                {
                    "uri": self._host(),
                    "title": "Elshi test instance",
                    "short_description": "A local stand-in for a Mastodon instance.",
                    "description": "",
                    "email": "admin@example.org",
                    "version": self.version,
                    "urls": {"streaming_api": self.url.replace("http", "ws", 1)},
                    "stats": {
                        "user_count": 1,
                        "status_count": len(self.posts),
                        "domain_count": 1,
                    },
                    "thumbnail": f"{self.url}/packs/media/images/preview.png",
                    "languages": ["de", "en"],
                    "registrations": False,
                    "approval_required": False,
                    "invites_enabled": False,
                    "configuration": {
                        "accounts": {"max_featured_tags": 10},
                        "statuses": self._statuses_configuration(),
                        "media_attachments": self._media_configuration(),
                    },
                    "contact_account": None,
                    "rules": [],
                },
            )
            response.headers.update(self._rate_headers())
        return response

    def _instance_v2(self, request: Request) -> Response:
        with self._lock:
            response = Response(
                200,
                {
                    "domain": self._host(),
                    "title": "Elshi test instance",
                    "version": self.version,
                    "source_url": "https://github.com/mastodon/mastodon",
                    "description": "A local stand-in for a Mastodon instance.",
                    "usage": {"users": {"active_month": 1}},
                    "thumbnail": {"url": f"{self.url}/packs/media/images/preview.png"},
                    "languages": ["de", "en"],
                    "configuration": {
                        "urls": {"streaming": self.url.replace("http", "ws", 1), "status": None},
                        "vapid": {"public_key": ""},
                        "accounts": {"max_featured_tags": 10, "max_pinned_statuses": 5},
                        "statuses": self._statuses_configuration(),
                        "media_attachments": self._media_configuration(),
                        "polls": {
                            "max_options": 4,
                            "max_characters_per_option": 50,
                            "min_expiration": 300,
                            "max_expiration": 2629746,
                        },
                        "translation": {"enabled": False},
                    },
                    "registrations": {
                        "enabled": False,
                        "approval_required": False,
                        "message": None,
                    },
                    "api_versions": {"mastodon": 2},
                    "contact": {"email": "admin@example.org", "account": None},
                    "rules": [],
                },
            )
            response.headers.update(self._rate_headers())
        return response

    def _statuses_configuration(self) -> dict[str, int]:
        return {
            "max_characters": self.max_characters,
            "max_media_attachments": MAX_MEDIA,
            "characters_reserved_per_url": 23,
        }

    def _media_configuration(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "supported_mime_types": ["image/jpeg", "image/png", "image/gif", "image/webp"],
            "image_size_limit": IMAGE_SIZE_LIMIT,
            "image_matrix_limit": 33177600,
            "video_size_limit": 103809024,
            "video_frame_rate_limit": 120,
            "video_matrix_limit": 8294400,
        }
        if _version(self.version) >= (4, 4):
            out["description_limit"] = self.description_limit
        return out

    # --- accounts ---------------------------------------------------------------------------

    def _account_json(self) -> dict[str, Any]:
        last = self._last_status_at
        return {
            "id": self.account_id,
            "username": self.username,
            "acct": self.username,
            "display_name": self.display_name,
            "locked": False,
            "bot": False,
            "discoverable": True,
            "indexable": True,
            "group": False,
            "created_at": _iso(self.created_at.replace(hour=0, minute=0, second=0, microsecond=0)),
            "note": "<p>Offizieller Account.</p>",
            "url": f"{self.url}/@{self.username}",
            "uri": f"{self.url}/users/{self.username}",
            "avatar": f"{self.url}/avatars/original/missing.png",
            "avatar_static": f"{self.url}/avatars/original/missing.png",
            "header": f"{self.url}/headers/original/missing.png",
            "header_static": f"{self.url}/headers/original/missing.png",
            "followers_count": self.followers,
            "following_count": 0,
            "statuses_count": self._statuses_count,
            "last_status_at": last.strftime("%Y-%m-%d") if last else None,
            "hide_collections": False,
            "noindex": False,
            "emojis": [],
            "roles": [],
            "fields": [],
        }

    def _verify_credentials(self, request: Request) -> Response:
        account = self._account_json()
        account["source"] = {
            "privacy": "public",
            "sensitive": False,
            "language": "de",
            "note": "Offizieller Account.",
            "fields": [],
            "follow_requests_count": 0,
            "hide_collections": False,
            "discoverable": True,
            "indexable": True,
            "attribution_domains": [],
        }
        account["role"] = {
            "id": "-99",
            "name": "",
            "permissions": "0",
            "color": "",
            "highlighted": False,
        }
        return Response(200, account)

    def _account_statuses(self, request: Request) -> Response:
        if request.params["id"] != self.account_id:
            return Response(404, {"error": "Record not found"})

        def number(name: str) -> int | None:
            values = request.query.get(name)
            return int(values[-1]) if values and values[-1].isdigit() else None

        def flag(name: str) -> bool:
            return (request.query.get(name) or ["0"])[-1] in ("1", "true", "True")

        if flag("pinned"):
            return Response(200, [])
        limit = min(number("limit") or 20, 40)
        max_id, since_id, min_id = number("max_id"), number("since_id"), number("min_id")
        statuses = sorted(
            (post for post in self.posts if not post["deleted"]),
            key=lambda post: int(post["id"]),
            reverse=True,
        )
        if max_id is not None:
            statuses = [s for s in statuses if int(s["id"]) < max_id]
        if since_id is not None:
            statuses = [s for s in statuses if int(s["id"]) > since_id]
        if flag("exclude_replies"):
            statuses = [s for s in statuses if s["in_reply_to_id"] is None]
        if flag("only_media"):
            statuses = [s for s in statuses if s["media_ids"]]
        if min_id is not None:
            statuses = [s for s in statuses if int(s["id"]) > min_id][-limit:]
        page = statuses[:limit]
        response = Response(200, [self._status_json(post) for post in page])
        if page:
            base = f"{self.url}/api/v1/accounts/{self.account_id}/statuses?limit={limit}"
            response.headers["Link"] = (
                f'<{base}&max_id={page[-1]["id"]}>; rel="next", '
                f'<{base}&min_id={page[0]["id"]}>; rel="prev"'
            )
        return response

    # --- statuses ---------------------------------------------------------------------------

    def _create(self, request: Request) -> Response:
        fields = _fields(request)
        text = _first(fields, "status") or ""
        reply_to = _first(fields, "in_reply_to_id") or None
        media_ids = fields.get("media_ids[]") or fields.get("media_ids") or []
        visibility = _first(fields, "visibility") or "public"
        language = _first(fields, "language") or None
        if reply_to is not None:
            parent = self._post(reply_to)
            if parent is None or parent["deleted"]:
                return Response(
                    404,
                    {"error": "The post you are trying to reply to does not appear to exist."},
                )
        key = request.headers.get("Idempotency-Key")
        if key:
            remembered = self._idempotency.get(key)
            if remembered is not None:
                status_id, stored_at = remembered
                if (self.clock() - stored_at).total_seconds() < self.idempotency_ttl:
                    first = self._post(status_id)
                    if first is None or first["deleted"]:
                        return Response(404, {"error": "Record not found"})
                    return Response(200, self._status_json(first))
        if len(media_ids) > MAX_MEDIA:
            return Response(422, {"error": f"Cannot attach more than {MAX_MEDIA} files"})
        attachments = [
            self.media[media_id]
            for media_id in media_ids
            if media_id in self.media and self.media[media_id]["status_id"] is None
        ]
        if any(attachment["url"] is None for attachment in attachments):
            return Response(
                422,
                {
                    "error": "Cannot attach files that have not finished processing. "
                    "Try again in a moment!"
                },
            )
        if not text.strip() and not attachments:
            return Response(422, {"error": "Validation failed: Text can't be blank"})
        if visibility not in ("public", "unlisted", "private", "direct"):
            return Response(422, {"error": "Validation failed: Visibility is not included"})
        if mastodon_length(text) > self.max_characters:
            return Response(
                422,
                {
                    "error": "Validation failed: Text character limit of "
                    f"{self.max_characters} exceeded"
                },
            )
        status_id = self._next_id()
        post: dict[str, Any] = {
            "id": status_id,
            "text": text,
            "content": self._render(text),
            "created_at": self.clock(),
            "in_reply_to_id": reply_to,
            "media_ids": [attachment["id"] for attachment in attachments],
            "visibility": visibility,
            "language": language,
            "sensitive": _first(fields, "sensitive") in ("1", "true"),
            "spoiler_text": _first(fields, "spoiler_text") or "",
            "idempotency_key": key,
            "favourites_count": 0,
            "reblogs_count": 0,
            "replies_count": 0,
            "quotes_count": 0,
            "deleted": False,
        }
        for attachment in attachments:
            attachment["status_id"] = status_id
        if reply_to is not None:
            parent = self._post(reply_to)
            if parent is not None:
                parent["replies_count"] += 1
        self.posts.append(post)
        self._by_id[status_id] = post
        self._statuses_count += 1
        self._last_status_at = post["created_at"]
        if key:
            self._idempotency[key] = (status_id, self.clock())
        return Response(200, self._status_json(post))

    def _index(self, request: Request) -> Response:
        if _version(self.version) < (4, 3):
            return Response(404, {"error": "Record not found"})
        ids = list(dict.fromkeys(request.query.get("id[]", [])))
        if len(ids) > STATUSES_BATCH_LIMIT:
            return Response(422, {"error": "Mastodon::ValidationError"})
        found = [self._post(status_id) for status_id in ids]
        return Response(
            200, [self._status_json(post) for post in found if post and not post["deleted"]]
        )

    def _show(self, request: Request) -> Response:
        post = self._post(request.params["id"])
        if post is None or post["deleted"]:
            return Response(404, {"error": "Record not found"})
        return Response(200, self._status_json(post))

    def _destroy(self, request: Request) -> Response:
        post = self._post(request.params["id"])
        if post is None or post["deleted"]:
            return Response(404, {"error": "Record not found"})
        body = self._status_json(post)
        body["text"] = post["text"]
        self._delete(post)
        return Response(200, body)

    def _delete(self, post: dict[str, Any]) -> None:
        post["deleted"] = True
        self._statuses_count -= 1
        parent = self._post(post["in_reply_to_id"]) if post["in_reply_to_id"] else None
        if parent is not None and parent["replies_count"] > 0:
            parent["replies_count"] -= 1

    def _post(self, status_id: str) -> dict[str, Any] | None:
        return self._by_id.get(status_id)

    def _status_json(self, post: dict[str, Any]) -> dict[str, Any]:
        parent = self._post(post["in_reply_to_id"]) if post["in_reply_to_id"] else None
        body: dict[str, Any] = {
            "id": post["id"],
            "created_at": _iso(post["created_at"]),
            "in_reply_to_id": post["in_reply_to_id"],
            "in_reply_to_account_id": self.account_id if parent else None,
            "sensitive": post["sensitive"],
            "spoiler_text": post["spoiler_text"],
            "visibility": post["visibility"],
            "language": post["language"],
            "uri": f"{self.url}/users/{self.username}/statuses/{post['id']}",
            "url": f"{self.url}/@{self.username}/{post['id']}",
            "replies_count": post["replies_count"],
            "reblogs_count": post["reblogs_count"],
            "favourites_count": post["favourites_count"],
            "edited_at": None,
            "favourited": False,
            "reblogged": False,
            "muted": False,
            "bookmarked": False,
            "pinned": False,
            "content": post["content"],
            "filtered": [],
            "reblog": None,
            "application": {"name": "Elshi", "website": None},
            "account": self._account_json(),
            "media_attachments": [self._media_json(self.media[m]) for m in post["media_ids"]],
            "mentions": [],
            "tags": [],
            "emojis": [],
            "card": None,
            "poll": None,
        }
        if _version(self.version) >= (4, 5):
            body["quotes_count"] = post["quotes_count"]
            body["quote"] = None
        return body

    def _render(self, text: str) -> str:
        """The HTML Mastodon's TextFormatter makes of plain text: escaped, URLs, mentions and
        hashtags linked, blank lines as paragraphs, single newlines as ``<br />``."""
        paragraphs = [p for p in re.split(r"\n[ \t]*\n", text.strip()) if p]
        rendered = (self._render_line(p).replace("\n", "<br />") for p in paragraphs)
        return "".join(f"<p>{p}</p>" for p in rendered)

    def _render_line(self, text: str) -> str:
        out: list[str] = []
        pos = 0
        for match in _ENTITY_RE.finditer(text):
            out.append(html.escape(text[pos : match.start()], quote=False))
            pos = match.end()
            if match.group("url"):
                out.append(_shortened_link(match.group("url")))
            elif match.group("user"):
                user = html.escape(match.group("user"))
                out.append(
                    f'<span class="h-card" translate="no"><a href="{self.url}/@{user}" '
                    f'class="u-url mention">@<span>{user}</span></a></span>'
                )
            else:
                tag = html.escape(match.group("tag"))
                out.append(
                    f'<a href="{self.url}/tags/{tag.lower()}" class="mention hashtag" '
                    f'rel="tag">#<span>{tag}</span></a>'
                )
        out.append(html.escape(text[pos:], quote=False))
        return "".join(out)

    # --- media ------------------------------------------------------------------------------

    def _upload(self, request: Request) -> Response:
        parts = request.multipart()
        data = parts.get("file")
        if not isinstance(data, bytes):
            return Response(422, {"error": "Validation failed: File can't be blank"})
        kind = _sniff(data)
        if kind is None:
            return Response(
                422, {"error": "Validation failed: File content type is invalid, File is invalid"}
            )
        mime, media_type = kind
        if media_type == "image" and len(data) > IMAGE_SIZE_LIMIT:
            return Response(
                422, {"error": "Validation failed: File file size must be less than 16 MB"}
            )
        description = parts.get("description")
        if isinstance(description, str) and len(description) > self.description_limit:
            return Response(
                422,
                {
                    "error": "Validation failed: Description is too long (maximum is "
                    f"{self.description_limit} characters)"
                },
            )
        media_id = self._next_id()
        attachment: dict[str, Any] = {
            "id": media_id,
            "type": media_type,
            "mime": mime,
            "size": len(data),
            "dimensions": _png_size(data),
            "description": description if isinstance(description, str) else None,
            "polls_left": self.media_processing_polls,
            "url": None,
            "status_id": None,
        }
        self.media[media_id] = attachment
        if attachment["polls_left"] > 0:
            return Response(202, self._media_json(attachment))
        self._finish_processing(attachment)
        return Response(200, self._media_json(attachment))

    def _media(self, request: Request) -> Response:
        attachment = self.media.get(request.params["id"])
        if attachment is None or attachment["status_id"] is not None:
            return Response(404, {"error": "Record not found"})
        if attachment["polls_left"] > 0:
            attachment["polls_left"] -= 1
            return Response(206, self._media_json(attachment))
        self._finish_processing(attachment)
        return Response(200, self._media_json(attachment))

    def _finish_processing(self, attachment: dict[str, Any]) -> None:
        extension = attachment["mime"].split("/")[1].replace("jpeg", "jpg")
        path = f"media_attachments/files/{attachment['id']}"
        attachment["url"] = f"{self.url}/system/{path}/original/file.{extension}"

    def _media_json(self, attachment: dict[str, Any]) -> dict[str, Any]:
        meta: dict[str, Any] = {}
        if attachment["dimensions"] is not None and attachment["url"] is not None:
            width, height = attachment["dimensions"]
            original = {
                "width": width,
                "height": height,
                "size": f"{width}x{height}",
                "aspect": width / height if height else 1.0,
            }
            meta = {"original": original, "small": dict(original)}
        url = attachment["url"]
        return {
            "id": attachment["id"],
            "type": attachment["type"],
            "url": url,
            "preview_url": url and url.replace("/original/", "/small/"),
            "remote_url": None,
            "preview_remote_url": None,
            "text_url": None,
            "meta": meta,
            "description": attachment["description"],
            "blurhash": "UFBWY:8_0Jxv4mx]t8t64.%M-:IUWGWAt6M}" if url else None,
        }

    # --- ids --------------------------------------------------------------------------------

    def _next_id(self) -> str:
        """Mastodon's snowflake ids: milliseconds since the epoch shifted left 16 bits, plus a
        sequence, so ids sort by creation time."""
        with self._lock:
            millis = int(self.clock().timestamp() * 1000)
            self._last_id = max(self._last_id + 1, millis << 16)
            return str(self._last_id)


def _shortened_link(url: str) -> str:
    """Mastodon's TextFormatter.shortened_link: the scheme hidden, the rest cut at 30
    characters into an ellipsis span, all of it kept in the anchor's text."""
    prefix = _URL_PREFIX_RE.match(url)
    head = prefix.group(0) if prefix else ""
    rest = url[len(head) :]
    shown, hidden = rest[:30], rest[30:]
    return (
        f'<a href="{html.escape(url)}" target="_blank" rel="nofollow noopener" translate="no">'
        f'<span class="invisible">{html.escape(head)}</span>'
        f'<span class="{"ellipsis" if hidden else ""}">{html.escape(shown)}</span>'
        f'<span class="invisible">{html.escape(hidden)}</span></a>'
    )


def _fields(request: Request) -> dict[str, list[str]]:
    """The body's fields as Mastodon.py sends them: form-encoded (``media_ids[]`` repeated) or,
    with polls and media attributes, JSON."""
    if "json" in request.headers.get("Content-Type", ""):
        body = request.json()
        if not isinstance(body, Mapping):
            return {}
        return {
            key: [str(v) for v in value] if isinstance(value, list) else [_scalar(value)]
            for key, value in body.items()
        }
    return parse_qs(request.body.decode("utf-8"), keep_blank_values=True)


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def _first(fields: Mapping[str, list[str]], name: str) -> str | None:
    values = fields.get(name)
    return values[0] if values else None
