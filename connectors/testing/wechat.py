"""An emulator of the WeChat Official Account server API (``api.weixin.qq.com``) for one
account, speaking its wire format: ``access_token`` in the query string, JSON bodies (UTF-8,
unescaped), answers with ``errcode``/``errmsg`` (HTTP 200 even for errors, as WeChat does).

It serves ``GET /cgi-bin/token`` (``client_credential``: a new token each call, valid 7200 s;
the previous one stays valid for five more minutes, as WeChat documents), ``POST
/cgi-bin/material/add_material?type=image`` (a permanent image: JPG/PNG/GIF/BMP up to 10 MB),
``POST /cgi-bin/media/uploadimg`` (an image for the article body, up to 1 MB), ``POST
/cgi-bin/draft/add`` / ``draft/get`` / ``draft/count``, ``POST /cgi-bin/freepublish/submit``
(the draft leaves the draft box when its publication is submitted), ``POST
/cgi-bin/freepublish/get`` (status 1 "publishing" for ``publish_polls`` polls, then 0 with the
article id and URL; ``fail_next`` makes the next one fail with status 3), ``POST
/cgi-bin/freepublish/batchget`` (published articles, newest first, 1–20 a page) and
``freepublish/getarticle``, ``GET /cgi-bin/user/get`` (the follower total), and the data cube's
``POST /datacube/getarticletotal`` (per publication day, one entry per article with a
``details`` row per day since: ``int_page_read_count``, ``share_count``, ``add_to_fav_count`` —
only from the day after publication, and only for days before today).

It enforces the token (40001 invalid credential, 40014 invalid token, 42001 expired), the
appid/secret (40013, 40125) and the IP allow-list (40164), the article rules of ``draft/add``
(title ≤ 32 characters 45003, author ≤ 16 45110, digest ≤ 128 45004, body < 20,000 characters
45002, a permanent ``thumb_media_id`` 40007), and a daily quota per API (45009).

Left out: mass sends (``message/mass``), comments, multi-article drafts beyond storing them,
video and voice material, the message push and its encryption, 2.35:1 and 1:1 cover crops,
the real article HTML sanitiser (only ``<script>`` is stripped), the 5-minute token overlap's
exact timing beyond what `clock` gives.
"""

from __future__ import annotations

import hashlib
import html
import re
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from connectors.testing.server import Emulator, Fault, Request, Response, StoredPost

TOKEN_LIFETIME = 7200
TOKEN_OVERLAP = 300
DAILY_QUOTA = 1000
_CHINA = timezone(timedelta(hours=8))
_IMG_ALT = re.compile(r'<img [^>]*alt="([^"]*)"')
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")


def _ok(**fields: Any) -> Response:
    return Response(200, {"errcode": 0, "errmsg": "ok", **fields})


def _fail(code: int, message: str) -> Response:
    return Response(200, {"errcode": code, "errmsg": f"{message} rid: {secrets.token_hex(12)}"})


def _day(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, _CHINA).strftime("%Y-%m-%d")


