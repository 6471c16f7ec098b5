"""The Weibo connector: publishes statuses (text and one picture) as one account through the
Weibo Open API's ``statuses/share``, reads their counters with ``statuses/count``, and finds a
status again after a crash in the account's own timeline. A thin client on httpx
(`connectors._http`): no maintained Python client for the Weibo Open API exists (the ``weibo``
package on PyPI dates from 2014 and has no ``statuses/share``). It maps every answer onto the
error taxonomy by Weibo's ``error_code`` and never lets the token reach a message or a log.

Channel settings (``[channels.NAME]`` with ``platform = "weibo"``):

* ``access_token_env``: the variable holding the account's OAuth 2 access token for the app
  (Weibo Open Platform → 我的应用 → the app; the account authorises it once through
  ``oauth2/authorize`` and the app exchanges the code at ``oauth2/access_token``). Tokens expire
  (an unaudited app's after a day, an audited one's after up to 30 days); ``elshi channels
  check`` shows when.
* ``safe_domain`` (required): the app's "安全域名" (its registered domain). ``statuses/share``
  refuses a text without a link to it; campaign validation checks every Weibo text for one.
* ``user_ip`` (required): the public IP address of the person publishing, sent as ``rip`` as
  the share API requires (the office's outgoing address).
* ``timeout``: seconds per HTTP request (default 30); ``api_base_url`` (default
  ``https://api.weibo.com``).

Exactly once: the share API has no idempotency key. Before the call a post is identified by its
text (links compared without their address, which Weibo replaces by t.cn links) among the
account's statuses created since the claim; after it by the status id. A lost answer is
ambiguous; `reconcile` reads the timeline back to the claim time and finds the text or says it
is absent. Weibo refuses a text identical to a live status ("repeat content", 20019), which
arrives as `DuplicateError` so the scheduler reconciles instead of failing. Threads are not
possible (share cannot reply).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import httpx

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
    DuplicateError,
    Identity,
    MetricSample,
    OutgoingPost,
    Published,
    RateLimitedError,
    RejectedError,
    SessionStore,
    TransientError,
    system_clock,
)

log = logging.getLogger(__name__)

DEFAULT_API = "https://api.weibo.com"
COUNT_BATCH = 100
TIMELINE_PAGE = 100
TIMELINE_PAGES = 5
MAX_PICTURES = 1
PICTURE_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
}
_AUTH_CODES = frozenset({10013, 10014, 21301, 21314, 21315, 21316, 21317, 21319, 21327, 21332})
_RATE_CODES = frozenset({10022, 10023, 10024, 20016})
_DUPLICATE_CODES = frozenset({20017, 20019})
_TRANSIENT_CODES = frozenset({10001, 10002, 10009, 10010, 10011, 21205})
_URL = re.compile(r"https?://\S+")
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_PERMALINK = re.compile(
    r"https?://(?:www\.)?(?:weibo\.com/(?:(?P<uid>\d+)|detail|status)|m\.weibo\.cn/(?:status|detail))"
    r"/(?P<code>[0-9A-Za-z]+)/?(?:\?.*)?"
)


class WeiboConnector(Connector):
    platform: ClassVar[str] = "weibo"
    capabilities: ClassVar[Capabilities] = Capabilities(
        metrics=frozenset({"likes", "reposts", "replies", "followers"}),
        metrics_batch_size=COUNT_BATCH,
        idempotent_publish=False,
        can_reconcile=True,
        # statuses/share allows about 30 shares per user per hour.
        default_rate_per_minute=0.5,
    )

    def __init__(
        self,
        settings: ChannelSettings,
        *,
        clock: Clock = system_clock,
        sessions: SessionStore | None = None,
    ) -> None:
        super().__init__(settings, clock=clock, sessions=sessions)
        self.user_ip = self._required(
            "user_ip", 'the office\'s public IP, e.g. user_ip = "203.0.113.7"'
        )
        self.safe_domain = self._required(
            "safe_domain", 'the app\'s safe domain, e.g. safe_domain = "kz-embassy.cn"'
        )
        timeout = _positive(settings.options.get("timeout", 30.0))
        if timeout is None:
            raise AuthError(
                f"channel {self.name!r}: timeout = {settings.options.get('timeout')!r} must be "
                "a positive number of seconds",
                channel=self.name,
            )
        self._http = HttpTransport(
            settings.api_base_url or DEFAULT_API,
            timeout=timeout,
            channel=self.name,
            platform="Weibo",
            safe=self.safe,
        )
        self._uid: str | None = None

    def __repr__(self) -> str:
        return f"WeiboConnector(name={self.name!r})"

    # --- the interface ----------------------------------------------------------------------

    def whoami(self) -> Identity:
        info = self._call("POST", "/oauth2/get_token_info", "checking the access token", data={})
        self._uid = str(info.get("uid") or "")
        expires = info.get("expire_in")
        user = self._user()
        return Identity(
            account_id=self._uid,
            handle=str(user.get("screen_name") or self._uid),
            display_name=str(user.get("name") or "") or None,
            followers=_count(user.get("followers_count")),
            url=f"https://weibo.com/u/{self._uid}",
            expires_at=self.clock() + timedelta(seconds=int(expires))
            if isinstance(expires, int) and not isinstance(expires, bool)
            else None,
        )

    def publish(self, post: OutgoingPost) -> Published:
        key = post.idempotency_key
        if post.reply_to:
            raise RejectedError(
                f"channel {self.name!r}: delivery {key} replies to {post.reply_to}, but Weibo's "
                "share API cannot reply; publish the thread elsewhere or as separate posts",
                channel=self.name,
            )
        if len(post.media) > MAX_PICTURES:
            raise RejectedError(
                f"channel {self.name!r}: delivery {key} has {len(post.media)} media files; "
                f"Weibo's share API takes {MAX_PICTURES} picture",
                channel=self.name,
            )
        files = {"pic": self._picture(post.media[0], key)} if post.media else None
        data = {"status": post.text, "rip": self.user_ip}
        status = self._call(
            "POST",
            "/2/statuses/share.json",
            f"publishing delivery {key}",
            creating=True,
            data=data,
            files=files,
        )
        status_id = str(status.get("idstr") or status.get("id") or "")
        if not status_id:
            raise AmbiguousError(
                f"channel {self.name!r}: Weibo answered the share without a status id; it may "
                "exist: reconcile before sending again",
                channel=self.name,
            )
        published = self._published(status)
        log.debug("channel %s: published status %s", self.name, published.remote_id)
        return published

    def fetch_metrics(self, remote_ids: Sequence[str]) -> list[MetricSample]:
        ids = list(dict.fromkeys(str(r) for r in remote_ids))
        if not ids:
            return []
        followers = _count(self._user().get("followers_count"))
        found: dict[str, dict[str, Any]] = {}
        numeric = [i for i in ids if i.isdigit()]
        for start in range(0, len(numeric), COUNT_BATCH):
            batch = numeric[start : start + COUNT_BATCH]
            answer = self._call_list(
                "GET",
                "/2/statuses/count.json",
                "reading status counters",
                params={"ids": ",".join(batch)},
            )
            for item in answer:
                found[str(item.get("idstr") or item.get("id"))] = item
        now = self.clock()
        samples = []
        for remote_id in ids:
            counted = found.get(remote_id)
            if counted is None:
                samples.append(MetricSample(remote_id, now, followers=followers, deleted=True))
                continue
            samples.append(
                MetricSample(
                    remote_id,
                    now,
                    likes=_count(counted.get("attitudes")),
                    reposts=_count(counted.get("reposts")),
                    replies=_count(counted.get("comments")),
                    followers=followers,
                )
            )
        return samples

    def reconcile(self, post: OutgoingPost, *, since: datetime) -> Published | None:
        wanted = _comparable(post.text)
        found: dict[str, Any] | None = None
        for page in range(1, TIMELINE_PAGES + 1):
            body = self._call(
                "GET",
                "/2/statuses/user_timeline.json",
                f"looking for delivery {post.idempotency_key} in the account's timeline",
                params={"count": TIMELINE_PAGE, "page": page, "trim_user": 1},
            )
            statuses = [s for s in body.get("statuses") or [] if isinstance(s, dict)]
            for status in statuses:
                created = _weibo_time(status.get("created_at"))
                if created is not None and created < since:
                    return self._published(found) if found is not None else None
                if _comparable(str(status.get("text") or "")) == wanted:
                    found = status  # newest first: keep the earliest match
            if len(statuses) < TIMELINE_PAGE:
                return self._published(found) if found is not None else None
        if found is not None:
            return self._published(found)
        raise AmbiguousError(
            f"channel {self.name!r}: delivery {post.idempotency_key}: read "
            f"{TIMELINE_PAGES * TIMELINE_PAGE} statuses without reaching {since.isoformat()}; "
            "look at the account and resolve it by hand",
            channel=self.name,
        )

    def remote_id_from_url(self, url: str) -> str:
        """A status id from ``https://weibo.com/<uid>/<code>`` (base 62) or a numeric form
        (``m.weibo.cn/status/<id>``, ``weibo.com/detail/<id>``), of this account."""
        match = _PERMALINK.fullmatch(url.strip())
        if match is None:
            raise RejectedError(
                f"channel {self.name!r}: {url!r} is not the permalink of a Weibo status "
                "(https://weibo.com/<uid>/<code>)",
                channel=self.name,
            )
        code = match["code"]
        if match["uid"]:
            if self._uid is None:
                self.whoami()
            if match["uid"] != self._uid:
                raise RejectedError(
                    f"channel {self.name!r}: {url!r} is a status of account {match['uid']}, "
                    f"not of this channel's ({self._uid})",
                    channel=self.name,
                )
        try:
            return code if code.isdigit() else str(base62_to_mid(code))
        except ValueError:
            raise RejectedError(
                f"channel {self.name!r}: {code!r} is not a Weibo status code", channel=self.name
            ) from None

    def close(self) -> None:
        self._http.close()

    # --- calls ------------------------------------------------------------------------------

    def _request(
        self, method: str, path: str, action: str, *, creating: bool = False, **kwargs: Any
    ) -> httpx.Response:
        token = self.settings.secret("access_token")
        if method == "GET":
            kwargs["params"] = {**kwargs.get("params", {}), "access_token": token}
        else:
            kwargs["data"] = {**kwargs.get("data", {}), "access_token": token}
        response = self._http.request(method, path, action=action, creating=creating, **kwargs)
        if response.status_code >= 400 or "error_code" in json_body(response):
            raise self._answer_error(response, action, creating=creating)
        return response

    def _call(self, method: str, path: str, action: str, **kwargs: Any) -> dict[str, Any]:
        response = self._request(method, path, action, **kwargs)
        body = json_body(response)
        if not body:
            kind = AmbiguousError if kwargs.get("creating") else TransientError
            raise kind(
                f"channel {self.name!r}: Weibo, {action}: unreadable answer (HTTP "
                f"{response.status_code})",
                channel=self.name,
            )
        return body

    def _call_list(
        self, method: str, path: str, action: str, **kwargs: Any
    ) -> list[dict[str, Any]]:
        response = self._request(method, path, action, **kwargs)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, list):
            raise TransientError(
                f"channel {self.name!r}: Weibo, {action}: unreadable answer", channel=self.name
            )
        return [item for item in body if isinstance(item, dict)]

    def _user(self) -> dict[str, Any]:
        if self._uid is None:
            self._uid = str(
                self._call("GET", "/2/account/get_uid.json", "reading the account").get("uid") or ""
            )
        return self._call(
            "GET", "/2/users/show.json", "reading the account", params={"uid": self._uid}
        )

    def _published(self, status: dict[str, Any]) -> Published:
        status_id = str(status.get("idstr") or status.get("id"))
        user = status.get("user") if isinstance(status.get("user"), dict) else {}
        uid = str((user or {}).get("idstr") or (user or {}).get("id") or self._uid or "")
        url = (
            f"https://weibo.com/{uid}/{mid_to_base62(int(status_id))}"
            if uid and status_id.isdigit()
            else None
        )
        return Published(status_id, url, _weibo_time(status.get("created_at")) or self.clock())

    def _picture(self, path: Path, key: str) -> tuple[str, bytes, str]:
        kind = PICTURE_TYPES.get(path.suffix.lower())
        if kind is None:
            raise RejectedError(
                f"channel {self.name!r}: delivery {key}: {path.name} is not a picture Weibo "
                "takes; use a .jpg, .png or .gif file",
                channel=self.name,
            )
        try:
            return path.name, path.read_bytes(), kind
        except OSError as exc:
            raise RejectedError(
                f"channel {self.name!r}: cannot read {path}: {exc.strerror}", channel=self.name
            ) from None

    # --- errors -----------------------------------------------------------------------------

    def _answer_error(
        self, response: httpx.Response, action: str, *, creating: bool
    ) -> ConnectorError:
        body = json_body(response)
        code = body.get("error_code")
        code = int(code) if isinstance(code, int | str) and str(code).isdigit() else None
        said = self.safe(
            f"HTTP {response.status_code}, error {code}: {body.get('error') or response.reason_phrase}"
        )
        where = f"channel {self.name!r}: Weibo, {action}"
        env = (
            self.settings.options.get("access_token_env")
            or "the variable named by access_token_env"
        )
        status = response.status_code
        if code in _AUTH_CODES or status == 401:
            return AuthError(
                f"{where}: the access token was refused ({said}); authorise the app again "
                f"(oauth2/authorize) and export the new token in {env}",
                channel=self.name,
                status=status,
            )
        if code in _RATE_CODES or status == 429:
            # rate_limit_status has no word on the IP limits (10022): then a Retry-After, else
            # connectors._limits' default, never no wait at all.
            retry_after = self._reset_in() or wait_seconds(response.headers, self.clock())
            return RateLimitedError(
                f"{where}: rate limit exhausted ({said}); retry in {retry_after:.0f} s",
                retry_after=retry_after,
                channel=self.name,
                status=status,
            )
        if code in _DUPLICATE_CODES:
            return DuplicateError(
                f"{where}: refused as a repeat of a live status ({said}); if an earlier attempt "
                "was ambiguous, it was probably published: reconcile",
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
        hint = ""
        if code == 10017 and "rip" in str(body.get("error")):
            hint = " (check the channel option user_ip)"
        elif code == 10017:
            hint = f" (the text needs a link to the safe domain {self.safe_domain} and no #topic#)"
        return RejectedError(f"{where}: refused ({said}){hint}", channel=self.name, status=status)

    def _reset_in(self) -> float | None:
        """Seconds until the hourly window resets, from ``account/rate_limit_status``."""
        try:
            body = self._call("GET", "/2/account/rate_limit_status.json", "reading the rate limit")
        except ConnectorError:
            return None
        seconds = body.get("reset_time_in_seconds")
        return float(seconds) if isinstance(seconds, int | float) and seconds > 0 else None

    # --- options ----------------------------------------------------------------------------

    def _required(self, key: str, example: str) -> str:
        value = self.settings.option(key)
        if not value or not value.strip():
            raise AuthError(
                f"channel {self.name!r}: option {key} is not set; set it to {example}",
                channel=self.name,
            )
        return value.strip()


# --- plain helpers ----------------------------------------------------------------------------


def mid_to_base62(status_id: int) -> str:
    """A status id in the form weibo.com permalinks use: groups of seven digits from the right,
    each written in base 62 (four characters, except the leading group)."""
    digits = str(status_id)
    groups = []
    while digits:
        digits, group = digits[:-7], digits[-7:]
        value, chars = int(group), ""
        while value:
            value, rest = divmod(value, 62)
            chars = _ALPHABET[rest] + chars
        groups.append(chars.rjust(4, "0") if digits else chars or "0")
    return "".join(reversed(groups))


def base62_to_mid(code: str) -> int:
    """The inverse of `mid_to_base62`."""
    groups = []
    while code:
        code, group = code[:-4], code[-4:]
        value = 0
        for char in group:
            value = value * 62 + _ALPHABET.index(char)
        groups.append(str(value).rjust(7, "0") if code else str(value))
    return int("".join(reversed(groups)))


def _comparable(text: str) -> str:
    text = unicodedata.normalize("NFC", text).strip()
    return re.sub(r"\s+", " ", _URL.sub("\x00", text))


def _weibo_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, "%a %b %d %H:%M:%S %z %Y").astimezone(UTC)
    except ValueError:
        return None


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _positive(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None
