"""An emulator of the parts of X's API that `connectors.x` uses, speaking X's wire format: API v2
``POST /2/tweets``, ``GET /2/tweets``, ``GET /2/users/me``, ``GET /2/users/:id/tweets`` and the
v1.1 ``POST /1.1/media/upload.json`` (simple image upload), with X's JSON bodies and error shapes
(v2 problem objects, v1.1 ``errors`` lists), the weighted 280-character limit of
`campaigns.textrules`, the duplicate-content refusal, t.co rewriting of links in returned text,
15-minute rate-limit windows with ``x-rate-limit-*`` headers on every answer and the 24-hour post
caps (``x-user-limit-24hour-*``, ``x-app-limit-24hour-*``). It checks that every request carries
the configured OAuth 1.0a consumer key and access token or OAuth 2.0 bearer token, without
verifying signatures. It keeps every accepted post in `posts` and serves no other endpoint.
"""

from __future__ import annotations

import hashlib
import html
import math
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from campaigns import textrules
from connectors.testing.server import Emulator, Fault, Handler, Request, Response, StoredPost

WINDOW_SECONDS = 900
DAY_SECONDS = 86_400
PRIVATE_METRICS_DAYS = 30
MAX_IMAGE_BYTES = 5 * 1024 * 1024

DEFAULT_LIMITS: dict[str, int] = {
    "POST /2/tweets": 100,
    "GET /2/tweets": 900,
    "GET /2/users/me": 75,
    "GET /2/users/:id/tweets": 900,
    "POST /1.1/media/upload": 415,
}
"""Requests per user per 15-minute window, close to X's Pro tier; tests may lower them."""

TWEET_FIELDS = frozenset(
    {
        "attachments",
        "author_id",
        "context_annotations",
        "conversation_id",
        "created_at",
        "edit_controls",
        "edit_history_tweet_ids",
        "entities",
        "geo",
        "id",
        "in_reply_to_user_id",
        "lang",
        "non_public_metrics",
        "organic_metrics",
        "possibly_sensitive",
        "promoted_metrics",
        "public_metrics",
        "referenced_tweets",
        "reply_settings",
        "source",
        "text",
        "withheld",
    }
)
USER_FIELDS = frozenset(
    {
        "created_at",
        "description",
        "entities",
        "id",
        "location",
        "name",
        "pinned_tweet_id",
        "profile_image_url",
        "protected",
        "public_metrics",
        "url",
        "username",
        "verified",
        "withheld",
    }
)
_METRIC_NAMES = {
    "impressions": "impression_count",
    "likes": "like_count",
    "reposts": "retweet_count",
    "replies": "reply_count",
    "quotes": "quote_count",
    "bookmarks": "bookmark_count",
    "link_clicks": "url_link_clicks",
    "profile_clicks": "user_profile_clicks",
}
_PUBLIC = ("retweet_count", "reply_count", "like_count", "quote_count", "bookmark_count")
_INVALID = "https://api.twitter.com/2/problems/invalid-request"
_NOT_FOUND = "https://api.twitter.com/2/problems/resource-not-found"
_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def _problem(status: int, title: str, detail: str, kind: str = "about:blank") -> Response:
    return Response(status, {"title": title, "detail": detail, "type": kind, "status": status})