class WeChatEmulator(Emulator):
    """One Official Account (``appid``/``secret``). ``clock`` gives epoch seconds."""

    name = "wechat"

    def __init__(
        self,
        *,
        appid: str = "wx8c1d2e3f4a5b6c7d",
        secret: str = "e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6",
        followers: int = 18_500,
        publish_polls: int = 1,
        clock: Callable[[], float] = time.time,
        latency: float = 0.0,
    ) -> None:
        self.appid = appid
        self.secret = secret
        self._initial = (followers, publish_polls, clock)
        super().__init__(latency=latency)
        self.reset()

    def reset(self) -> None:
        with self._lock:
            followers, publish_polls, clock = self._initial
            self.followers = followers
            self.publish_polls = publish_polls
            self.clock = clock
            self.allowed_ip = True
            self.tokens: dict[str, float] = {}
            """Access token -> the instant it stops working."""
            self.issued_tokens: list[str] = []
            self.materials: dict[str, dict[str, Any]] = {}
            self.body_images: list[str] = []
            self.drafts: dict[str, dict[str, Any]] = {}
            self.tasks: dict[str, dict[str, Any]] = {}
            self.articles: list[dict[str, Any]] = []
            self.calls: dict[str, int] = {}
            self.fail_next = False
            self._mid = 2_247_483_000 + secrets.randbelow(1000)
            self.requests.clear()
            self.clear_faults()

    # --- controls ---------------------------------------------------------------------------

    def expire_token(self) -> None:
        """Every access token handed out so far stops working (a new one can be fetched)."""
        with self._lock:
            self.tokens = dict.fromkeys(self.tokens, self.clock() - 1)

    def revoke_secret(self) -> None:
        """The AppSecret was reset in the admin console: tokens stop, the old secret fails."""
        with self._lock:
            self.secret = "reset-" + secrets.token_hex(12)
            self.expire_token()

    def set_metrics(self, post_id: str, **counters: int) -> None:
        names = {
            "impressions": "int_page_read_count",
            "reposts": "share_count",
            "bookmarks": "add_to_fav_count",
        }
        with self._lock:
            article = self._article(post_id)
            for ours, value in counters.items():
                if ours in names:
                    article["counters"][names[ours]] = value

    def delete_post(self, post_id: str) -> None:
        with self._lock:
            self._article(post_id)["is_deleted"] = True

    def stored(self) -> list[StoredPost]:
        with self._lock:
            return [
                StoredPost(
                    id=a["article_id"],
                    text=a["digest"],
                    # the cover, then each image in the body with its alt attribute
                    alt=("", *(html.unescape(m) for m in _IMG_ALT.findall(a["content"]))),
                    deleted=a["is_deleted"],
                )
                for a in self.articles
            ]

    def _article(self, article_id: str) -> dict[str, Any]:
        for article in self.articles:
            if article["article_id"] == article_id:
                return article
        raise KeyError(article_id)

    # --- wire format ------------------------------------------------------------------------

    def server_time(self) -> float:
        return self.clock()

    def routes(self) -> None:
        self.route("GET", r"/cgi-bin/token", self._token)
        for method, path, handler in (
            ("POST", "/cgi-bin/material/add_material", self._add_material),
            ("POST", "/cgi-bin/media/uploadimg", self._upload_image),
            ("POST", "/cgi-bin/draft/add", self._draft_add),
            ("POST", "/cgi-bin/draft/get", self._draft_get),
            ("POST", "/cgi-bin/freepublish/submit", self._submit),
            ("POST", "/cgi-bin/freepublish/get", self._publish_status),
            ("POST", "/cgi-bin/freepublish/batchget", self._batchget),
            ("POST", "/cgi-bin/freepublish/getarticle", self._getarticle),
            ("GET", "/cgi-bin/user/get", self._followers),
            ("POST", "/datacube/getarticletotal", self._article_total),
        ):
            self.route(method, re.escape(path), self._guard(handler))

    def error_response(self, fault: Fault, request: Request) -> Response:
        if fault.kind == "rate_limit":
            return _fail(45009, "reach max api daily quota limit")
        if fault.kind == "auth":
            return _fail(40001, "invalid credential, access_token is invalid or not latest")
        if fault.kind == "server_error":
            return _fail(-1, "system error")
        if fault.kind == "unavailable":
            return Response(
                503,
                None,
                raw=b"<html><body>503 Service Temporarily Unavailable</body></html>",
                content_type="text/html",
            )
        return _fail(45003, fault.message or "title size out of limit")

    def _guard(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def guarded(request: Request) -> Response:
            with self._lock:
                token = request.arg("access_token")
                if not token:
                    return _fail(41001, "access_token missing")
                until = self.tokens.get(token)
                if until is None:
                    return _fail(40014, "invalid access_token")
                if self.clock() >= until:
                    return _fail(42001, "access_token expired")
                api = request.path
                self.calls[api] = self.calls.get(api, 0) + 1
                if self.calls[api] > DAILY_QUOTA:
                    return _fail(45009, "reach max api daily quota limit")
                return handler(request)

        return guarded

    def _token(self, request: Request) -> Response:
        with self._lock:
            if request.arg("grant_type") != "client_credential":
                return _fail(40002, "invalid grant_type")
            if request.arg("appid") != self.appid:
                return _fail(40013, "invalid appid")
            if request.arg("secret") != self.secret:
                return _fail(40125, "invalid appsecret")
            if not self.allowed_ip:
                return _fail(40164, "invalid ip 203.0.113.7, not in whitelist")
            now = self.clock()
            # A new token; the earlier ones keep working for five more minutes.
            for old, until in list(self.tokens.items()):
                self.tokens[old] = min(until, now + TOKEN_OVERLAP)
            token = "84_" + secrets.token_urlsafe(96)
            self.tokens[token] = now + TOKEN_LIFETIME
            self.issued_tokens.append(token)
            return Response(200, {"access_token": token, "expires_in": TOKEN_LIFETIME})

    def _image_upload(self, request: Request, *, limit: int) -> tuple[bytes, str] | Response:
        parts = request.multipart()
        data = parts.get("media")
        if not isinstance(data, bytes) or not data:
            return _fail(41005, "media data missing")
        if not data.startswith(_IMAGE_MAGIC):
            return _fail(40005, "invalid file type")
        if len(data) > limit:
            return _fail(40009, "invalid image size")
        return data, hashlib.sha256(data).hexdigest()

    def _add_material(self, request: Request) -> Response:
        if request.arg("type") != "image":
            return _fail(40004, "invalid media type")
        upload = self._image_upload(request, limit=10 * 1024 * 1024)
        if isinstance(upload, Response):
            return upload
        data, digest = upload
        media_id = "Vx" + secrets.token_urlsafe(30)
        url = f"http://mmbiz.qpic.cn/sz_mmbiz_png/{digest[:32]}/0?wx_fmt=png"
        self.materials[media_id] = {"size": len(data), "url": url}
        return Response(200, {"media_id": media_id, "url": url, "item": []})

    def _upload_image(self, request: Request) -> Response:
        upload = self._image_upload(request, limit=1024 * 1024)
        if isinstance(upload, Response):
            return upload
        _, digest = upload
        url = f"http://mmbiz.qpic.cn/mmbiz_png/{digest[:32]}/0"
        self.body_images.append(url)
        return Response(200, {"url": url})

    def _draft_add(self, request: Request) -> Response:
        body = request.json()
        articles = body.get("articles") if isinstance(body, dict) else None
        if not isinstance(articles, list) or not articles:
            return _fail(44003, "empty news data")
        for article in articles:
            title = str(article.get("title") or "")
            if not title:
                return _fail(44003, "empty news data")
            if len(title) > 32:
                return _fail(45003, "title size out of limit")
            if len(str(article.get("author") or "")) > 16:
                return _fail(45110, "author size out of limit")
            if len(str(article.get("digest") or "")) > 128:
                return _fail(45004, "description size out of limit")
            content = str(article.get("content") or "")
            if not content or len(content) >= 20_000 or len(content.encode()) >= 1_000_000:
                return _fail(45002, "content size out of limit")
            if article.get("thumb_media_id") not in self.materials:
                return _fail(40007, "invalid media_id")
        media_id = "Dr" + secrets.token_urlsafe(30)
        self.drafts[media_id] = {"articles": [dict(a) for a in articles], "created": self.clock()}
        return Response(200, {"media_id": media_id, "item": []})

    def _draft_get(self, request: Request) -> Response:
        draft = self.drafts.get(str((request.json() or {}).get("media_id")))
        if draft is None:
            return _fail(40007, "invalid media_id")
        return Response(200, {"news_item": draft["articles"]})

    def _submit(self, request: Request) -> Response:
        media_id = str((request.json() or {}).get("media_id"))
        draft = self.drafts.pop(media_id, None)
        if draft is None:
            return _fail(40007, "invalid media_id")
        publish_id = str(2_247_483_647 + secrets.randbelow(10**9))
        self.tasks[publish_id] = {
            "draft": draft,
            "polls": 0,
            "status": 1,
            "article_id": None,
            "fail": self.fail_next,
        }
        self.fail_next = False
        if self.publish_polls == 0:
            self._finish(publish_id)
        return _ok(publish_id=publish_id, msg_data_id=int(publish_id))

    def _finish(self, publish_id: str) -> None:
        task = self.tasks[publish_id]
        if task["fail"]:
            task["status"] = 3
            return
        self._mid += 1
        article_id = "o8_" + secrets.token_urlsafe(40)
        articles = []
        for index, item in enumerate(task["draft"]["articles"], start=1):
            url = f"http://mp.weixin.qq.com/s?__biz=MzA5NTExMTQ2Mw==&mid={self._mid}&idx={index}&sn={secrets.token_hex(16)}"
            article = {
                "article_id": article_id,
                "mid": self._mid,
                "idx": index,
                "title": item["title"],
                "author": item.get("author", ""),
                "digest": item.get("digest") or re.sub(r"<[^>]+>", "", item["content"])[:54],
                "content": re.sub(r"<script.*?</script>", "", item["content"], flags=re.S | re.I),
                "content_source_url": item.get("content_source_url", ""),
                "thumb_media_id": item["thumb_media_id"],
                "url": url,
                "published": self.clock(),
                "is_deleted": False,
                "counters": {"int_page_read_count": 0, "share_count": 0, "add_to_fav_count": 0},
            }
            articles.append(article)
        self.articles.extend(articles)
        task.update(status=0, article_id=article_id, urls=[a["url"] for a in articles])

    def _publish_status(self, request: Request) -> Response:
        publish_id = str((request.json() or {}).get("publish_id"))
        task = self.tasks.get(publish_id)
        if task is None:
            return _fail(53600, "Article ID 无效")
        if task["status"] == 1:
            task["polls"] += 1
            if task["polls"] >= self.publish_polls:
                self._finish(publish_id)
        answer: dict[str, Any] = {"publish_id": publish_id, "publish_status": task["status"]}
        if task["status"] == 0:
            answer["article_id"] = task["article_id"]
            answer["article_detail"] = {
                "count": len(task["urls"]),
                "item": [
                    {"idx": n, "article_url": url} for n, url in enumerate(task["urls"], start=1)
                ],
            }
            answer["fail_idx"] = []
        elif task["status"] in (2, 3, 4):
            answer["fail_idx"] = [1]
        return Response(200, answer)

    def _news_item(self, article: dict[str, Any], *, content: bool) -> dict[str, Any]:
        item = {
            "title": article["title"],
            "author": article["author"],
            "digest": article["digest"],
            "content_source_url": article["content_source_url"],
            "thumb_media_id": article["thumb_media_id"],
            "url": article["url"],
            "is_deleted": article["is_deleted"],
        }
        if content:
            item["content"] = article["content"]
        return item

    def _batchget(self, request: Request) -> Response:
        body = request.json() or {}
        offset, count = int(body.get("offset", 0)), int(body.get("count", 0))
        if not 1 <= count <= 20:
            return _fail(40073, "invalid count, count should be 1~20")
        with_content = not int(body.get("no_content", 0))
        by_id: dict[str, list[dict[str, Any]]] = {}
        for article in self.articles:
            by_id.setdefault(article["article_id"], []).append(article)
        groups = sorted(by_id.values(), key=lambda g: g[0]["published"], reverse=True)
        page = groups[offset : offset + count]
        items = [
            {
                "article_id": group[0]["article_id"],
                "content": {
                    "news_item": [self._news_item(a, content=with_content) for a in group],
                    "create_time": int(group[0]["published"]),
                    "update_time": int(group[0]["published"]),
                },
                "update_time": int(group[0]["published"]),
            }
            for group in page
        ]
        return Response(200, {"total_count": len(groups), "item_count": len(items), "item": items})

    def _getarticle(self, request: Request) -> Response:
        article_id = str((request.json() or {}).get("article_id"))
        found = [a for a in self.articles if a["article_id"] == article_id]
        if not found:
            return _fail(53600, "Article ID 无效")
        return Response(200, {"news_item": [self._news_item(a, content=True) for a in found]})

    def _followers(self, request: Request) -> Response:
        return Response(
            200, {"total": self.followers, "count": 0, "data": {"openid": []}, "next_openid": ""}
        )

    def _article_total(self, request: Request) -> Response:
        body = request.json() or {}
        begin, end = str(body.get("begin_date")), str(body.get("end_date"))
        if begin != end:
            return _fail(61501, "date range error")
        today = _day(self.clock())
        if begin >= today:
            return _fail(61500, "date format error")
        entries = []
        for article in self.articles:
            if _day(article["published"]) != begin:
                continue
            published = datetime.fromtimestamp(article["published"], _CHINA).date()
            yesterday = datetime.fromtimestamp(self.clock(), _CHINA).date() - timedelta(days=1)
            days = [
                published + timedelta(days=n)
                for n in range(min(7, (yesterday - published).days + 1))
            ]
            entries.append(
                {
                    "ref_date": begin,
                    "msgid": f"{article['mid']}_{article['idx']}",
                    "title": article["title"],
                    "details": [
                        {
                            "stat_date": day.isoformat(),
                            "target_user": self.followers,
                            **article["counters"],
                            "int_page_read_user": article["counters"]["int_page_read_count"],
                            "share_user": article["counters"]["share_count"],
                            "add_to_fav_user": article["counters"]["add_to_fav_count"],
                        }
                        for day in days
                    ],
                }
            )
        return Response(200, {"list": entries})
