"""The X (Twitter) connector: publishes posts, threads and images, reads metrics and finds a post
again after a crash, through tweepy 4.17 (`tweepy.Client` for API v2; `tweepy.API` v1.1 only for
image upload, isolated in `_MediaUploader` because X has announced that endpoint's retirement).
It owns the mapping of every tweepy/requests failure onto the connector error taxonomy and must not
know about the database. Configuration (``[channels.NAME]`` with ``platform = "x"``): OAuth 1.0a
user context (the default) needs the secrets ``consumer_key_env`` / ``consumer_secret_env`` (the
app's "API Key and Secret") and ``access_token_env`` / ``access_token_secret_env`` (the account's
"Access Token and Secret"), all from the developer portal's "Keys and tokens" page of an app whose
user authentication settings allow "Read and write", generated after that setting was saved;
alternatively ``token_env`` names an OAuth 2.0 user-context access token (Authorization Code with
PKCE, scopes ``tweet.read tweet.write users.read``; it expires after two hours and this connector
does not refresh it), which then takes precedence and cannot upload media. Options: ``timeout``
(seconds per HTTP request, default 30), ``private_metrics`` (true to also request
``non_public_metrics``/``organic_metrics`` for link clicks; OAuth 1.0a only, posts under 30 days
old) and the channel's ``api_base_url`` (default: X's real hosts), to which a transport adapter
re-addresses tweepy's hard-coded ``https://api.twitter.com`` / ``https://upload.twitter.com``
requests after they were signed.
"""

from __future__ import annotations

import html
import math
import mimetypes
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import requests
import tweepy
from tweepy.parsers import JSONParser

from connectors._limits import wait_seconds
from connectors._requests import Rebase, never_sent
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

X_HOSTS = ("https://api.twitter.com/", "https://upload.twitter.com/")
"""The hosts tweepy 4.17 hard-codes; `Rebase` is mounted on these prefixes."""

_OAUTH1_SECRETS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
_BATCH = 100
_RECONCILE_PAGES = 5
_MAX_IMAGES = 4
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
# A 403 whose body names one of these is about the app or token, not about the content.
_PERMISSION_MARKERS = (
    "oauth1-permissions",
    "client-forbidden",
    "unsupported-authentication",
    "not permitted",
    "not configured with the appropriate",
)
_URL = re.compile(r"https?://\S+")
_STATUS_URL = re.compile(
    r"https://(?:www\.|mobile\.)?(?:x|twitter)\.com/[A-Za-z0-9_]{1,15}/status(?:es)?/(?P<id>\d+)/?(?:\?.*)?"
)


class _MediaUploader:
    """Image upload through the v1.1 ``media/upload`` endpoint, the only one tweepy 4.17 has.
    Kept apart so that moving to the v2 upload endpoint touches nothing else."""

    def __init__(self, settings: ChannelSettings, adapter: Rebase, timeout: float) -> None:
        auth = tweepy.OAuth1UserHandler(*(settings.secret(key) for key in _OAUTH1_SECRETS))
        self._api: Any = tweepy.API(
            auth, parser=JSONParser(), timeout=timeout, wait_on_rate_limit=False
        )
        for prefix in X_HOSTS:
            self._api.session.mount(prefix, adapter)

    def upload(self, path: Path, alt: str = "") -> str:
        """The media id of the uploaded image, its alt text set (raises tweepy/requests
        exceptions)."""
        with path.open("rb") as file:
            body = _obj(self._api.simple_upload(path.name, file=file))
        media_id = body.get("media_id_string") or body.get("media_id")
        if media_id is None:
            raise tweepy.TweepyException("media/upload answered without a media_id")
        if alt:
            # X takes at most 1,000 characters of alt text; campaign validation refuses longer
            # (campaigns.textrules.ALT_LIMITS), and X's refusal of one is not cut silently.
            self._api.create_media_metadata(str(media_id), alt)
        return str(media_id)

    def close(self) -> None:
        self._api.session.close()


@dataclass(frozen=True)
class _Account:
    id: str
    username: str
    name: str | None
    followers: int | None