def _invalid(message: str, parameters: Mapping[str, list[str]]) -> Response:
    return Response(
        400,
        {
            "errors": [{"parameters": dict(parameters), "message": message}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": _INVALID,
        },
    )


def _v1_error(status: int, code: int, message: str) -> Response:
    return Response(status, {"errors": [{"code": code, "message": message}]})


def _iso(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _endpoint(method: str, path: str) -> str:
    if path.startswith("/1.1/media/upload"):
        return "POST /1.1/media/upload"
    if re.fullmatch(r"/2/users/\d+/tweets", path):
        return f"{method} /2/users/:id/tweets"
    return f"{method} {path}"


class XEmulator(Emulator):
    """X for one account. ``clock`` gives the emulator's epoch seconds (for ``created_at`` and
    rate-limit resets); pass a fixed one to make ``retry_after`` exact in tests."""

    name = "x"

    def __init__(
        self,
        *,
        latency: float = 0.0,
        consumer_key: str = "emulator-consumer-key-0123456789",
        access_token: str = "1500000000000000001-emulatorAccessToken0123456789",
        bearer_token: str = "emulator-oauth2-user-token-0123456789",
        user_id: str = "1500000000000000001",
        username: str = "elshi_press",
        display_name: str = "Elshi Press Office",
        followers: int = 1000,
        limits: Mapping[str, int] | None = None,
        user_daily_limit: int = 2400,
        app_daily_limit: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.consumer_key = consumer_key
        self.access_token = access_token
        self.bearer_token = bearer_token
        self.user_id = user_id
        self.username = username
        self.display_name = display_name
        self._initial = (followers, dict(limits or DEFAULT_LIMITS), user_daily_limit, clock)
        self.app_daily_limit = app_daily_limit
        self._next_id = 1_800_000_000_000_000_001
        self._next_media_id = 1_710_000_000_000_000_001
        super().__init__(latency=latency)
        self.reset()

    def reset(self) -> None:
        """Forget posts, media, recorded requests, faults, rate-limit counters and changed
        settings, so one running emulator can serve many tests (ids keep growing)."""
        with self._lock:
            followers, limits, user_daily_limit, clock = self._initial
            self.followers = followers
            self.limits = dict(limits)
            self.user_daily_limit = user_daily_limit
            self.clock = clock
            self.read_only = False
            """True: the app lacks write permission (X's oauth1-permissions 403 on posting)."""
            self.posts: list[dict[str, Any]] = []
            self.media: dict[str, dict[str, Any]] = {}
            self.requests.clear()
            self._faults.clear()
            self._expired = False
            self._windows: dict[str, tuple[float, int]] = {}
            self._post_times: list[float] = []

    # --- control --------------------------------------------------------------------------

    def expire_token(self) -> None:
        """From now on every request is refused as X refuses an expired or revoked token."""
        with self._lock:
            self._expired = True

    def set_metrics(self, post_id: str, **counters: int) -> None:
        """Set counters of a post by our names (``impressions``, ``likes``, ``reposts``,
        ``replies``, ``quotes``, ``bookmarks``, ``link_clicks``, ``profile_clicks``)."""
        with self._lock:
            post = self._post(post_id)
            for name, value in counters.items():
                post["metrics"][_METRIC_NAMES[name]] = value

    def delete_post(self, post_id: str) -> None:
        with self._lock:
            self._post(post_id)["deleted"] = True

    def stored(self) -> list[StoredPost]:
        with self._lock:
            return [
                StoredPost(
                    id=post["id"],
                    text=post["text"],
                    alt=tuple(str(self.media[m].get("alt", "")) for m in post["media_ids"]),
                    reply_to=post["reply_to"],
                    deleted=post["deleted"],
                )
                for post in self.posts
            ]

    def backdate(self, post_id: str, seconds: float) -> None:
        """Make a post older (e.g. past the 30 days that private metrics cover)."""
        with self._lock:
            self._post(post_id)["created_at"] -= seconds

    def live_posts(self) -> list[dict[str, Any]]:
        with self._lock:
            return [post for post in self.posts if not post["deleted"]]

    def add_post(self, text: str, *, age: float = 0.0) -> str:
        """Put a post on the account as if published ``age`` seconds ago by other means (not
        counted against the daily caps); returns its id."""
        with self._lock:
            return str(self._store(text, created_at=self.clock() - age)["id"])

    def _store(
        self,
        text: str,
        *,
        created_at: float,
        media_ids: list[str] | None = None,
        reply_to: object = None,
    ) -> dict[str, Any]:
        post: dict[str, Any] = {
            "id": str(self._next_id),
            "text": text,
            "created_at": created_at,
            "reply_to": None if reply_to is None else str(reply_to),
            "media_ids": media_ids or [],
            "deleted": False,
            "metrics": dict.fromkeys((*_PUBLIC, "impression_count", "user_profile_clicks"), 0),
        }
        self._next_id += 1
        self.posts.append(post)
        return post

    def _post(self, post_id: str) -> dict[str, Any]:
        for post in self.posts:
            if post["id"] == post_id:
                return post
        raise KeyError(f"no post {post_id}")

    # --- routing and the checks every endpoint shares -------------------------------------

    def server_time(self) -> float:
        return self.clock()

    def routes(self) -> None:
        self.route("POST", r"/2/tweets", self._guard(self._create_tweet))
        self.route("GET", r"/2/tweets", self._guard(self._get_tweets))
        self.route("GET", r"/2/users/me", self._guard(self._get_me))
        self.route("GET", r"/2/users/(?P<id>\d+)/tweets", self._guard(self._users_tweets))
        self.route("POST", r"/1\.1/media/upload\.json", self._guard(self._media_upload))
        self.route("POST", r"/1\.1/media/metadata/create\.json", self._guard(self._media_metadata))

    def _guard(self, handler: Handler) -> Handler:
        def guarded(request: Request) -> Response:
            key = _endpoint(request.method, request.path)
            with self._lock:
                denied = self._check_auth(request)
                if denied is None:
                    denied = self._count(key)
                response = denied or handler(request)
                response.headers.update(self._window_headers(key))
                if key == "POST /2/tweets":
                    response.headers.update(self._daily_headers())
                return response

        return guarded

    def _check_auth(self, request: Request) -> Response | None:
        v1 = request.path.startswith("/1.1/")
        header = {k.lower(): v for k, v in request.headers.items()}.get("authorization", "")
        if header.startswith("OAuth "):
            params = {k: unquote(v) for k, v in re.findall(r'(\w+)="([^"]*)"', header)}
            valid = (
                params.get("oauth_consumer_key") == self.consumer_key
                and params.get("oauth_token") == self.access_token
                and bool(params.get("oauth_signature"))
            )
        elif header.startswith("Bearer ") and not v1:
            valid = header.removeprefix("Bearer ") == self.bearer_token
        else:
            valid = False
        if valid and not self._expired:
            return None
        if v1:
            if self._expired:
                return _v1_error(401, 89, "Invalid or expired token.")
            return _v1_error(401, 32, "Could not authenticate you.")
        return _problem(401, "Unauthorized", "Unauthorized")

    def _count(self, key: str) -> Response | None:
        now = self.clock()
        start, used = self._windows.get(key, (now, 0))
        if now >= start + WINDOW_SECONDS:
            start, used = now, 0
        if used >= self.limits.get(key, math.inf):
            self._windows[key] = (start, used)
            return self._too_many(key)
        self._windows[key] = (start, used + 1)
        if key == "POST /2/tweets" and (
            self._daily_remaining(self.user_daily_limit) == 0
            or self._daily_remaining(self.app_daily_limit) == 0
        ):
            return self._too_many(key)
        return None

    def _too_many(self, key: str) -> Response:
        if key.endswith("/1.1/media/upload"):
            return _v1_error(429, 88, "Rate limit exceeded")
        return _problem(429, "Too Many Requests", "Too Many Requests")

    def _window_headers(self, key: str, *, reset_in: float | None = None) -> dict[str, str]:
        now = self.clock()
        limit = self.limits.get(key, 0)
        start, used = self._windows.get(key, (now, 0))
        if now >= start + WINDOW_SECONDS:
            start, used = now, 0
        remaining = max(0, limit - used)
        reset = start + WINDOW_SECONDS
        if reset_in is not None:
            remaining, reset = 0, now + reset_in
        return {
            "x-rate-limit-limit": str(limit),
            "x-rate-limit-remaining": str(remaining),
            "x-rate-limit-reset": str(math.ceil(reset)),
        }

    def _recent_posts(self) -> list[float]:
        cutoff = self.clock() - DAY_SECONDS
        self._post_times = [t for t in self._post_times if t > cutoff]
        return self._post_times

    def _daily_remaining(self, limit: int) -> int:
        return max(0, limit - len(self._recent_posts()))

    def _daily_headers(self) -> dict[str, str]:
        times = self._recent_posts()
        reset = str(math.ceil((times[0] if times else self.clock()) + DAY_SECONDS))
        headers: dict[str, str] = {}
        for scope, limit in (("user", self.user_daily_limit), ("app", self.app_daily_limit)):
            headers[f"x-{scope}-limit-24hour-limit"] = str(limit)
            headers[f"x-{scope}-limit-24hour-remaining"] = str(self._daily_remaining(limit))
            headers[f"x-{scope}-limit-24hour-reset"] = reset
        return headers

    def error_response(self, fault: Fault, request: Request) -> Response:
        v1 = request.path.startswith("/1.1/")
        key = _endpoint(request.method, request.path)
        with self._lock:
            if fault.kind == "rate_limit":
                response = self._too_many(key)
                response.headers.update(self._window_headers(key, reset_in=fault.retry_after))
                return response
            if fault.kind == "auth":
                response = (
                    _v1_error(401, 89, "Invalid or expired token.")
                    if v1
                    else _problem(401, "Unauthorized", "Unauthorized")
                )
            elif fault.kind == "server_error":
                response = (
                    _v1_error(500, 131, "Internal error")
                    if v1
                    else _problem(500, "Internal Server Error", "Internal Server Error")
                )
            elif fault.kind == "unavailable":
                response = (
                    _v1_error(503, 130, "Over capacity")
                    if v1
                    else _problem(503, "Service Unavailable", "Service Unavailable")
                )
            elif v1:
                response = Response(
                    400,
                    {"request": request.path, "error": fault.message or "media type unrecognized."},
                )
            elif key == "POST /2/tweets":
                text = fault.message or "Your Tweet text is too long."
                response = _invalid(text, {"text": [text]})
            else:
                response = _invalid(fault.message or "The request was refused.", {})
            response.headers.update(self._window_headers(key))
            return response

    # --- endpoints --------------------------------------------------------------------------

    def _create_tweet(self, request: Request) -> Response:
        if self.read_only:
            return _problem(
                403,
                "Forbidden",
                "Your client app is not configured with the appropriate oauth1 app permissions "
                "for this endpoint.",
                "https://api.twitter.com/2/problems/oauth1-permissions",
            )
        try:
            body = request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _invalid("Request body is not valid JSON.", {})
        text = body.get("text") or ""
        media_ids = [str(m) for m in (body.get("media") or {}).get("media_ids", [])]
        reply_to = (body.get("reply") or {}).get("in_reply_to_tweet_id")
        if not isinstance(text, str) or (not text and not media_ids):
            return _invalid("Your Tweet must have text or media.", {"text": [str(text)]})
        too_long = textrules.check("x", text)
        if too_long:
            return _invalid(f"Your Tweet text is too long: {too_long}.", {"text": [text]})
        if len(media_ids) > 4 or any(m not in self.media for m in media_ids):
            return _invalid("Your media IDs are invalid.", {"media.media_ids": media_ids})
        if reply_to is not None and not any(
            p["id"] == str(reply_to) and not p["deleted"] for p in self.posts
        ):
            return _problem(
                403,
                "Forbidden",
                "You attempted to reply to a Tweet that is deleted or not visible to you.",
            )
        if text and any(p["text"] == text and not p["deleted"] for p in self.posts):
            return _problem(
                403, "Forbidden", "You are not allowed to create a Tweet with duplicate content."
            )
        post = self._store(text, media_ids=media_ids, reply_to=reply_to, created_at=self.clock())
        self._post_times.append(post["created_at"])
        return Response(
            201,
            {
                "data": {
                    "id": post["id"],
                    "text": self._display_text(post),
                    "edit_history_tweet_ids": [post["id"]],
                }
            },
        )

    def _get_tweets(self, request: Request) -> Response:
        ids = [i for i in (request.arg("ids") or "").split(",") if i]
        fields, bad = self._fields(request, "tweet.fields", TWEET_FIELDS)
        if bad is not None:
            return bad
        if not 1 <= len(ids) <= 100:
            return _invalid("ids: size must be between 1 and 100", {"ids": [",".join(ids)]})
        for tweet_id in ids:
            if not tweet_id.isdigit():
                return _invalid(
                    f"The `ids` query parameter value [{tweet_id}] is not valid",
                    {"ids": [tweet_id]},
                )
        data: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for tweet_id in ids:
            post = next((p for p in self.posts if p["id"] == tweet_id and not p["deleted"]), None)
            if post is None:
                errors.append(
                    {
                        "value": tweet_id,
                        "detail": f"Could not find tweet with ids: [{tweet_id}].",
                        "title": "Not Found Error",
                        "resource_type": "tweet",
                        "parameter": "ids",
                        "resource_id": tweet_id,
                        "type": _NOT_FOUND,
                    }
                )
                continue
            private = fields & {"non_public_metrics", "organic_metrics"}
            age = self.clock() - post["created_at"]
            if private and age > PRIVATE_METRICS_DAYS * DAY_SECONDS:
                field = f"{sorted(private)[0]}.impression_count"
                errors.append(
                    {
                        "value": tweet_id,
                        "detail": f"Sorry, you are not authorized to access '{field}' on the "
                        f"Tweet with ids: [{tweet_id}].",
                        "title": "Field Authorization Error",
                        "resource_type": "tweet",
                        "field": field,
                        "parameter": "ids",
                        "resource_id": tweet_id,
                        "section": "data",
                        "type": "https://api.twitter.com/2/problems/not-authorized-for-field",
                    }
                )
                continue
            data.append(self._render(post, fields))
        body: dict[str, Any] = {}
        if data:
            body["data"] = data
        if errors:
            body["errors"] = errors
        return Response(200, body)

    def _get_me(self, request: Request) -> Response:
        fields, bad = self._fields(request, "user.fields", USER_FIELDS)
        if bad is not None:
            return bad
        user: dict[str, Any] = {
            "id": self.user_id,
            "name": self.display_name,
            "username": self.username,
        }
        if "public_metrics" in fields:
            user["public_metrics"] = {
                "followers_count": self.followers,
                "following_count": 12,
                "tweet_count": sum(1 for p in self.posts if not p["deleted"]),
                "listed_count": 3,
                "like_count": 0,
            }
        return Response(200, {"data": user})

    def _users_tweets(self, request: Request) -> Response:
        user_id = request.params["id"]
        fields, bad = self._fields(request, "tweet.fields", TWEET_FIELDS)
        if bad is not None:
            return bad
        max_results = int(request.arg("max_results") or 10)
        if not 5 <= max_results <= 100:
            return _invalid(
                f"The `max_results` query parameter value [{max_results}] is not between 5 and 100",
                {"max_results": [str(max_results)]},
            )
        if user_id != self.user_id:
            return Response(
                200,
                {
                    "errors": [
                        {
                            "value": user_id,
                            "detail": f"Could not find user with id: [{user_id}].",
                            "title": "Not Found Error",
                            "resource_type": "user",
                            "parameter": "id",
                            "resource_id": user_id,
                            "type": _NOT_FOUND,
                        }
                    ]
                },
            )
        start_time = request.arg("start_time")
        since = -math.inf
        if start_time:
            try:
                since = datetime.fromisoformat(start_time).timestamp()
            except ValueError:
                return _invalid(
                    f"Invalid 'start_time':'{start_time}'.", {"start_time": [start_time]}
                )
        token = request.arg("pagination_token")
        offset = 0
        if token:
            if not re.fullmatch(r"7140dibdnow9c7btw[0-9a-f]+", token):
                return _invalid(
                    f"The `pagination_token` query parameter value [{token}] is not valid",
                    {"pagination_token": [token]},
                )
            offset = int(token.removeprefix("7140dibdnow9c7btw"), 16)
        timeline = [
            p for p in reversed(self.posts) if not p["deleted"] and p["created_at"] >= since
        ]
        page = timeline[offset : offset + max_results]
        if not page:
            return Response(200, {"meta": {"result_count": 0}})
        meta: dict[str, Any] = {
            "result_count": len(page),
            "newest_id": page[0]["id"],
            "oldest_id": page[-1]["id"],
        }
        if offset + max_results < len(timeline):
            meta["next_token"] = f"7140dibdnow9c7btw{offset + max_results:x}"
        return Response(200, {"data": [self._render(p, fields) for p in page], "meta": meta})

    def _media_metadata(self, request: Request) -> Response:
        """``POST /1.1/media/metadata/create.json``: alt text for an uploaded image (JSON body
        ``{"media_id": ..., "alt_text": {"text": ...}}``, at most 1,000 characters)."""
        body = request.json()
        media = self.media.get(str((body or {}).get("media_id")))
        text = ((body or {}).get("alt_text") or {}).get("text")
        if media is None:
            return _v1_error(400, 324, "The validation of media ids failed.")
        if not isinstance(text, str) or len(text) > 1000:
            return _v1_error(400, 44, "alt_text.text must be at most 1000 characters.")
        media["alt"] = text
        return Response(200, None)

    def _media_upload(self, request: Request) -> Response:
        if not request.headers.get("Content-Type", "").startswith("multipart/form-data"):
            return _v1_error(400, 38, "media parameter is missing.")
        content = request.multipart().get("media")
        if not isinstance(content, bytes) or not content:
            return _v1_error(400, 38, "media parameter is missing.")
        kind = next((k for magic, k in _IMAGE_MAGIC if content.startswith(magic)), None)
        if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
            kind = "image/webp"
        if kind is None:
            return Response(400, {"request": request.path, "error": "media type unrecognized."})
        if len(content) > MAX_IMAGE_BYTES:
            return Response(
                400,
                {"request": request.path, "error": f"File size exceeds {MAX_IMAGE_BYTES} bytes."},
            )
        media_id = str(self._next_media_id)
        self._next_media_id += 1
        self.media[media_id] = {"id": media_id, "type": kind, "size": len(content)}
        return Response(
            200,
            {
                "media_id": int(media_id),
                "media_id_string": media_id,
                "size": len(content),
                "expires_after_secs": DAY_SECONDS,
                "image": {"image_type": kind},
            },
        )

    # --- rendering --------------------------------------------------------------------------

    @staticmethod
    def _fields(
        request: Request, name: str, known: frozenset[str]
    ) -> tuple[set[str], Response | None]:
        fields = {f for f in (request.arg(name) or "").split(",") if f}
        unknown = sorted(fields - known)
        if unknown:
            return fields, _invalid(
                f"The query parameter [{name}] has an invalid value [{unknown[0]}]",
                {name: [",".join(sorted(fields))]},
            )
        return fields, None

    def _render(self, post: dict[str, Any], fields: set[str]) -> dict[str, Any]:
        tweet: dict[str, Any] = {
            "id": post["id"],
            "text": self._display_text(post),
            "edit_history_tweet_ids": [post["id"]],
        }
        metrics = post["metrics"]
        has_link = textrules.URL_RE.search(post["text"]) is not None
        if "created_at" in fields:
            tweet["created_at"] = _iso(post["created_at"])
        if "public_metrics" in fields:
            tweet["public_metrics"] = {
                **{name: metrics[name] for name in _PUBLIC},
                "impression_count": metrics["impression_count"],
            }
        if "non_public_metrics" in fields:
            private = {
                "impression_count": metrics["impression_count"],
                "user_profile_clicks": metrics["user_profile_clicks"],
            }
            if has_link:
                private["url_link_clicks"] = metrics.get("url_link_clicks", 0)
            tweet["non_public_metrics"] = private
        if "organic_metrics" in fields:
            organic = {
                "impression_count": metrics["impression_count"],
                "like_count": metrics["like_count"],
                "reply_count": metrics["reply_count"],
                "retweet_count": metrics["retweet_count"],
                "user_profile_clicks": metrics["user_profile_clicks"],
            }
            if has_link:
                organic["url_link_clicks"] = metrics.get("url_link_clicks", 0)
            tweet["organic_metrics"] = organic
        if "in_reply_to_user_id" in fields and post["reply_to"]:
            tweet["in_reply_to_user_id"] = self.user_id
        if "author_id" in fields:
            tweet["author_id"] = self.user_id
        return tweet

    @staticmethod
    def _display_text(post: Mapping[str, Any]) -> str:
        """The text as X gives it back: ``&<>`` escaped, links replaced by t.co links, one more
        t.co link appended for attached media."""
        text: str = post["text"]
        parts: list[str] = []
        pos = 0
        for match in textrules.URL_RE.finditer(text):
            parts.append(html.escape(text[pos : match.start()], quote=False))
            parts.append(_tco(match.group()))
            pos = match.end()
        parts.append(html.escape(text[pos:], quote=False))
        shown = "".join(parts)
        if post["media_ids"]:
            shown = f"{shown} {_tco(post['id'])}".strip()
        return shown


def _tco(target: str) -> str:
    return "https://t.co/" + hashlib.blake2s(target.encode()).hexdigest()[:10]
