"""The WeChat Official Account connector: publishes a post as an article (title, cover image,
body; the post's text is its digest) through the draft box and free publishing, polls the
asynchronous publication until it succeeds or fails, finds an article again after a crash, and
reads reads, shares and favourites from the data cube.

It uses wechatpy 1.8.18 (2021), the maintained-enough WeChat SDK, where it fits: the access
token (fetched from appid and secret, refreshed and the call retried once on 40001, 40014 and
42001), permanent material upload for the cover, ``media/uploadimg`` for body images, the data
cube's ``getarticletotal`` and the follower list. wechatpy 1.8.18 predates the draft box and
free publishing (``draft/add``, ``freepublish/submit``, ``freepublish/get``,
``freepublish/batchget`` came in 2021–22; wechatpy has them only in 2.0 pre-releases), so those
are called through wechatpy's own generic ``client.post`` — the same transport, token handling
and error decoding, a thin layer of ours on top. Its hard-coded host is re-addressed to
``api_base_url`` by a transport adapter when one is set.

The access token is shared by every process through the session store: a new token invalidates
the previous one after five minutes, so two daemons each fetching their own would lock each other
out. A process takes the stored token while it is valid, and on an expiry code first looks for
a newer one another process stored before it fetches a new one.

Channel settings (``[channels.NAME]`` with ``platform = "wechat"``):

* ``appid`` (required) and ``appsecret_env``: the account's AppID and the variable holding its
  AppSecret (公众平台 → 设置与开发 → 基本配置; the server's public IP must be on the IP
  allow-list there). Free publishing needs a verified (认证) account.
* ``author`` (optional, at most 16 characters), ``open_comment`` (flag, default false).
* ``publish_wait``: seconds to poll a publication before leaving it to reconciliation
  (default 60); ``timeout`` (default 30); ``api_base_url`` (default ``https://api.weixin.qq.com``).

Exactly once: a delivery's progress is kept in the session store under its idempotency key —
the draft's media id once ``draft/add`` answered, the publish id once ``freepublish/submit``
answered, the article id once it is published. Publishing a delivery again continues from
there: a known article is returned; a known publish task is polled, never submitted again; a
known draft still in the draft box is submitted (no second draft); a draft gone from the draft box
was submitted, so the article is looked up among the published ones (``batchget``) by title,
and if it is not there yet the answer is ambiguous. A crash between ``draft/add`` and
``freepublish/submit`` therefore publishes the article once. Without stored progress,
`reconcile` looks for the title among the articles published since the claim.
"""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import requests

from connectors._limits import wait_seconds
from connectors._requests import Rebase, never_sent
from connectors.base import (
    AmbiguousError,
    Article,
    AuthError,
    Capabilities,
    ChannelSettings,
    Clock,
    Connector,
    ConnectorError,
    Identity,
    MetricSample,
    OutgoingPost,
    Published,
    RateLimitedError,
    RejectedError,
    SessionStore,
    StoredSession,
    TransientError,
    system_clock,
)

log = logging.getLogger(__name__)

WECHAT_HOST = "https://api.weixin.qq.com/"
CHINA = timezone(timedelta(hours=8))
TOKEN_MARGIN = 60.0
BATCH = 20
LOOKUP_PAGES = 10
TITLE_LIMIT = 32
DIGEST_LIMIT = 128
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".bmp"})
_EXPIRED = frozenset({40001, 40014, 42001})
_AUTH = frozenset({40013, 40125, 40164, 41002, 41004, 48001, 50001, 50002, 61024})
_QUOTA = frozenset({45009, 45011})
_PUBLISH_FAILED = {
    2: "it was refused as original content",
    3: "publishing failed",
    4: "WeChat's review refused it",
    5: "it was deleted",
    6: "WeChat blocked it",
}


def _client_class() -> type[Any]:
    """wechatpy's client with the access token kept in the session store (imported lazily:
    wechatpy is loaded only when a WeChat channel is used)."""
    from wechatpy import WeChatClient
    from wechatpy.exceptions import WeChatClientException

    class SharedTokenClient(WeChatClient):  # type: ignore[misc]
        connector: WeChatConnector
        renewals = 0
        """Token renewals during the current call: wechatpy retries after every refused
        token, so a second refusal in one call ends it (the credentials are the problem)."""

        @property
        def access_token(self) -> str:
            return self.connector._current_token()

        def fetch_access_token(self) -> dict[str, Any]:
            self.renewals += 1
            if self.renewals > 1:
                raise WeChatClientException(
                    40001, "the access token was refused again after renewal"
                )
            token = self.connector._renew_token()
            self.session.set(self.access_token_key, token)
            return {"access_token": token}

    return SharedTokenClient


