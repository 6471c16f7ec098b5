"""An emulator of the Weibo Open API (``api.weibo.com``) for one account of one app, speaking
its wire format: form-encoded requests carrying ``access_token``, JSON answers, and errors as
``{"error": ..., "error_code": ..., "request": ...}``.

It serves ``POST /oauth2/get_token_info`` (the token's uid, app and remaining life),
``GET /2/account/get_uid.json``, ``GET /2/users/show.json``, ``POST /2/statuses/share.json``
(form or multipart with one ``pic``), ``GET /2/statuses/count.json`` (≤ 100 ids),
``GET /2/statuses/user_timeline.json`` (the account's own statuses, newest first, 20 a page,
URLs shortened to t.cn links as Weibo shows them), ``GET /2/statuses/show.json`` and
``GET /2/account/rate_limit_status.json``.

``statuses/share`` enforces Weibo's rules: text of at most 140 by Weibo's count
(`campaigns.textrules.weibo_length`, error 20012), a link to the app's safe domain inside the
text and no ``#topic#`` (10017), the user's IP in ``rip`` (10017), no identical text while the
earlier one is live and less than a day old (20019 "repeat content"), one JPEG/PNG/GIF picture of at most 5 MB (20005 /
20006), and 30 shares per hour per user (10023, with the reset in ``rate_limit_status``).
Token errors are 21332 (invalid) and 21327 (expired), HTTP 401.

Left out: comments and reposts as actions, long-text ("全文") statuses, videos, several
pictures (share takes one), the OAuth authorize/access_token dance (tokens are given), the
real error codes where Weibo does not document them (10017 stands in), IP rate limits.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from campaigns import textrules
from connectors.testing.server import Emulator, Fault, Request, Response, StoredPost

DEFAULT_TOKEN = "2.00weiboEmulatorAccessToken0123456789"
SHARE_LIMIT_PER_HOUR = 30
MAX_PICTURE_BYTES = 5 * 1024 * 1024
REPEAT_WINDOW = 86_400
"""How long Weibo refuses the same text again (not documented by Weibo; a day here)."""
_CHINA = timezone(timedelta(hours=8))
_PICTURE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")


def _error(status: int, code: int, message: str, request: str) -> Response:
    return Response(status, {"error": message, "error_code": code, "request": request})


def _weibo_time(epoch: float) -> str:
    """Weibo's ``created_at``: ``Tue May 31 17:46:55 +0800 2011``."""
    return datetime.fromtimestamp(epoch, _CHINA).strftime("%a %b %d %H:%M:%S %z %Y")