class XConnector(Connector):
    """One X account, posting as the user whose tokens are configured."""

    platform: ClassVar[str] = "x"
    capabilities: ClassVar[Capabilities] = Capabilities(
        metrics=frozenset(
            {
                "impressions",
                "likes",
                "reposts",
                "replies",
                "quotes",
                "bookmarks",
                "link_clicks",
                "followers",
            }
        ),
        metrics_batch_size=_BATCH,
        idempotent_publish=False,
        can_reconcile=True,
        # 100 posts per 15 minutes per user on the paid tiers; daily caps come back as 429s.
        default_rate_per_minute=6.0,
    )

    def __init__(
        self,
        settings: ChannelSettings,
        *,
        clock: Clock = system_clock,
        sessions: SessionStore | None = None,
    ) -> None:
        super().__init__(settings, clock=clock, sessions=sessions)
        self._oauth2 = bool(settings.options.get("token_env") or settings.secrets.get("token"))
        self._timeout = _float_option(settings, "timeout", 30.0)
        self._private_metrics = (
            _bool_option(settings, "private_metrics", default=False) and not self._oauth2
        )
        self._adapter = Rebase(settings.api_base_url, self._timeout)
        self._client_instance: Any = None
        self._uploader: _MediaUploader | None = None
        self._account: _Account | None = None

    def __repr__(self) -> str:
        return f"XConnector(channel={self.name!r}, oauth={'2.0' if self._oauth2 else '1.0a'})"

    # --- the interface ----------------------------------------------------------------------

    def whoami(self) -> Identity:
        account = self._load_account()
        return Identity(
            account_id=account.id,
            handle=account.username,
            display_name=account.name,
            followers=account.followers,
            url=f"https://x.com/{account.username}",
        )

    def publish(self, post: OutgoingPost) -> Published:
        account = self._account or self._load_account()
        media_ids = self._upload_media(post.media, post.alt_texts) if post.media else None
        client = self._client()
        with self._translated("publishing a post", publishing=True):
            body = _obj(
                client.create_tweet(
                    text=post.text or None,
                    media_ids=media_ids,
                    in_reply_to_tweet_id=post.reply_to,
                    user_auth=not self._oauth2,
                )
            )
        tweet_id = _text(_obj(body.get("data")).get("id"))
        if tweet_id is None:
            raise AmbiguousError(
                f"channel {self.name!r}: X answered the post without an id; it may exist: "
                "reconcile before sending again",
                channel=self.name,
            )
        return Published(tweet_id, _permalink(account.username, tweet_id), self.clock())

    def fetch_metrics(self, remote_ids: Sequence[str]) -> list[MetricSample]:
        ids = list(dict.fromkeys(remote_ids))
        if not ids:
            return []
        followers = self._load_account().followers
        samples: list[MetricSample] = []
        for start in range(0, len(ids), _BATCH):
            samples.extend(self._metrics_batch(ids[start : start + _BATCH], followers))
        return samples

    def reconcile(self, post: OutgoingPost, *, since: datetime) -> Published | None:
        account = self._account or self._load_account()
        client = self._client()
        wanted = _comparable(post.text, len(post.media))
        token: str | None = None
        for _page in range(_RECONCILE_PAGES):
            with self._translated("searching the account's recent posts"):
                body = _obj(
                    client.get_users_tweets(
                        account.id,
                        start_time=since,
                        max_results=100,
                        tweet_fields=["created_at"],
                        pagination_token=token,
                        user_auth=not self._oauth2,
                    )
                )
            matches = [
                tweet
                for tweet in _objs(body.get("data"))
                if _comparable(_text(tweet.get("text")) or "", len(post.media), theirs=True)
                == wanted
            ]
            if matches and not wanted:
                raise AmbiguousError(
                    f"channel {self.name!r}: the post has no text and the account has posts "
                    f"without text since {since.isoformat()}; cannot tell which, if any, it is",
                    channel=self.name,
                )
            if matches:
                tweet = matches[-1]  # newest first: the earliest match is the original
                tweet_id = str(tweet.get("id"))
                return Published(
                    tweet_id,
                    _permalink(account.username, tweet_id),
                    _timestamp(tweet.get("created_at")) or self.clock(),
                )
            token = _text(_obj(body.get("meta")).get("next_token"))
            if token is None:
                return None
        raise AmbiguousError(
            f"channel {self.name!r}: more than {_RECONCILE_PAGES * 100} posts since "
            f"{since.isoformat()} and none matched; cannot tell whether the post exists",
            channel=self.name,
        )

    def remote_id_from_url(self, url: str) -> str:
        match = _STATUS_URL.fullmatch(url.strip())
        if match is None:
            raise RejectedError(
                f"channel {self.name!r}: {url!r} is not the permalink of a post on X "
                "(https://x.com/<account>/status/<id>)",
                channel=self.name,
            )
        return match["id"]

    def close(self) -> None:
        if self._client_instance is not None:
            self._client_instance.session.close()
        if self._uploader is not None:
            self._uploader.close()

    # --- clients ----------------------------------------------------------------------------

    def _client(self) -> Any:
        if self._client_instance is None:
            if self._oauth2:
                secrets = {"bearer_token": self.settings.secret("token")}
            else:
                secrets = {key: self.settings.secret(key) for key in _OAUTH1_SECRETS}
            client = tweepy.Client(**secrets, return_type=dict, wait_on_rate_limit=False)
            for prefix in X_HOSTS:
                client.session.mount(prefix, self._adapter)
            self._client_instance = client
        return self._client_instance

    def _media(self) -> _MediaUploader:
        if self._oauth2:
            raise RejectedError(
                f"channel {self.name!r}: media upload needs OAuth 1.0a user context (X's v1.1 "
                "upload endpoint does not accept OAuth 2.0 tokens); configure consumer_key_env, "
                "consumer_secret_env, access_token_env and access_token_secret_env instead of "
                "token_env, or publish without media",
                channel=self.name,
            )
        if self._uploader is None:
            self._uploader = _MediaUploader(self.settings, self._adapter, self._timeout)
        return self._uploader

    def _load_account(self) -> _Account:
        client = self._client()
        with self._translated("reading the account"):
            body = _obj(client.get_me(user_fields=["public_metrics"], user_auth=not self._oauth2))
        data = _obj(body.get("data"))
        account_id, username = _text(data.get("id")), _text(data.get("username"))
        if account_id is None or username is None:
            raise TransientError(
                f"channel {self.name!r}: X answered users/me without an id and username",
                channel=self.name,
            )
        self._account = _Account(
            id=account_id,
            username=username,
            name=_text(data.get("name")),
            followers=_count(_obj(data.get("public_metrics")), "followers_count"),
        )
        return self._account

    # --- publishing and metrics -------------------------------------------------------------

    def _upload_media(self, paths: Sequence[Path], alts: Sequence[str] = ()) -> list[str]:
        if len(paths) > _MAX_IMAGES:
            raise RejectedError(
                f"channel {self.name!r}: {len(paths)} images; X allows {_MAX_IMAGES} per post",
                channel=self.name,
            )
        uploader = self._media()
        media_ids: list[str] = []
        for n, path in enumerate(paths):
            kind = mimetypes.guess_type(path.name)[0]
            if kind not in _IMAGE_TYPES:
                raise RejectedError(
                    f"channel {self.name!r}: {path.name} is {kind or 'of unknown type'}; this "
                    "connector uploads JPEG, PNG, GIF and WebP images only",
                    channel=self.name,
                )
            try:
                with self._translated(f"uploading {path.name}"):
                    media_ids.append(uploader.upload(path, alts[n] if n < len(alts) else ""))
            except OSError as exc:
                raise RejectedError(
                    f"channel {self.name!r}: cannot read media file {path} ({exc.strerror})",
                    channel=self.name,
                ) from None
        return media_ids

    def _metrics_batch(self, ids: list[str], followers: int | None) -> list[MetricSample]:
        found, gone, withheld = self._lookup(ids, private=self._private_metrics)
        if withheld:
            # Private fields are refused for posts older than 30 days: ask again without them.
            public, more_gone, _ = self._lookup(withheld, private=False)
            found.update(public)
            gone |= more_gone
        now = self.clock()
        samples: list[MetricSample] = []
        for tweet_id in ids:
            if tweet_id in found:
                samples.append(_sample(tweet_id, found[tweet_id], followers, now))
            elif tweet_id in gone:
                samples.append(MetricSample(tweet_id, now, followers=followers, deleted=True))
        return samples

    def _lookup(
        self, ids: list[str], *, private: bool
    ) -> tuple[dict[str, dict[str, object]], set[str], list[str]]:
        """Tweets by id, the ids X says do not exist, and the ids refused only for a field."""
        fields = ["public_metrics", "created_at"]
        if private:
            fields += ["non_public_metrics", "organic_metrics"]
        client = self._client()
        with self._translated("reading post metrics"):
            body = _obj(client.get_tweets(ids=ids, tweet_fields=fields, user_auth=not self._oauth2))
        found = {str(t.get("id")): t for t in _objs(body.get("data"))}
        gone: set[str] = set()
        withheld: list[str] = []
        for error in _objs(body.get("errors")):
            tweet_id = _text(error.get("resource_id")) or _text(error.get("value"))
            if tweet_id is None or tweet_id in found or tweet_id not in ids:
                continue
            kind = str(error.get("type", ""))
            if error.get("title") == "Not Found Error" or kind.endswith("resource-not-found"):
                gone.add(tweet_id)
            elif private and kind.endswith("not-authorized-for-field"):
                withheld.append(tweet_id)
        return found, gone, list(dict.fromkeys(withheld))

    # --- errors -----------------------------------------------------------------------------

    @contextmanager
    def _translated(self, action: str, *, publishing: bool = False) -> Iterator[None]:
        """Maps whatever tweepy or requests raise while ``action`` runs onto the taxonomy."""
        where = f"channel {self.name!r}: X, {action}"
        try:
            yield
        except tweepy.TooManyRequests as exc:
            raise RateLimitedError(
                self.safe(f"{where}: rate limited ({_reason(exc)})"),
                retry_after=self._retry_after(exc.response),
                channel=self.name,
            ) from None
        except tweepy.Unauthorized as exc:
            raise AuthError(
                self.safe(
                    f"{where}: credentials refused ({_reason(exc)}); check the channel's "
                    "tokens (revoked, expired, or regenerated in the developer portal)"
                ),
                channel=self.name,
                status=401,
            ) from None
        except tweepy.Forbidden as exc:
            if _is_permission_problem(exc):
                raise AuthError(
                    self.safe(
                        f"{where}: the app or token lacks permission ({_reason(exc)}); give "
                        "the app 'Read and write' access and regenerate the access token"
                    ),
                    channel=self.name,
                    status=403,
                ) from None
            refused: type[RejectedError] = (
                DuplicateError if "duplicate" in _reason(exc).lower() else RejectedError
            )
            raise refused(
                self.safe(f"{where}: refused ({_reason(exc)}){_duplicate_hint(exc)}"),
                channel=self.name,
                status=403,
            ) from None
        except tweepy.HTTPException as exc:
            status = _status(exc)
            if status is None or status >= 500:
                raise TransientError(
                    self.safe(f"{where}: server error ({_reason(exc)})"),
                    channel=self.name,
                    status=status,
                    retry_after=self._unavailable_for(exc.response),
                ) from None
            raise RejectedError(
                self.safe(f"{where}: refused ({_reason(exc)})"), channel=self.name, status=status
            ) from None
        except ValueError as exc:
            # A body that is not JSON (requests' JSONDecodeError is also a RequestException):
            # after a post was sent it may still have been created.
            unreadable: type[ConnectorError] = AmbiguousError if publishing else TransientError
            raise unreadable(
                self.safe(f"{where}: unreadable answer ({type(exc).__name__})"), channel=self.name
            ) from None
        except requests.RequestException as exc:
            raise self._network_error(where, exc, publishing=publishing) from None
        except tweepy.TweepyException as exc:
            # tweepy.API wraps network errors in a plain TweepyException.
            cause = exc.__context__
            if isinstance(cause, requests.RequestException):
                raise self._network_error(where, cause, publishing=publishing) from None
            raise TransientError(self.safe(f"{where}: {exc}"), channel=self.name) from None

    def _network_error(
        self, where: str, exc: requests.RequestException, *, publishing: bool
    ) -> ConnectorError:
        detail = self.safe(f"{type(exc).__name__}: {exc}")
        if publishing and not never_sent(exc):
            return AmbiguousError(
                f"{where}: the connection failed after the request was sent ({detail}); the "
                "post may exist: reconcile before sending again",
                channel=self.name,
            )
        return TransientError(f"{where}: network error ({detail})", channel=self.name)

    def _unavailable_for(self, response: requests.Response | None) -> float | None:
        """Seconds a server error's ``Retry-After`` asks us to stay away (X over capacity, a
        proxy shedding load); None without one (`connectors._limits`)."""
        if response is None:
            return None
        return wait_seconds(response.headers, self.clock(), default=None)

    def _retry_after(self, response: requests.Response | None) -> float:
        """Seconds until X lifts the limit that was hit: the 15-minute window, or a 24-hour cap
        when one of those is exhausted (`connectors._limits`: measured on the answer's ``Date``,
        a ``Retry-After`` honoured, a default when X said nothing)."""
        headers = response.headers if response is not None else {}
        resets = [("x-rate-limit-reset", "x-rate-limit-remaining")] + [
            (f"x-{scope}-limit-24hour-reset", f"x-{scope}-limit-24hour-remaining")
            for scope in ("user", "app")
            if _int_header(headers, f"x-{scope}-limit-24hour-remaining") == 0
        ]
        return wait_seconds(headers, self.clock(), resets=resets)


