"""An emulator of the Threads API (``graph.threads.net/v1.0``) for one profile, speaking its
wire format: parameters in the query string or a form body, ``access_token`` among them, JSON
answers, and Graph API errors ``{"error": {"message", "type", "code", "error_subcode",
"fbtrace_id"}}``.

It serves ``GET /v1.0/me`` (``id``, ``username``, ``name``), ``POST /v1.0/{user}/threads``
(a media container: ``TEXT``, ``IMAGE`` with ``image_url`` and ``alt_text``, or ``CAROUSEL`` of
item containers made with ``is_carousel_item=true``; ``reply_to_id`` for a reply),
``GET /v1.0/{container}?fields=status,error_message`` (``FINISHED``, ``PUBLISHED``,
``EXPIRED`` after 24 hours), ``POST /v1.0/{user}/threads_publish?creation_id=``,
``GET /v1.0/{user}/threads`` (the profile's posts, newest first, ``since``/``until``/``limit``
and cursor paging), ``GET /v1.0/{media}?fields=...`` (``permalink``, ``timestamp``, ``text``),
``GET /v1.0/{media}/insights?metric=views,likes,replies,reposts,quotes``,
``GET /v1.0/{user}/threads_insights?metric=followers_count`` and
``GET /v1.0/{user}/threads_publishing_limit`` (quota usage against 250 posts per 24 hours) and
``GET /refresh_access_token?grant_type=th_refresh_token`` (a new long-lived token valid 60 days;
a token younger than a day is refused; refreshed and earlier tokens stay valid until their own
expiry, after which calls are refused with error 190, subcode 463).

It enforces the token (error 190), 500 characters (`campaigns.textrules.threads_length`) and
at most 5 links (error 100), the publishing quota (error 4, subcode 2207042) and that a
container is published once (a second ``threads_publish`` of it is refused, error 100).

Left out: videos, quote posts, reply controls, location and topic tags, fetching
``image_url`` (Threads downloads it; here any http(s) URL is accepted), app-level rate limits
(BUC), the OAuth flow and the short-lived token exchange.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from campaigns import textrules
from connectors.testing.server import Emulator, Fault, Request, Response, StoredPost

DEFAULT_TOKEN = "THAAemulatorLongLivedToken0123456789abcdef"
QUOTA = 250
TOKEN_LIFETIME = 60 * 86_400
REFRESHABLE_AFTER = 86_400
QUOTA_WINDOW = 86_400
CONTAINER_LIFETIME = 86_400
_METRICS = {
    "views": "views",
    "likes": "likes",
    "replies": "replies",
    "reposts": "reposts",
    "quotes": "quotes",
}


MAX_ALT_TEXT = 1000
"""Characters of an image's ``alt_text``."""


