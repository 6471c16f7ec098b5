"""The Threads connector: publishes posts (text, images with alt text, replies for threads) as
one profile through the Threads API's two steps — a media container, then ``threads_publish`` —
reads insights per post, and finds a post again after a crash among the profile's own. A thin
client on httpx (`connectors._http`): the Threads clients on PyPI (``pythreads``,
``threads-sdk``, ``meta-threads-sdk``) are small single-author wrappers without releases for
the current API, so the few endpoints are called directly. It keeps within the 250 posts per
24 hours that Threads allows a profile (``threads_publishing_limit``) and maps Graph API errors
onto the taxonomy; the token never reaches a message or a log.

Channel settings (``[channels.NAME]`` with ``platform = "threads"``):

* ``access_token_env``: the variable holding a long-lived Threads user access token with the
  scopes ``threads_basic``, ``threads_content_publish`` and ``threads_manage_insights``
  (a Meta app with the Threads use case; the profile authorises it, and the short-lived token is
  exchanged at ``graph.threads.net/access_token``). It lasts 60 days: the connector refreshes
  it with ``refresh_access_token`` (a token can be refreshed once it is a day old), a week
  before it expires, and keeps the new one in the session store for every process; its expiry
  is then known to ``elshi channels check`` and ``elshi status``. Exporting another token in the
  variable starts afresh from it.
* ``media_base_url``: where the office serves its media files over HTTPS (Threads downloads
  images itself from ``image_url``): an image ``flag.png`` is sent as
  ``<media_base_url>/flag.png``. Without it, posts with images are refused.
* ``timeout`` (default 30); ``api_base_url`` (default ``https://graph.threads.net``).

Exactly once: creating a container publishes nothing (an unused one expires after 24 hours), so
a failure before ``threads_publish`` is simply retried. The publish call has no idempotency
key: before it the post is identified by its text and reply target among the profile's posts
since the claim, after it by the media id; a lost answer is ambiguous and `reconcile` reads the
profile's posts back to the claim time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import httpx

from connectors import redaction
from connectors._http import HttpTransport, json_body
from connectors._limits import wait_seconds
from connectors.base import (
    AmbiguousError,
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

DEFAULT_API = "https://graph.threads.net"
VERSION = "v1.0"
QUOTA_WINDOW = timedelta(hours=24)
MAX_IMAGES = 20
PAGE = 100
RECONCILE_PAGES = 5
CONTAINER_WAIT = 30.0
_INSIGHTS = ("views", "likes", "replies", "reposts", "quotes")
_AUTH_CODES = frozenset({102, 190, 10, *range(200, 300)})
_RATE_CODES = frozenset({4, 17, 32, 613})
_TRANSIENT_CODES = frozenset({1, 2})
_GONE_SUBCODES = frozenset({33})
REFRESH_BEFORE = timedelta(days=7)
"""Refresh the long-lived token when it expires within this (it lasts 60 days)."""
REFRESH_RETRY = timedelta(hours=6)
"""After a refused or failed refresh (a token younger than a day cannot be refreshed), every
process waits this long before trying again, and goes on with the token it has."""


class ThreadsConnector(Connector):
    platform: ClassVar[str] = "threads"
    capabilities: ClassVar[Capabilities] = Capabilities(
        metrics=frozenset({"impressions", "likes", "replies", "reposts", "quotes", "followers"}),
        metrics_batch_size=25,
        idempotent_publish=False,
        can_reconcile=True,
        # 250 posts per profile per 24 hours.
        default_rate_per_minute=0.17,
    )

    def __init__(
        self,
        settings: ChannelSettings,
        *,
        clock: Clock = system_clock,
        sessions: SessionStore | None = None,
    ) -> None:
        super().__init__(settings, clock=clock, sessions=sessions)
        try:
            timeout = float(settings.options.get("timeout", 30.0))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            timeout = 0.0
        if timeout <= 0:
            raise AuthError(
                f"channel {self.name!r}: timeout = {settings.options.get('timeout')!r} must be "
                "a positive number of seconds",
                channel=self.name,
            )
        self.media_base_url = (settings.option("media_base_url") or "").rstrip("/") or None
        self._root = (settings.api_base_url or DEFAULT_API).rstrip("/")
        self._http = HttpTransport(
            self._root + "/" + VERSION,
            timeout=timeout,
            channel=self.name,
            platform="Threads",
            safe=self.safe,
        )
        self._user: dict[str, Any] | None = None
        self._token: str | None = None
        self._expires_at: datetime | None = None
        self._next_refresh: datetime | None = None

    def __repr__(self) -> str:
        return f"ThreadsConnector(name={self.name!r})"

    # --- the interface ----------------------------------------------------------------------

    def whoami(self) -> Identity:
        user = self._me()
        username = str(user.get("username") or user["id"])
        return Identity(
            account_id=str(user["id"]),
            handle=f"@{username}",
            display_name=str(user.get("name") or "") or None,
            followers=self._followers(),
            url=f"https://www.threads.net/@{username}",
            expires_at=self._expires_at,
        )

    def publish(self, post: OutgoingPost) -> Published:
        key = post.idempotency_key
        if len(post.media) > MAX_IMAGES:
            raise RejectedError(
                f"channel {self.name!r}: delivery {key} has {len(post.media)} images; a Threads "
                f"post carries at most {MAX_IMAGES}",
                channel=self.name,
            )
        user = self._me()
        self._check_quota(user)
        creation = self._container(post, user)
        answer = self._call(
            "POST",
            f"/{user['id']}/threads_publish",
            f"publishing delivery {key}",
            creating=True,
            data={"creation_id": creation},
        )
        media_id = str(answer.get("id") or "")
        if not media_id:
            raise AmbiguousError(
                f"channel {self.name!r}: Threads answered threads_publish without an id; the "
                "post may exist: reconcile before sending again",
                channel=self.name,
            )
        published = self._describe(media_id)
        log.debug("channel %s: published %s", self.name, media_id)
        return published

    def fetch_metrics(self, remote_ids: Sequence[str]) -> list[MetricSample]:
        ids = list(dict.fromkeys(str(r) for r in remote_ids))
        if not ids:
            return []
        followers = self._followers()
        samples = []
        for remote_id in ids:
            try:
                body = self._call(
                    "GET",
                    f"/{remote_id}/insights",
                    "reading post insights",
                    params={"metric": ",".join(_INSIGHTS)},
                )
            except _Gone:
                samples.append(
                    MetricSample(remote_id, self.clock(), followers=followers, deleted=True)
                )
                continue
            values = {str(item.get("name")): _value(item) for item in body.get("data") or []}
            samples.append(
                MetricSample(
                    remote_id,
                    self.clock(),
                    impressions=values.get("views"),
                    likes=values.get("likes"),
                    replies=values.get("replies"),
                    reposts=values.get("reposts"),
                    quotes=values.get("quotes"),
                    followers=followers,
                )
            )
        return samples

    def reconcile(self, post: OutgoingPost, *, since: datetime) -> Published | None:
        user = self._me()
        wanted = _comparable(post.text)
        after: str | None = None
        found: dict[str, Any] | None = None
        for _ in range(RECONCILE_PAGES):
            params: dict[str, Any] = {
                "fields": "id,text,timestamp,permalink,replied_to",
                "since": int(since.timestamp()),
                "limit": PAGE,
            }
            if after:
                params["after"] = after
            body = self._call(
                "GET",
                f"/{user['id']}/threads",
                f"looking for delivery {post.idempotency_key} among the profile's posts",
                params=params,
            )
            for item in body.get("data") or []:
                parent = (item.get("replied_to") or {}).get("id")
                same_parent = (str(parent) if parent else None) == post.reply_to
                if same_parent and _comparable(str(item.get("text") or "")) == wanted:
                    found = item  # newest first: keep the earliest match
            after = ((body.get("paging") or {}).get("cursors") or {}).get("after")
            if not after:
                return self._published(found) if found is not None else None
        if found is not None:
            return self._published(found)
        raise AmbiguousError(
            f"channel {self.name!r}: delivery {post.idempotency_key}: more than "
            f"{RECONCILE_PAGES * PAGE} posts since {since.isoformat()}; resolve it by hand",
            channel=self.name,
        )

    def remote_id_from_url(self, url: str) -> str:
        """The media id of the profile's post at ``https://www.threads.net/@<user>/post/<code>``
        (threads.com too), found among its posts by that permalink."""
        match = re.fullmatch(
            r"https://(?:www\.)?threads\.(?:net|com)/@(?P<user>[\w.]+)/post/(?P<code>[\w-]+)/?(?:\?.*)?",
            url.strip(),
        )
        user = self._me()
        if match is None or match["user"].lower() != str(user.get("username", "")).lower():
            raise RejectedError(
                f"channel {self.name!r}: {url!r} is not the permalink of a post of "
                f"@{user.get('username')} (https://www.threads.net/@<user>/post/<code>)",
                channel=self.name,
            )
        after: str | None = None
        for _ in range(RECONCILE_PAGES):
            params: dict[str, Any] = {"fields": "id,shortcode,permalink", "limit": PAGE}
            if after:
                params["after"] = after
            body = self._call(
                "GET", f"/{user['id']}/threads", "looking up the permalink", params=params
            )
            for item in body.get("data") or []:
                if item.get("shortcode") == match["code"] or str(item.get("permalink", "")).rstrip(
                    "/"
                ).endswith(match["code"]):
                    return str(item["id"])
            after = ((body.get("paging") or {}).get("cursors") or {}).get("after")
            if not after:
                break
        raise RejectedError(
            f"channel {self.name!r}: no post of the profile has the permalink {url!r}",
            channel=self.name,
        )

    def close(self) -> None:
        self._http.close()

    # --- steps ------------------------------------------------------------------------------

    def _me(self) -> dict[str, Any]:
        if self._user is None:
            self._user = self._call(
                "GET", "/me", "reading the profile", params={"fields": "id,username,name"}
            )
        return self._user

    def _followers(self) -> int | None:
        user = self._me()
        body = self._call(
            "GET",
            f"/{user['id']}/threads_insights",
            "reading the follower count",
            params={"metric": "followers_count"},
        )
        for item in body.get("data") or []:
            if item.get("name") == "followers_count":
                return _value(item)
        return None

    def _check_quota(self, user: dict[str, Any]) -> None:
        body = self._call(
            "GET",
            f"/{user['id']}/threads_publishing_limit",
            "reading the publishing quota",
            params={"fields": "quota_usage,config"},
        )
        (limit,) = body.get("data") or [{}]
        usage = limit.get("quota_usage")
        total = (limit.get("config") or {}).get("quota_total")
        if isinstance(usage, int) and isinstance(total, int) and usage >= total:
            wait = self._quota_wait(user)
            raise RateLimitedError(
                f"channel {self.name!r}: Threads allows {total} posts per 24 hours and the "
                f"profile has used them; retry in {wait:.0f} s",
                retry_after=wait,
                channel=self.name,
            )

    def _quota_wait(self, user: dict[str, Any]) -> float:
        """Seconds until the oldest post of the last 24 hours leaves the window."""
        since = self.clock() - QUOTA_WINDOW
        times: list[datetime] = []
        after: str | None = None
        for _ in range(RECONCILE_PAGES):
            params: dict[str, Any] = {
                "fields": "id,timestamp",
                "since": int(since.timestamp()),
                "limit": PAGE,
            }
            if after:
                params["after"] = after
            body = self._call(
                "GET",
                f"/{user['id']}/threads",
                "reading the posts of the last 24 hours",
                params=params,
            )
            times += [
                t for t in (_instant(i.get("timestamp")) for i in body.get("data") or []) if t
            ]
            after = ((body.get("paging") or {}).get("cursors") or {}).get("after")
            if not after:
                break
        if not times:
            return 3600.0
        return max(1.0, (min(times) + QUOTA_WINDOW - self.clock()).total_seconds())

    def _container(self, post: OutgoingPost, user: dict[str, Any]) -> str:
        """The id of a ready media container for ``post`` (creating one publishes nothing)."""
        path = f"/{user['id']}/threads"
        action = f"preparing delivery {post.idempotency_key}"
        common: dict[str, Any] = {}
        if post.reply_to:
            common["reply_to_id"] = post.reply_to
        if not post.media:
            answer = self._call(
                "POST", path, action, data={"media_type": "TEXT", "text": post.text, **common}
            )
            return str(answer["id"])
        images = [
            self._image(p, post.alt(n), post.idempotency_key) for n, p in enumerate(post.media)
        ]
        if len(images) == 1:
            answer = self._call(
                "POST",
                path,
                action,
                data={"media_type": "IMAGE", "text": post.text, **images[0], **common},
            )
            return self._ready(str(answer["id"]))
        children = [
            self._ready(
                str(
                    self._call(
                        "POST",
                        path,
                        action,
                        data={"media_type": "IMAGE", "is_carousel_item": "true", **image},
                    )["id"]
                )
            )
            for image in images
        ]
        answer = self._call(
            "POST",
            path,
            action,
            data={
                "media_type": "CAROUSEL",
                "children": ",".join(children),
                "text": post.text,
                **common,
            },
        )
        return self._ready(str(answer["id"]))

    def _ready(self, container: str) -> str:
        """Wait (bounded) until Threads has processed the container's media."""
        deadline = time.monotonic() + CONTAINER_WAIT
        pause = 0.05
        while True:
            body = self._call(
                "GET",
                f"/{container}",
                "checking the media container",
                params={"fields": "status,error_message"},
            )
            status = str(body.get("status") or "FINISHED")
            if status == "FINISHED":
                return container
            if status in ("ERROR", "EXPIRED"):
                raise RejectedError(
                    f"channel {self.name!r}: Threads could not process the media ({status}: "
                    f"{body.get('error_message') or 'no reason given'}); check that the images "
                    f"are reachable under {self.media_base_url}",
                    channel=self.name,
                )
            if time.monotonic() + pause > deadline:
                raise TransientError(
                    f"channel {self.name!r}: Threads was still processing the media after "
                    f"{CONTAINER_WAIT:g} s; the next attempt prepares it again",
                    channel=self.name,
                )
            time.sleep(pause)
            pause = min(pause * 2, 2.0)

    def _image(self, path: Path, alt: str, key: str) -> dict[str, str]:
        if self.media_base_url is None:
            raise RejectedError(
                f"channel {self.name!r}: delivery {key} has an image, but Threads downloads "
                "images from a public URL: set media_base_url to where the office serves its "
                "media files",
                channel=self.name,
            )
        image = {"image_url": f"{self.media_base_url}/{path.name}"}
        if alt:
            image["alt_text"] = alt
        return image

    def _describe(self, media_id: str) -> Published:
        """The published post's permalink and time; the post exists, so a failure here must
        not fail the publication."""
        try:
            body = self._call(
                "GET",
                f"/{media_id}",
                "reading the new post",
                params={"fields": "id,permalink,timestamp"},
            )
        except ConnectorError as error:
            log.warning(
                "channel %s: published %s but could not read its permalink (%s)",
                self.name,
                media_id,
                error.message,
            )
            return Published(media_id, None, self.clock())
        return self._published(body)

    def _published(self, item: dict[str, Any]) -> Published:
        url = item.get("permalink")
        return Published(
            str(item["id"]),
            str(url) if url else None,
            _instant(item.get("timestamp")) or self.clock(),
        )

    # --- the token --------------------------------------------------------------------------

    def _access_token(self) -> str:
        """The token to call with: the newest one any process refreshed from the configured
        token (session store), else the configured one; refreshed first when its expiry is
        unknown or within a week, unless a refresh was refused or failed lately."""
        configured = self.settings.secret("access_token")
        source = hashlib.sha256(configured.encode()).hexdigest()[:16]
        if self._token is None:
            stored = self.sessions.load(self.session_key)
            data = stored.data if stored is not None else {}
            if data.get("source") == source:  # refreshed from the token configured now
                self._token = data.get("access_token") or configured
                self._expires_at = _stamp(data.get("expires_at"))
                self._next_refresh = _stamp(data.get("next_refresh"))
                redaction.register([self._token])
            else:
                self._token = configured
        now = self.clock()
        due = self._expires_at is None or self._expires_at - now < REFRESH_BEFORE
        if due and (self._next_refresh is None or now >= self._next_refresh):
            self._refresh(source)
        return self._token

    def _refresh(self, source: str) -> None:
        """Exchange the token for a new one valid 60 days, shared with every process; when
        Threads refuses (the token is not a day old yet) or cannot be reached, go on with the
        current token and let every process wait `REFRESH_RETRY` before the next try."""
        assert self._token is not None
        now = self.clock()
        action = "refreshing the access token"
        try:
            response = self._http.request(
                "GET",
                self._root + "/refresh_access_token",
                action=action,
                params={"grant_type": "th_refresh_token", "access_token": self._token},
            )
            body = json_body(response)
            if response.status_code >= 400 or "error" in body or not body.get("access_token"):
                raise self._answer_error(response, body, action, creating=False)
            token = str(body["access_token"])
            lifetime = float(body.get("expires_in") or 0)
        except (ConnectorError, TypeError, ValueError) as exc:
            self._next_refresh = now + REFRESH_RETRY
            log.warning(
                "channel %s: the Threads access token was not refreshed (%s); trying again "
                "after %s",
                self.name,
                self.safe(str(exc)),
                self._next_refresh.isoformat(timespec="minutes"),
            )
            self._keep(source)
            return
        redaction.register([token])
        self._token = token
        self._expires_at = now + timedelta(seconds=lifetime) if lifetime > 0 else None
        self._next_refresh = None if lifetime > 0 else now + REFRESH_RETRY
        self._keep(source)
        log.info(
            "channel %s: refreshed the Threads access token (valid until %s)",
            self.name,
            self._expires_at.date() if self._expires_at else "an unknown date",
        )

    def _keep(self, source: str) -> None:
        """Share the current token, its expiry and the next refresh try with every process."""
        assert self._token is not None
        data = {"source": source, "access_token": self._token}
        for key, when in (("expires_at", self._expires_at), ("next_refresh", self._next_refresh)):
            if when is not None:
                data[key] = when.isoformat()
        self.sessions.save(self.session_key, StoredSession(data, self._expires_at))

    # --- calls and errors -------------------------------------------------------------------

    def _call(
        self, method: str, path: str, action: str, *, creating: bool = False, **kwargs: Any
    ) -> dict[str, Any]:
        token = self._access_token()
        if method == "GET":
            kwargs["params"] = {**kwargs.get("params", {}), "access_token": token}
        else:
            kwargs["data"] = {**kwargs.get("data", {}), "access_token": token}
        response = self._http.request(method, path, action=action, creating=creating, **kwargs)
        body = json_body(response)
        if response.status_code >= 400 or "error" in body:
            raise self._answer_error(response, body, action, creating=creating)
        if not body:
            kind = AmbiguousError if creating else TransientError
            raise kind(
                f"channel {self.name!r}: Threads, {action}: unreadable answer", channel=self.name
            )
        return body

    def _answer_error(
        self, response: httpx.Response, body: dict[str, Any], action: str, *, creating: bool
    ) -> ConnectorError:
        raw = body.get("error")
        error: dict[str, Any] = raw if isinstance(raw, dict) else {}
        code = error.get("code") if isinstance(error.get("code"), int) else None
        subcode = (
            error.get("error_subcode") if isinstance(error.get("error_subcode"), int) else None
        )
        status = response.status_code
        said = self.safe(
            f"HTTP {status}, error {code}/{subcode}: {error.get('message') or response.reason_phrase}"
        )
        where = f"channel {self.name!r}: Threads, {action}"
        if subcode in _GONE_SUBCODES and action.startswith("reading post"):
            return _Gone(where, channel=self.name)
        if code in _AUTH_CODES:
            env = (
                self.settings.options.get("access_token_env")
                or "the variable named by access_token_env"
            )
            return AuthError(
                f"{where}: the access token was refused ({said}); create a new long-lived "
                f"token for the profile and export it in {env}",
                channel=self.name,
                status=status,
            )
        if code in _RATE_CODES or status == 429:
            # App-level throttling (code 4) carries X-App-Usage without an estimate: then a
            # Retry-After, else connectors._limits' default, never no wait at all.
            wait = _regain_access(response) or wait_seconds(response.headers, self.clock())
            return RateLimitedError(
                f"{where}: rate limited ({said}); retry in {wait:.0f} s",
                retry_after=wait,
                channel=self.name,
                status=status,
            )
        if code in _TRANSIENT_CODES or status >= 500:
            return TransientError(
                f"{where}: server error ({said})",
                channel=self.name,
                status=status,
                retry_after=wait_seconds(response.headers, self.clock(), default=None),
            )
        if code is None and creating:
            return AmbiguousError(
                f"{where}: unreadable answer ({said})", channel=self.name, status=status
            )
        return RejectedError(f"{where}: refused ({said})", channel=self.name, status=status)