# --- helpers ----------------------------------------------------------------------------------


def _permalink(username: str, tweet_id: str) -> str:
    return f"https://x.com/{username}/status/{tweet_id}"


def _sample(
    tweet_id: str, tweet: Mapping[str, object], followers: int | None, now: datetime
) -> MetricSample:
    public = _obj(tweet.get("public_metrics"))
    private = _obj(tweet.get("non_public_metrics"))
    organic = _obj(tweet.get("organic_metrics"))
    clicks = _count(private, "url_link_clicks")
    return MetricSample(
        remote_id=tweet_id,
        collected_at=now,
        impressions=_count(public, "impression_count"),
        likes=_count(public, "like_count"),
        reposts=_count(public, "retweet_count"),
        replies=_count(public, "reply_count"),
        quotes=_count(public, "quote_count"),
        bookmarks=_count(public, "bookmark_count"),
        link_clicks=clicks if clicks is not None else _count(organic, "url_link_clicks"),
        followers=followers,
    )


def _comparable(text: str, media: int, *, theirs: bool = False) -> str:
    """``text`` as X gives it back, reduced to what survives: X escapes ``&<>``, replaces every
    link by a t.co link and appends one t.co link for attached media."""
    text = unicodedata.normalize("NFC", html.unescape(text) if theirs else text).strip()
    text = _URL.sub("\x00", text)
    if theirs and media and text.endswith("\x00"):
        text = text[:-1].rstrip()
    return text