class WeChatConnector(Connector):
    platform: ClassVar[str] = "wechat"
    capabilities: ClassVar[Capabilities] = Capabilities(
        metrics=frozenset({"impressions", "reposts", "bookmarks", "followers"}),
        metrics_batch_size=BATCH,
        idempotent_publish=True,
        can_reconcile=True,
        # A subscription account publishes a few articles a day; the API allows 100 publications.
        default_rate_per_minute=0.2,
    )

    def __init__(
        self,
        settings: ChannelSettings,
        *,
        clock: Clock = system_clock,
        sessions: SessionStore | None = None,
    ) -> None:
        super().__init__(settings, clock=clock, sessions=sessions)
        self.appid = (settings.option("appid") or "").strip()
        if not self.appid:
            raise AuthError(
                f"channel {self.name!r}: option appid is not set; set it to the account's "
                'AppID, e.g. appid = "wx8c1d2e3f4a5b6c7d"',
                channel=self.name,
            )
        self.author = settings.option("author") or ""
        self.open_comment = str(settings.options.get("open_comment", False)).lower() in (
            "1",
            "true",
            "yes",
            "on",
        )
        self.publish_wait = _seconds(
            settings.options.get("publish_wait", 60.0), "publish_wait", self.name
        )
        self._adapter = Rebase(
            settings.api_base_url,
            _seconds(settings.options.get("timeout", 30.0), "timeout", self.name),
        )
        self._client_instance: Any = None
        self._token: str | None = None
        self._token_until: datetime | None = None

    def __repr__(self) -> str:
        return f"WeChatConnector(name={self.name!r}, appid={self.appid!r})"

    # --- the interface ----------------------------------------------------------------------

    def whoami(self) -> Identity:
        with self._translated("reading the account"):
            followers = self._client().user.get_followers()
        total = followers.get("total") if isinstance(followers, dict) else None
        return Identity(
            account_id=self.appid,
            handle=self.appid,
            followers=total if isinstance(total, int) else None,
        )

    def publish(self, post: OutgoingPost) -> Published:
        key = post.idempotency_key
        state = self._progress(key)
        if "article_id" in state:
            return Published(
                state["article_id"],
                state.get("url") or None,
                _instant(state.get("published_at")) or self.clock(),
            )
        if "publish_id" in state:
            return self._await(post, state)
        if "draft" in state:
            if self._draft_exists(state["draft"]):
                return self._submit(post, state)
            found = self._find(_article(post).title, since=None)
            if found is not None:
                return self._remember(key, state, found)
            raise AmbiguousError(
                f"channel {self.name!r}: delivery {key}: its draft was submitted but the article "
                "is not among the published ones yet; reconcile later",
                channel=self.name,
            )
        draft = self._draft(post)
        state = {"draft": draft}
        self._save(key, state)
        return self._submit(post, state)

    def fetch_metrics(self, remote_ids: Sequence[str]) -> list[MetricSample]:
        ids = list(dict.fromkeys(str(r) for r in remote_ids))
        if not ids:
            return []
        with self._translated("reading the follower count"):
            total = self._client().user.get_followers().get("total")
        followers = total if isinstance(total, int) else None
        published = self._published_articles(set(ids))
        counters = self._cube(published)
        now = self.clock()
        samples = []
        for remote_id in ids:
            article = published.get(remote_id)
            if article is None or article.get("is_deleted"):
                samples.append(MetricSample(remote_id, now, followers=followers, deleted=True))
                continue
            found = counters.get(remote_id, {})
            samples.append(
                MetricSample(
                    remote_id,
                    now,
                    impressions=_count(found.get("int_page_read_count")),
                    reposts=_count(found.get("share_count")),
                    bookmarks=_count(found.get("add_to_fav_count")),
                    followers=followers,
                )
            )
        return samples

    def reconcile(self, post: OutgoingPost, *, since: datetime) -> Published | None:
        key = post.idempotency_key
        state = self._progress(key)
        if "article_id" in state or "publish_id" in state:
            return self.publish(post)  # only polls: never submits again
        if "draft" in state and self._draft_exists(state["draft"]):
            return None  # certainly not submitted: publishing it again submits this draft
        found = self._find(_article(post).title, since=since)
        if found is not None:
            return self._remember(key, state, found)
        if "draft" in state:
            raise AmbiguousError(
                f"channel {self.name!r}: delivery {key}: its draft was submitted but no article "
                "with its title is published; look at the account's publishing records",
                channel=self.name,
            )
        return None

    def remote_id_from_url(self, url: str) -> str:
        """The article id of the account's published article at ``url``
        (``https://mp.weixin.qq.com/s?__biz=...&mid=...&idx=...``), found among its published
        articles; the short ``/s/<code>`` form cannot be matched and is refused."""
        parts = urlsplit(url.strip())
        query = parse_qs(parts.query)
        if parts.netloc != "mp.weixin.qq.com" or parts.path != "/s" or "mid" not in query:
            raise RejectedError(
                f"channel {self.name!r}: {url!r} is not the long link of a WeChat article "
                "(https://mp.weixin.qq.com/s?__biz=...&mid=...&idx=...: in the admin console, "
                "发表记录 → the article → copy its link)",
                channel=self.name,
            )
        wanted = (query["mid"][0], query.get("idx", ["1"])[0])
        for page in range(LOOKUP_PAGES):
            answer = self._post(
                "freepublish/batchget",
                {"offset": page * BATCH, "count": BATCH, "no_content": 1},
                "reading the published articles",
            )
            items = answer.get("item") or []
            for item in items:
                for news in (item.get("content") or {}).get("news_item") or []:
                    found = parse_qs(urlsplit(str(news.get("url") or "")).query)
                    if (found.get("mid", [""])[0], found.get("idx", ["1"])[0]) == wanted:
                        return str(item["article_id"])
            if len(items) < BATCH:
                break
        raise RejectedError(
            f"channel {self.name!r}: no published article of this account has the link {url!r}",
            channel=self.name,
        )

    def close(self) -> None:
        if self._client_instance is not None:
            self._client_instance._http.close()
        self._client_instance = None

    # --- steps ------------------------------------------------------------------------------

    def _draft(self, post: OutgoingPost) -> str:
        article = _article(post)
        if article.cover is None:
            raise RejectedError(
                f"channel {self.name!r}: delivery {post.idempotency_key} has no cover image; a "
                "WeChat article needs one (article.cover, or an image in media)",
                channel=self.name,
            )
        cover = self._material(article.cover)
        body = [f"<p>{_html(p)}</p>" for p in article.body.split("\n\n") if p.strip()]
        for n, path in enumerate(post.media):
            if path == article.cover:
                continue
            url = self._body_image(path)
            body.append(
                f'<p><img src="{html.escape(url, quote=True)}" alt="{html.escape(post.alt(n), quote=True)}"/></p>'
            )
        entry = {
            "title": article.title,
            "author": article.author or self.author,
            "digest": post.text[:DIGEST_LIMIT],
            "content": "".join(body),
            "content_source_url": article.source_url or "",
            "thumb_media_id": cover,
            "need_open_comment": int(self.open_comment),
            "only_fans_can_comment": 0,
        }
        answer = self._post(
            "draft/add",
            {"articles": [entry]},
            f"saving the draft of delivery {post.idempotency_key}",
        )
        media_id = answer.get("media_id")
        if not media_id:
            raise TransientError(
                f"channel {self.name!r}: WeChat saved no draft (no media_id)", channel=self.name
            )
        return str(media_id)

    def _submit(self, post: OutgoingPost, state: dict[str, str]) -> Published:
        action = f"publishing delivery {post.idempotency_key}"
        answer = self._post(
            "freepublish/submit", {"media_id": state["draft"]}, action, creating=True
        )
        publish_id = answer.get("publish_id")
        if publish_id is None:
            raise AmbiguousError(
                f"channel {self.name!r}: WeChat accepted the publication without a publish_id; reconcile",
                channel=self.name,
            )
        state = {**state, "publish_id": str(publish_id)}
        self._save(post.idempotency_key, state)
        return self._await(post, state)

    def _await(self, post: OutgoingPost, state: dict[str, str]) -> Published:
        """Poll the publication until it succeeds or fails (bounded by ``publish_wait``)."""
        key = post.idempotency_key
        deadline = time.monotonic() + self.publish_wait
        pause = 0.05
        while True:
            answer = self._post(
                "freepublish/get",
                {"publish_id": state["publish_id"]},
                f"checking the publication of delivery {key}",
            )
            status = answer.get("publish_status")
            if status == 0:
                items = (answer.get("article_detail") or {}).get("item") or []
                url = str(items[0].get("article_url")) if items else ""
                return self._remember(
                    key, state, {"article_id": str(answer["article_id"]), "url": url}
                )
            if status in _PUBLISH_FAILED:
                self.sessions.forget(self._state_key(key))
                raise RejectedError(
                    f"channel {self.name!r}: WeChat did not publish delivery {key}: "
                    f"{_PUBLISH_FAILED[int(status)]} (publish_status {status}, failed articles "
                    f"{answer.get('fail_idx')}); see 发表记录 in the admin console",
                    channel=self.name,
                )
            if time.monotonic() + pause > deadline:
                raise AmbiguousError(
                    f"channel {self.name!r}: delivery {key} is still being published after "
                    f"{self.publish_wait:g} s (publish_id {state['publish_id']}); it will be "
                    "checked again, never submitted twice",
                    channel=self.name,
                )
            time.sleep(pause)
            pause = min(pause * 2, 2.0)

    def _remember(self, key: str, state: dict[str, str], found: dict[str, str]) -> Published:
        now = self.clock()
        self._save(key, {**state, **found, "published_at": now.isoformat()})
        return Published(found["article_id"], found.get("url") or None, now)

    def _draft_exists(self, media_id: str) -> bool:
        try:
            self._post("draft/get", {"media_id": media_id}, "looking for the draft")
        except RejectedError:
            return False
        return True

    def _find(self, title: str, *, since: datetime | None) -> dict[str, str] | None:
        """The earliest published article titled ``title`` (since ``since``)."""
        found: dict[str, str] | None = None
        for page in range(LOOKUP_PAGES):
            answer = self._post(
                "freepublish/batchget",
                {"offset": page * BATCH, "count": BATCH, "no_content": 1},
                "reading the published articles",
            )
            items = answer.get("item") or []
            for item in items:
                when = datetime.fromtimestamp(int(item.get("update_time") or 0), UTC)
                if since is not None and when < since:
                    return found
                for news in (item.get("content") or {}).get("news_item") or []:
                    if news.get("title") == title and not news.get("is_deleted"):
                        found = {
                            "article_id": str(item["article_id"]),
                            "url": str(news.get("url") or ""),
                        }
            if len(items) < BATCH:
                break
        return found

    def _published_articles(self, wanted: set[str]) -> dict[str, dict[str, Any]]:
        """Published articles among ``wanted`` by id: title, URL, time, deletion."""
        out: dict[str, dict[str, Any]] = {}
        for page in range(LOOKUP_PAGES):
            answer = self._post(
                "freepublish/batchget",
                {"offset": page * BATCH, "count": BATCH, "no_content": 1},
                "reading the published articles",
            )
            items = answer.get("item") or []
            for item in items:
                article_id = str(item.get("article_id"))
                news = ((item.get("content") or {}).get("news_item") or [{}])[0]
                if article_id in wanted:
                    out[article_id] = {**news, "update_time": int(item.get("update_time") or 0)}
            if len(items) < BATCH or wanted <= set(out):
                break
        return out

    def _cube(self, articles: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Each article's latest daily counters from the data cube (published before today in
        China; the cube has nothing for today)."""
        today = self.clock().astimezone(CHINA).date()
        days: dict[str, list[str]] = {}
        for article_id, article in articles.items():
            published = datetime.fromtimestamp(article["update_time"], CHINA).date()
            if published < today:
                days.setdefault(published.isoformat(), []).append(article_id)
        out: dict[str, dict[str, Any]] = {}
        for day, ids in days.items():
            with self._translated("reading article statistics"):
                entries = self._client().datacube.get_article_total(day, day)
            for article_id in ids:
                article = articles[article_id]
                match = _cube_entry(entries, article)
                if match is not None and match.get("details"):
                    out[article_id] = max(match["details"], key=lambda d: str(d.get("stat_date")))
        return out

    def _material(self, path: Path) -> str:
        image = _image(path, self.name)
        with self._translated(f"uploading the cover {path.name}"):
            answer = self._client().material.add("image", image)
        return str(answer["media_id"])

    def _body_image(self, path: Path) -> str:
        image = _image(path, self.name)
        with self._translated(f"uploading {path.name}"):
            return str(self._client().media.upload_image(image))

    # --- wechatpy ---------------------------------------------------------------------------

    def _client(self) -> Any:
        if self._client_instance is None:
            client = _client_class()(
                self.appid, self.settings.secret("appsecret"), timeout=None, auto_retry=True
            )
            client.connector = self
            client._http.mount(WECHAT_HOST, self._adapter)
            self._client_instance = client
        return self._client_instance

    def _post(
        self, endpoint: str, data: dict[str, Any], action: str, *, creating: bool = False
    ) -> dict[str, Any]:
        with self._translated(action, creating=creating):
            answer = self._client().post(endpoint, data=data)
        if not isinstance(answer, dict):
            kind = AmbiguousError if creating else TransientError
            raise kind(
                f"channel {self.name!r}: WeChat, {action}: unreadable answer", channel=self.name
            )
        return answer

    def _current_token(self) -> str:
        now = self.clock()
        if (
            self._token is not None
            and self._token_until is not None
            and (self._token_until - now).total_seconds() > TOKEN_MARGIN
        ):
            return self._token
        stored = self.sessions.load(self.session_key)
        if (
            stored is not None
            and stored.data.get("appid") == self.appid
            and stored.usable(now, margin=TOKEN_MARGIN)
        ):
            self._token, self._token_until = stored.data["access_token"], stored.expires_at
            return self._token
        return self._renew_token()

    def _renew_token(self) -> str:
        """A token after WeChat refused ours: another process's newer one when it stored one,
        else a new one (which ends everyone's old one after five minutes)."""
        stored = self.sessions.load(self.session_key)
        if (
            stored is not None
            and stored.data.get("appid") == self.appid
            and stored.data.get("access_token") != self._token
            and stored.usable(self.clock(), margin=TOKEN_MARGIN)
        ):
            self._token, self._token_until = stored.data["access_token"], stored.expires_at
            return self._token
        from wechatpy.client.base import BaseWeChatClient

        client = self._client()
        answer = BaseWeChatClient._fetch_access_token(
            client,
            url="https://api.weixin.qq.com/cgi-bin/token",
            params={
                "grant_type": "client_credential",
                "appid": self.appid,
                "secret": self.settings.secret("appsecret"),
            },
        )
        token = str(answer["access_token"])
        until = self.clock() + timedelta(seconds=int(answer.get("expires_in") or 7200))
        self._token, self._token_until = token, until
        self.sessions.save(
            self.session_key,
            StoredSession({"appid": self.appid, "access_token": token}, expires_at=until),
        )
        log.info("channel %s: fetched a new WeChat access token", self.name)
        return token

    # --- progress of one delivery -------------------------------------------------------------

    def _state_key(self, key: str) -> str:
        return f"{self.session_key}/delivery/{key}"

    def _progress(self, key: str) -> dict[str, str]:
        stored = self.sessions.load(self._state_key(key))
        return dict(stored.data) if stored is not None else {}

    def _save(self, key: str, state: dict[str, str]) -> None:
        self.sessions.save(
            self._state_key(key), StoredSession(state, expires_at=self.clock() + timedelta(days=60))
        )

    # --- errors -----------------------------------------------------------------------------

    @contextmanager
    def _translated(self, action: str, *, creating: bool = False) -> Iterator[None]:
        from wechatpy.exceptions import WeChatClientException

        where = f"channel {self.name!r}: WeChat, {action}"
        if self._client_instance is not None:
            self._client_instance.renewals = 0
        try:
            yield
        except ConnectorError:
            raise
        except WeChatClientException as exc:
            raise self._error(exc, where, creating=creating) from None
        except requests.RequestException as exc:
            detail = self.safe(f"{type(exc).__name__}: {exc}")
            if creating and not never_sent(exc):
                raise AmbiguousError(
                    f"{where}: the connection failed after the request was sent ({detail}); the "
                    "article may be published: reconcile (never submitted twice)",
                    channel=self.name,
                ) from None
            raise TransientError(f"{where}: network error ({detail})", channel=self.name) from None
        except (KeyError, TypeError, ValueError) as exc:
            kind = AmbiguousError if creating else TransientError
            raise kind(
                self.safe(f"{where}: unreadable answer ({type(exc).__name__})"), channel=self.name
            ) from None

    def _error(self, exc: Any, where: str, *, creating: bool) -> ConnectorError:
        code = exc.errcode if isinstance(exc.errcode, int) else None
        status = getattr(exc.response, "status_code", None)
        said = self.safe(f"errcode {code}: {exc.errmsg}" if code is not None else f"HTTP {status}")
        env = self.settings.options.get("appsecret_env") or "the variable named by appsecret_env"
        if code in _EXPIRED or code in _AUTH:
            hint = {
                40164: "add this server's public IP to the IP allow-list (基本配置 → IP白名单)",
                48001: "the account may not use this API (free publishing needs a verified account)",
            }.get(code or 0, f"check appid and the AppSecret in {env}")
            return AuthError(f"{where}: refused ({said}); {hint}", channel=self.name, status=status)
        if code in _QUOTA:
            wait = 60.0 if code == 45011 else _until_china_midnight(self.clock())
            return RateLimitedError(
                f"{where}: quota reached ({said}); retry in {wait:.0f} s",
                retry_after=wait,
                channel=self.name,
            )
        if code == -1 or (code is None and (status or 0) >= 500):
            headers = getattr(exc.response, "headers", None)
            return TransientError(
                f"{where}: WeChat is busy ({said})",
                channel=self.name,
                status=status,
                retry_after=None
                if headers is None
                else wait_seconds(headers, self.clock(), default=None),
            )
        if code is None:
            kind = AmbiguousError if creating else TransientError
            return kind(f"{where}: unreadable answer ({said})", channel=self.name, status=status)
        return RejectedError(f"{where}: refused ({said})", channel=self.name, status=status)


# --- plain helpers ----------------------------------------------------------------------------


def _article(post: OutgoingPost) -> Article:
    """The post's article, or one made from its text and first image."""
    if post.article is not None:
        return post.article
    first_line = post.text.strip().split("\n", 1)[0]
    return Article(
        title=first_line[:TITLE_LIMIT], body=post.text, cover=post.media[0] if post.media else None
    )


def _image(path: Path, channel: str) -> tuple[str, bytes]:
    """A file as wechatpy uploads it: (name, bytes). Bytes, not an open file, because wechatpy
    sends the request again after renewing a refused token, and a file would be at its end."""
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise RejectedError(
            f"channel {channel!r}: {path.name} is not an image WeChat takes (jpg, png, gif, bmp)",
            channel=channel,
        )
    try:
        return path.name, path.read_bytes()
    except OSError as exc:
        raise RejectedError(
            f"channel {channel!r}: cannot read {path}: {exc.strerror}", channel=channel
        ) from None


def _cube_entry(entries: Any, article: dict[str, Any]) -> dict[str, Any] | None:
    """The data cube's entry for ``article``: by ``msgid`` (``<mid>_<idx>`` of its URL), else by
    title (the cube does not know article ids)."""
    query = parse_qs(urlsplit(str(article.get("url") or "")).query)
    msgid = f"{query.get('mid', [''])[0]}_{query.get('idx', ['1'])[0]}"
    candidates = [e for e in entries or [] if isinstance(e, dict)]
    by_id = [e for e in candidates if e.get("msgid") == msgid]
    if by_id:
        return by_id[0]
    by_title = [e for e in candidates if e.get("title") == article.get("title")]
    return by_title[0] if len(by_title) == 1 else None


def _html(paragraph: str) -> str:
    return "<br/>".join(html.escape(line) for line in paragraph.strip().split("\n"))


def _seconds(value: object, key: str, channel: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = 0.0
    if number <= 0:
        raise AuthError(
            f"channel {channel!r}: {key} = {value!r} must be a positive number of seconds",
            channel=channel,
        )
    return number


def _until_china_midnight(now: datetime) -> float:
    local = now.astimezone(CHINA)
    tomorrow = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1.0, (tomorrow - local).total_seconds())


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