class WeiboEmulator(Emulator):
    """One account (``uid``, ``screen_name``) of an app whose safe domain is ``safe_domain``.
    ``clock`` gives epoch seconds (status times, the hourly share window)."""

    name = "weibo"

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        uid: int = 7_345_678_901,
        screen_name: str = "哈萨克斯坦驻华大使馆",
        safe_domain: str = "kz-embassy.cn",
        followers: int = 52_000,
        require_rip: bool = True,
        clock: Callable[[], float] = time.time,
        latency: float = 0.0,
    ) -> None:
        self.uid = uid
        self.screen_name = screen_name
        self._initial = (token, safe_domain, followers, require_rip, clock)
        super().__init__(latency=latency)
        self.reset()

    def reset(self) -> None:
        with self._lock:
            token, safe_domain, followers, require_rip, clock = self._initial
            self.token = token
            self.safe_domain = safe_domain
            self.followers = followers
            self.require_rip = require_rip
            self.clock = clock
            self.token_state = "valid"
            self.token_expires_at = clock() + 30 * 86_400
            self.posts: list[dict[str, Any]] = []
            self.pictures: list[bytes] = []
            self._shares: list[float] = []
            self._next_id = 4_987_654_321_000_000
            self._limited_until: float | None = None
            self.requests.clear()
            self.clear_faults()

    # --- controls ---------------------------------------------------------------------------

    def expire_token(self) -> None:
        with self._lock:
            self.token_state = "expired"

    def set_metrics(self, post_id: str, **counters: int) -> None:
        with self._lock:
            post = self._post(post_id)
            for ours, theirs in (
                ("likes", "attitudes"),
                ("reposts", "reposts"),
                ("replies", "comments"),
            ):
                if counters.get(ours) is not None:
                    post[theirs] = counters[ours]

    def delete_post(self, post_id: str) -> None:
        with self._lock:
            self._post(post_id)["deleted"] = True

    def add_post(self, text: str, *, age: float = 0.0) -> str:
        """A status published by other means (the app, another tool); returns its id."""
        with self._lock:
            return str(self._store(text, created=self.clock() - age, picture=False)["idstr"])

    def stored(self) -> list[StoredPost]:
        with self._lock:
            return [
                StoredPost(
                    id=post["idstr"],
                    text=post["text"],
                    alt=("",) if post["picture"] else (),
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
        self.route("POST", r"/oauth2/get_token_info", self._token_info)
        for method, path, handler in (
            ("GET", "/2/account/get_uid.json", self._get_uid),
            ("GET", "/2/users/show.json", self._users_show),
            ("POST", "/2/statuses/share.json", self._share),
            ("GET", "/2/statuses/count.json", self._count),
            ("GET", "/2/statuses/user_timeline.json", self._timeline),
            ("GET", "/2/statuses/show.json", self._show),
            ("GET", "/2/account/rate_limit_status.json", self._rate_limit_status),
        ):
            self.route(method, re.escape(path), self._authorized(handler))

    def error_response(self, fault: Fault, request: Request) -> Response:
        path = request.path
        if fault.kind == "rate_limit":
            with self._lock:
                self._limited_until = self.clock() + fault.retry_after
            return _error(403, 10023, "User requests out of rate limit!", path)
        if fault.kind == "auth":
            return _error(401, 21327, "expired_token", path)
        if fault.kind == "server_error":
            return _error(500, 10001, "System error!", path)
        if fault.kind == "unavailable":
            return _error(503, 10009, "Too many pending tasks, system is busy!", path)
        return _error(
            400,
            20012,
            fault.message or "Text too long, please input text less than 140 characters!",
            path,
        )

    def _authorized(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def guarded(request: Request) -> Response:
            with self._lock:
                token = request.arg("access_token") or ""
                if token != self.token:
                    return _error(401, 21332, "invalid_access_token", request.path)
                if self.token_state == "expired" or self.clock() > self.token_expires_at:
                    return _error(401, 21327, "expired_token", request.path)
                return handler(request)

        return guarded

    def _token_info(self, request: Request) -> Response:
        with self._lock:
            if (request.arg("access_token") or "") != self.token:
                return _error(401, 21332, "invalid_access_token", request.path)
            remaining = max(0, int(self.token_expires_at - self.clock()))
            if self.token_state == "expired":
                remaining = 0
            return Response(
                200,
                {
                    "uid": self.uid,
                    "appkey": "2849184197",
                    "scope": "",
                    "create_at": int(self.clock()) - 86_400,
                    "expire_in": remaining,
                },
            )

    def _get_uid(self, request: Request) -> Response:
        return Response(200, {"uid": self.uid})

    def _user(self) -> dict[str, Any]:
        return {
            "id": self.uid,
            "idstr": str(self.uid),
            "screen_name": self.screen_name,
            "name": self.screen_name,
            "followers_count": self.followers,
            "statuses_count": len([p for p in self.posts if not p["deleted"]]),
            "profile_url": f"u/{self.uid}",
            "verified": True,
        }

    def _users_show(self, request: Request) -> Response:
        if request.arg("uid") not in (str(self.uid), None) and request.arg("screen_name") is None:
            return _error(400, 20003, "User does not exists!", request.path)
        return Response(200, self._user())

    def _share(self, request: Request) -> Response:
        path = request.path
        fields = (
            request.multipart()
            if "multipart" in request.headers.get("Content-Type", "")
            else request.form()
        )
        status = fields.get("status")
        if not isinstance(status, str) or not status.strip():
            return _error(
                400, 10016, "miss required parameter (status), see doc for more info.", path
            )
        if self.require_rip and not fields.get("rip"):
            return _error(
                400,
                10017,
                "parameter (rip)'s value invalid, expect (user's real ip), but get (), see doc for more info.",
                path,
            )
        if textrules.weibo_length(status) > textrules.LIMITS["weibo"].maximum:
            return _error(
                400, 20012, "Text too long, please input text less than 140 characters!", path
            )
        problems = textrules.weibo_problems(status, safe_domain=self.safe_domain)
        if problems:
            return _error(400, 10017, f"parameter (status)'s value invalid: {problems[0]}", path)
        now = self.clock()
        if any(
            p["text"] == status and not p["deleted"] and now - p["created"] < REPEAT_WINDOW
            for p in self.posts
        ):
            return _error(400, 20019, "repeat content!", path)
        picture = fields.get("pic")
        if isinstance(picture, bytes):
            if not picture.startswith(_PICTURE_MAGIC):
                return _error(
                    400, 20005, "unsupported image type, only suport JPG, GIF, PNG!", path
                )
            if len(picture) > MAX_PICTURE_BYTES:
                return _error(400, 20006, "image size too large.", path)
        now = self.clock()
        if self._limited_until is not None and now < self._limited_until:
            return _error(403, 10023, "User requests out of rate limit!", path)
        self._shares = [t for t in self._shares if t > now - 3600]
        if len(self._shares) >= SHARE_LIMIT_PER_HOUR:
            self._limited_until = self._shares[0] + 3600
            return _error(403, 10023, "User requests out of rate limit!", path)
        self._shares.append(now)
        post = self._store(status, created=now, picture=isinstance(picture, bytes))
        if isinstance(picture, bytes):
            self.pictures.append(picture)
        return Response(200, self._status_json(post))

    def _store(self, text: str, *, created: float, picture: bool) -> dict[str, Any]:
        self._next_id += 1 + secrets.randbelow(1000)
        post = {
            "id": self._next_id,
            "idstr": str(self._next_id),
            "mid": str(self._next_id),
            "text": text,
            "created": created,
            "picture": picture,
            "deleted": False,
            "reposts": 0,
            "comments": 0,
            "attitudes": 0,
        }
        self.posts.append(post)
        return post

    def _status_json(self, post: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "created_at": _weibo_time(post["created"]),
            "id": post["id"],
            "idstr": post["idstr"],
            "mid": post["mid"],
            "text": self._shown(post["text"]),
            "source": '<a href="https://app.weibo.com" rel="nofollow">Elshi</a>',
            "reposts_count": post["reposts"],
            "comments_count": post["comments"],
            "attitudes_count": post["attitudes"],
            "user": self._user(),
        }
        if post["picture"]:
            digest = hashlib.sha1(post["idstr"].encode()).hexdigest()[:22]
            body["pic_ids"] = [f"006{digest}"]
            body["thumbnail_pic"] = f"https://wx1.sinaimg.cn/thumbnail/006{digest}.jpg"
        return body

    @staticmethod
    def _shown(text: str) -> str:
        """Weibo shows every link as a t.cn short link."""
        return str(
            textrules.URL_RE.sub(
                lambda m: "http://t.cn/" + hashlib.sha1(m.group(0).encode()).hexdigest()[:7],
                text,
            )
        )

    def _post(self, post_id: str) -> dict[str, Any]:
        for post in self.posts:
            if post["idstr"] == str(post_id):
                return post
        raise KeyError(f"no status {post_id}")

    def _count(self, request: Request) -> Response:
        ids = [i for i in (request.arg("ids") or "").split(",") if i]
        if not ids:
            return _error(
                400, 10016, "miss required parameter (ids), see doc for more info.", request.path
            )
        if len(ids) > 100:
            return _error(
                400,
                10017,
                "parameter (ids)'s value invalid, expect (at most 100 ids)",
                request.path,
            )
        answer = []
        for post in self.posts:
            if post["idstr"] in ids and not post["deleted"]:
                answer.append(
                    {
                        "id": post["id"],
                        "idstr": post["idstr"],
                        "comments": post["comments"],
                        "reposts": post["reposts"],
                        "attitudes": post["attitudes"],
                    }
                )
        return Response(200, answer)

    def _timeline(self, request: Request) -> Response:
        page = max(1, int(request.arg("page") or 1))
        count = min(100, max(1, int(request.arg("count") or 20)))
        since_id = int(request.arg("since_id") or 0)
        live = [p for p in reversed(self.posts) if not p["deleted"] and p["id"] > since_id]
        chunk = live[(page - 1) * count : page * count]
        return Response(
            200,
            {
                "statuses": [self._status_json(p) for p in chunk],
                "total_number": len(live),
                "next_cursor": 0,
                "previous_cursor": 0,
            },
        )

    def _show(self, request: Request) -> Response:
        try:
            post = self._post(request.arg("id") or "")
        except KeyError:
            post = None
        if post is None or post["deleted"]:
            return _error(400, 20101, "target weibo does not exist!", request.path)
        return Response(200, self._status_json(post))

    def _rate_limit_status(self, request: Request) -> Response:
        now = self.clock()
        reset = self._limited_until if self._limited_until and self._limited_until > now else None
        if reset is None:
            reset = (math.floor(now / 3600) + 1) * 3600
        return Response(
            200,
            {
                "api_rate_limits": [
                    {
                        "api": "statuses/share",
                        "limit": SHARE_LIMIT_PER_HOUR,
                        "limit_time_unit": "HOURS",
                        "remaining_hits": max(0, SHARE_LIMIT_PER_HOUR - len(self._shares)),
                    }
                ],
                "ip_limit": 10_000,
                "limit_time_unit": "HOURS",
                "remaining_ip_hits": 10_000,
                "remaining_user_hits": 150,
                "reset_time": datetime.fromtimestamp(reset, _CHINA).strftime("%Y-%m-%d %H:%M:%S"),
                "reset_time_in_seconds": max(1, math.ceil(reset - now)),
                "user_limit": 150,
            },
        )