def _is_permission_problem(exc: tweepy.HTTPException) -> bool:
    body = _json_body(exc)
    words = " ".join(str(body.get(key, "")) for key in ("type", "detail", "title", "reason"))
    words = f"{words} {' '.join(map(str, exc.api_messages))}".lower()
    return any(marker in words for marker in _PERMISSION_MARKERS)


def _duplicate_hint(exc: tweepy.HTTPException) -> str:
    if "duplicate" in _reason(exc).lower():
        return (
            "; if an earlier attempt of this post was ambiguous, it was probably published: "
            "reconcile"
        )
    return ""


def _reason(exc: tweepy.HTTPException) -> str:
    messages = [str(m) for m in exc.api_messages if m]
    if messages:
        return "; ".join(messages)
    status = _status(exc)
    return f"HTTP {status}" if status is not None else type(exc).__name__


def _status(exc: tweepy.HTTPException) -> int | None:
    status = getattr(exc.response, "status_code", None)
    return status if isinstance(status, int) else None


def _json_body(exc: tweepy.HTTPException) -> dict[str, object]:
    try:
        return _obj(exc.response.json())
    except ValueError:
        return {}


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    try:
        return int(headers[name])
    except (KeyError, ValueError):
        return None


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _obj(value: object) -> dict[str, object]:
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}


def _objs(value: object) -> list[dict[str, object]]:
    return (
        [_obj(item) for item in value if isinstance(item, dict)] if isinstance(value, list) else []
    )


def _text(value: object) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _count(metrics: Mapping[str, object], key: str) -> int | None:
    value = metrics.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float_option(settings: ChannelSettings, key: str, default: float) -> float:
    value = settings.options.get(key, default)
    try:
        result = float(value) if isinstance(value, int | float | str) else math.nan
    except ValueError:
        result = math.nan
    if not result > 0:
        raise ValueError(
            f"channel {settings.name!r}: option {key} must be a positive number of seconds, "
            f"not {value!r}"
        )
    return result


def _bool_option(settings: ChannelSettings, key: str, *, default: bool) -> bool:
    value = settings.options.get(key, default)
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)