def _graph_error(
    status: int,
    code: int,
    message: str,
    *,
    subcode: int | None = None,
    kind: str = "OAuthException",
) -> Response:
    error: dict[str, Any] = {
        "message": message,
        "type": kind,
        "code": code,
        "fbtrace_id": "A" + secrets.token_hex(8),
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return Response(status, {"error": error})


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


class ThreadsEmulator(Emulator):
    """One Threads profile (``user_id``, ``username``). ``clock`` gives epoch seconds."""

    name = "threads"

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        token_age: float = 2 * 86_400,
        user_id: str = "17841400000000001",
        username: str = "kazembassy_de",
        followers: int = 3400,
        clock: Callable[[], float] = time.time,
        latency: float = 0.0,
    ) -> None:
        self.user_id = user_id
        self.username = username
        self._initial = (token, followers, clock)
        self.token_age = token_age
        super().__init__(latency=latency)
        self.reset()

    def reset(self) -> None:
        with self._lock:
            token, followers, clock = self._initial
            self.token = token
            self.token_valid = True
            # Each valid token and the instant it was issued (epoch seconds).
            self.tokens: dict[str, float] = {token: clock() - self.token_age}
            self.refreshes = 0
            self.followers = followers
            self.clock = clock
            self.containers: dict[str, dict[str, Any]] = {}
            self.posts: list[dict[str, Any]] = []
            self._next = 18_000_000_000_000_000 + secrets.randbelow(10**9)
            self.requests.clear()
            self.clear_faults()

    # --- controls ---------------------------------------------------------------------------

    def expire_token(self) -> None:
        with self._lock:
            self.token_valid = False

    def set_metrics(self, post_id: str, **counters: int) -> None:
        with self._lock:
            post = self._media(post_id)
            if post is None:
                raise KeyError(post_id)
            names = {"impressions": "views", **{k: k for k in _METRICS}}
            for ours, value in counters.items():
                if ours in names:
                    post["metrics"][names[ours]] = value

    def delete_post(self, post_id: str) -> None:
        with self._lock:
            post = self._media(post_id)
            if post is not None:
                post["deleted"] = True

    def add_post(self, text: str, *, age: float = 0.0) -> str:
        with self._lock:
            return str(self._store({"text": text, "media_type": "TEXT"}, self.clock() - age)["id"])

    def stored(self) -> list[StoredPost]:
        with self._lock:
            return [
                StoredPost(
                    id=post["id"],
                    text=post["text"],
                    alt=tuple(str(item.get("alt_text") or "") for item in post["images"]),
                    reply_to=post["reply_to"],
                    deleted=post["deleted"],
                )
                for post in self.posts
            ]

    def live_posts(self) -> list[dict[str, Any]]:
        with self._lock:
            return [p for p in self.posts if not p["deleted"]]

    # --- wire format ------------------------------------------------------------------------

    def server_time(self) -> float:
        return self.clock()

    def routes(self) -> None:
        node = r"/v1\.0/(?P<node>[A-Za-z0-9_]+)"
        self.route("GET", r"/refresh_access_token", self._guard(self._refresh))
        self.route("GET", r"/v1\.0/me", self._guard(self._me))
        self.route("POST", node + r"/threads", self._guard(self._create_container))
        self.route("POST", node + r"/threads_publish", self._guard(self._publish))
        self.route("GET", node + r"/threads", self._guard(self._list))
        self.route("GET", node + r"/threads_insights", self._guard(self._user_insights))
        self.route("GET", node + r"/threads_publishing_limit", self._guard(self._limit))
        self.route("GET", node + r"/insights", self._guard(self._insights))
        self.route("GET", node, self._guard(self._node))

    def error_response(self, fault: Fault, request: Request) -> Response:
        if fault.kind == "rate_limit":
            response = _graph_error(400, 4, "Application request limit reached", subcode=2207051)
            usage = {
                self.user_id: [
                    {
                        "type": "threads",
                        "call_count": 100,
                        "total_cputime": 12,
                        "total_time": 30,
                        "estimated_time_to_regain_access": max(1, -(-int(fault.retry_after) // 60)),
                    }
                ]
            }
            response.headers["X-Business-Use-Case-Usage"] = json.dumps(usage)
            return response
        if fault.kind == "auth":
            return _graph_error(
                400, 190, "Error validating access token: Session has expired", subcode=463
            )
        if fault.kind == "server_error":
            return _graph_error(
                500,
                2,
                "An unexpected error has occurred. Please retry your request later.",
                kind="OAuthException",
            )
        if fault.kind == "unavailable":
            return _graph_error(503, 2, "Service temporarily unavailable")
        return _graph_error(
            400, 100, fault.message or "Invalid parameter", subcode=2207006, kind="THApiException"
        )

    def _guard(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def guarded(request: Request) -> Response:
            with self._lock:
                token = request.arg("access_token") or ""
                bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
                issued = self.tokens.get(token, self.tokens.get(bearer))
                if issued is None:
                    return _graph_error(
                        400, 190, "Invalid OAuth access token - Cannot parse access token"
                    )
                if not self.token_valid or self.clock() >= issued + TOKEN_LIFETIME:
                    return _graph_error(
                        400, 190, "Error validating access token: Session has expired", subcode=463
                    )
                node = request.params.get("node")
                if node not in (None, "me", self.user_id) and request.path.endswith(
                    (
                        "/threads",
                        "/threads_publish",
                        "/threads_insights",
                        "/threads_publishing_limit",
                    )
                ):
                    return _graph_error(
                        400,
                        100,
                        f"Unsupported request - Object with ID '{node}' does not exist",
                        subcode=33,
                    )
                return handler(request)

        return guarded

    def _refresh(self, request: Request) -> Response:
        if request.arg("grant_type") != "th_refresh_token":
            return _graph_error(400, 100, "Invalid parameter: grant_type must be th_refresh_token")
        now = self.clock()
        if now < self.tokens[request.arg("access_token") or ""] + REFRESHABLE_AFTER:
            return _graph_error(
                400, 190, "Error validating access token: the token is less than 24 hours old"
            )
        token = "THAA" + secrets.token_urlsafe(32)
        self.tokens[token] = now
        self.refreshes += 1
        return Response(
            body={"access_token": token, "token_type": "bearer", "expires_in": TOKEN_LIFETIME}
        )

    def _me(self, request: Request) -> Response:
        return Response(
            200, {"id": self.user_id, "username": self.username, "name": "Botschaft Kasachstan"}
        )

    def _create_container(self, request: Request) -> Response:
        kind = (request.arg("media_type") or "").upper()
        text = request.arg("text") or ""
        if kind not in ("TEXT", "IMAGE", "CAROUSEL"):
            return _graph_error(
                400,
                100,
                "The parameter media_type is required and must be TEXT, IMAGE, VIDEO or CAROUSEL",
                kind="THApiException",
            )
        if textrules.threads_length(text) > textrules.LIMITS["threads"].maximum:
            return _graph_error(
                400,
                100,
                "Param text must be at most 500 characters long.",
                subcode=2207006,
                kind="THApiException",
            )
        if len(textrules.URL_RE.findall(text)) > textrules.THREADS_MAX_LINKS:
            return _graph_error(
                400,
                100,
                "A post may contain at most 5 links.",
                subcode=4279009,
                kind="THApiException",
            )
        container: dict[str, Any] = {
            "media_type": kind,
            "text": text,
            "reply_to": request.arg("reply_to_id"),
            "carousel_item": (request.arg("is_carousel_item") or "") == "true",
            "images": [],
            "created": self.clock(),
            "status": "FINISHED",
            "published_as": None,
        }
        if container["reply_to"] and self._media(container["reply_to"]) is None:
            return _graph_error(
                400,
                100,
                "The requested resource does not exist",
                subcode=4279026,
                kind="THApiException",
            )
        if kind == "IMAGE":
            url = request.arg("image_url") or ""
            if not re.match(r"https?://\S+$", url):
                return _graph_error(
                    400,
                    100,
                    "Param image_url must be a URL",
                    subcode=2207052,
                    kind="THApiException",
                )
            alt = request.arg("alt_text") or ""
            if len(alt) > MAX_ALT_TEXT:
                return _graph_error(
                    400,
                    100,
                    f"Param alt_text must be at most {MAX_ALT_TEXT} characters long.",
                    kind="THApiException",
                )
            container["images"] = [{"image_url": url, "alt_text": alt}]
        if kind == "CAROUSEL":
            children = [c for c in (request.arg("children") or "").split(",") if c]
            items = [self.containers.get(c) for c in children]
            if not 2 <= len(items) <= 20 or any(i is None or not i["carousel_item"] for i in items):
                return _graph_error(
                    400,
                    100,
                    "A carousel needs 2 to 20 carousel item containers",
                    subcode=2207050,
                    kind="THApiException",
                )
            container["images"] = [image for item in items if item for image in item["images"]]
        container_id = self._new_id()
        self.containers[container_id] = container
        return Response(200, {"id": container_id})

    def _container(self, container_id: str) -> dict[str, Any] | None:
        container = self.containers.get(container_id)
        if (
            container is not None
            and container["status"] == "FINISHED"
            and self.clock() - container["created"] > CONTAINER_LIFETIME
        ):
            container["status"] = "EXPIRED"
        return container

    def _publish(self, request: Request) -> Response:
        creation = request.arg("creation_id") or ""
        container = self._container(creation)
        if container is None or container["carousel_item"]:
            return _graph_error(
                400,
                100,
                "The media container does not exist or cannot be published",
                subcode=4279009,
                kind="THApiException",
            )
        if container["status"] == "PUBLISHED":
            return _graph_error(
                400,
                100,
                "The media container has already been published",
                subcode=2207067,
                kind="THApiException",
            )
        if container["status"] == "EXPIRED":
            return _graph_error(
                400, 100, "The media container has expired", subcode=2207008, kind="THApiException"
            )
        if self._usage() >= QUOTA:
            return _graph_error(
                400,
                4,
                "You have reached the publishing limit of 250 posts in 24 hours",
                subcode=2207042,
            )
        post = self._store(container, self.clock())
        container["status"] = "PUBLISHED"
        container["published_as"] = post["id"]
        return Response(200, {"id": post["id"]})

    def _store(self, container: dict[str, Any], when: float) -> dict[str, Any]:
        post_id = self._new_id()
        shortcode = "C" + secrets.token_urlsafe(8).replace("-", "x").replace("_", "y")
        post = {
            "id": post_id,
            "text": container["text"],
            "media_type": container.get("media_type", "TEXT"),
            "images": list(container.get("images") or []),
            "reply_to": container.get("reply_to"),
            "timestamp": when,
            "shortcode": shortcode,
            "permalink": f"https://www.threads.net/@{self.username}/post/{shortcode}",
            "deleted": False,
            "metrics": dict.fromkeys(_METRICS, 0),
        }
        self.posts.append(post)
        return post

    def _new_id(self) -> str:
        self._next += 1 + secrets.randbelow(97)
        return str(self._next)

    def _media(self, media_id: str) -> dict[str, Any] | None:
        return next((p for p in self.posts if p["id"] == media_id), None)

    def _usage(self) -> int:
        since = self.clock() - QUOTA_WINDOW
        return sum(
            1 for p in self.posts if p["timestamp"] > since and p["media_type"] != "REPLY_EXTERNAL"
        )

    def _post_json(self, post: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        full = {
            "id": post["id"],
            "text": post["text"],
            "media_type": "TEXT_POST" if post["media_type"] == "TEXT" else post["media_type"],
            "permalink": post["permalink"],
            "shortcode": post["shortcode"],
            "timestamp": _iso(post["timestamp"]),
            "username": self.username,
            "is_reply": post["reply_to"] is not None,
        }
        if post["reply_to"] is not None:
            full["replied_to"] = {"id": post["reply_to"]}
        return {k: v for k, v in full.items() if k == "id" or k in fields}

    def _node(self, request: Request) -> Response:
        node = request.params["node"]
        fields = (request.arg("fields") or "id").split(",")
        container = self._container(node)
        if container is not None:
            answer = {"id": node, "status": container["status"]}
            if "error_message" in fields and container["status"] == "ERROR":
                answer["error_message"] = "UNKNOWN"
            return Response(200, answer)
        post = self._media(node)
        if post is None or post["deleted"]:
            return _graph_error(
                400,
                100,
                f"Unsupported get request. Object with ID '{node}' does not exist",
                subcode=33,
                kind="GraphMethodException",
            )
        return Response(200, self._post_json(post, fields))

    def _list(self, request: Request) -> Response:
        fields = (request.arg("fields") or "id").split(",")
        limit = min(100, int(request.arg("limit") or 25))
        since = float(request.arg("since") or 0)
        after = int(request.arg("after") or 0)
        posts = [p for p in reversed(self.posts) if not p["deleted"] and p["timestamp"] >= since]
        page = posts[after : after + limit]
        body: dict[str, Any] = {"data": [self._post_json(p, fields) for p in page]}
        if after + limit < len(posts):
            body["paging"] = {"cursors": {"after": str(after + limit)}}
        return Response(200, body)

    def _insights(self, request: Request) -> Response:
        post = self._media(request.params["node"])
        if post is None or post["deleted"]:
            return _graph_error(
                400,
                100,
                "Unsupported get request. Object does not exist",
                subcode=33,
                kind="GraphMethodException",
            )
        wanted = [m for m in (request.arg("metric") or "").split(",") if m]
        unknown = [m for m in wanted if m not in _METRICS]
        if unknown:
            return _graph_error(
                400,
                100,
                f"metric[0] must be one of the following values: {', '.join(_METRICS)}",
                kind="THApiException",
            )
        data = [
            {
                "name": name,
                "period": "lifetime",
                "values": [{"value": post["metrics"][name]}],
                "title": name.title(),
                "id": f"{post['id']}/insights/{name}/lifetime",
            }
            for name in wanted
        ]
        return Response(200, {"data": data})

    def _user_insights(self, request: Request) -> Response:
        if request.arg("metric") != "followers_count":
            return _graph_error(400, 100, "Unsupported metric", kind="THApiException")
        return Response(
            200,
            {
                "data": [
                    {
                        "name": "followers_count",
                        "period": "day",
                        "total_value": {"value": self.followers},
                        "id": f"{self.user_id}/insights/followers_count/day",
                    }
                ]
            },
        )

    def _limit(self, request: Request) -> Response:
        return Response(
            200,
            {
                "data": [
                    {
                        "quota_usage": self._usage(),
                        "config": {"quota_total": QUOTA, "quota_duration": QUOTA_WINDOW},
                    }
                ]
            },
        )