class _Gone(TransientError):
    """A post Threads says does not exist (deleted): only `fetch_metrics` sees this."""


def _regain_access(response: httpx.Response) -> float | None:
    """Seconds until Threads lifts a rate limit, from the usage header's estimate (minutes)."""
    for header in ("X-Business-Use-Case-Usage", "X-App-Usage"):
        raw = response.headers.get(header)
        if not raw:
            continue
        try:
            usage = json.loads(raw)
        except ValueError:
            continue
        entries = (
            [e for v in usage.values() for e in (v if isinstance(v, list) else [v])]
            if isinstance(usage, dict)
            else []
        )
        minutes = [e.get("estimated_time_to_regain_access") for e in entries if isinstance(e, dict)]
        known = [m for m in minutes if isinstance(m, int | float) and m > 0]
        if known:
            return float(max(known)) * 60.0
    return None


def _value(item: dict[str, Any]) -> int | None:
    values = item.get("values")
    if isinstance(values, list) and values and isinstance(values[0], dict):
        value = values[0].get("value")
    else:
        value = (item.get("total_value") or {}).get("value")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _comparable(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z").astimezone(UTC)
    except ValueError:
        return None


def _stamp(value: object) -> datetime | None:
    """An instant the session store keeps (ISO 8601 with an offset), None when absent."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except ValueError:
        return None
