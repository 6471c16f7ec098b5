"""The connector interface, the plain values that cross it, and the one error taxonomy.

Everything a platform module needs to agree with the scheduler lives here: `Connector` (publish,
fetch metrics in batches, whoami, reconcile), the values it takes and returns, and the five
errors every client-library exception must be mapped to. This module imports no client library.
"""

from __future__ import annotations

import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar, Protocol

from connectors import redaction

Clock = Callable[[], datetime]
"""Anything that returns the current instant as an aware UTC datetime."""


def system_clock() -> datetime:
    return datetime.now(UTC)


# --- values -----------------------------------------------------------------------------------


_UNUSABLE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


@dataclass(frozen=True)
class ChannelSettings:
    """One configured account, as the connector sees it: no database row, no file paths of ours.

    ``secrets`` were resolved from the environment variables the config names (``token_env`` and
    every other ``*_env`` key, stored here without the ``_env`` suffix); ``missing_secrets`` lists
    the variables the config names that are not set, so a connector can say which one to export.
    """

    name: str
    platform: str
    api_base_url: str | None = None
    options: Mapping[str, object] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    missing_secrets: tuple[str, ...] = ()

    def secret(self, key: str) -> str:
        """The secret ``key`` or an `AuthError` naming the variable to set. A value with a
        control character or bytes that are not UTF-8 (set in another encoding: lone
        surrogates in Python) is no credential: an `AuthError` too, never repeating it (it
        was a 'network error' retried as transient, from the HTTP library's encoder)."""
        value = self.secrets.get(key)
        env = self.options.get(f"{key}_env") or f"the variable named by {key}_env"
        if value and _UNUSABLE.search(value):
            raise AuthError(
                f"channel {self.name!r}: secret {key!r} in {env} holds a control character "
                "or bytes that are not UTF-8; set it again from the platform's page",
                channel=self.name,
            )
        if value:
            return value
        raise AuthError(
            f"channel {self.name!r}: secret {key!r} is not set; export {env} "
            "(secrets come from the environment, never from elshi.toml)",
            channel=self.name,
        )

    def option(self, key: str, default: str | None = None) -> str | None:
        value = self.options.get(key, default)
        return None if value is None else str(value)


@dataclass(frozen=True)
class Article:
    """The long-form version of a post, for platforms that publish articles (WeChat): a title,
    a body of paragraphs (plain text, blank lines between paragraphs), a cover image and
    optionally an author and the page its "read more" link opens."""

    title: str
    body: str
    cover: Path | None = None
    author: str | None = None
    source_url: str | None = None


@dataclass(frozen=True)
class OutgoingPost:
    """What to publish. ``idempotency_key`` is stable for one delivery across attempts and
    processes; connectors pass it to the platform where the platform supports it and use it (or
    the exact text) to reconcile after a crash. ``meta`` carries descriptive labels (category,
    audience, variant, language) that real platforms ignore and the sandbox's model uses."""

    text: str
    idempotency_key: str
    media: tuple[Path, ...] = ()
    reply_to: str | None = None
    language: str | None = None
    meta: Mapping[str, str] = field(default_factory=dict)
    alt_texts: tuple[str, ...] = ()
    """A description of each media item, in the post's language ("" where there is none)."""
    article: Article | None = None
    not_before: datetime | None = None
    """No attempt of this delivery can have gone out before this instant (its due time, or an
    earlier claim): where a platform remembers an idempotency key only for a while, a send
    later than that looks for the post first (None: unknown, not checked)."""

    def alt(self, index: int) -> str:
        """The description of media item ``index`` ("" without one)."""
        return self.alt_texts[index] if index < len(self.alt_texts) else ""


@dataclass(frozen=True)
class Published:
    remote_id: str
    url: str | None
    published_at: datetime


@dataclass(frozen=True)
class Identity:
    """Who a channel posts as."""

    account_id: str
    handle: str
    display_name: str | None = None
    followers: int | None = None
    url: str | None = None
    expires_at: datetime | None = None
    """When the channel's credentials stop working, where the platform says (LinkedIn's and
    Weibo's access tokens expire): ``elshi channels check`` and ``elshi status`` warn before."""


METRIC_FIELDS: tuple[str, ...] = (
    "impressions",
    "likes",
    "reposts",
    "replies",
    "quotes",
    "bookmarks",
    "link_clicks",
    "followers",
)


@dataclass(frozen=True)
class MetricSample:
    """Counters for one published post at ``collected_at``. None means the platform does not give
    that counter (never "zero"); ``deleted`` means the remote post is gone (its counters are None);
    ``simulated`` marks the sandbox's modelled numbers."""

    remote_id: str
    collected_at: datetime
    impressions: int | None = None
    likes: int | None = None
    reposts: int | None = None
    replies: int | None = None
    quotes: int | None = None
    bookmarks: int | None = None
    link_clicks: int | None = None
    followers: int | None = None
    deleted: bool = False
    simulated: bool = False


@dataclass(frozen=True)
class Capabilities:
    """What a platform gives, so the scheduler and reports need not guess."""

    metrics: frozenset[str]
    metrics_batch_size: int
    idempotent_publish: bool
    """True when re-sending with the same idempotency key cannot create a second post."""
    can_reconcile: bool
    """True when the connector can look up whether a post was already published."""
    default_rate_per_minute: float
    simulated: bool = False


# --- sessions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredSession:
    """A login a connector keeps between processes: its tokens (secret, never printed) and
    the instant it stops being usable, when known."""

    data: Mapping[str, str] = field(repr=False)
    expires_at: datetime | None = None

    def usable(self, now: datetime, *, margin: float = 0.0) -> bool:
        return self.expires_at is None or (self.expires_at - now).total_seconds() > margin


class SessionStore(Protocol):
    """Where connectors keep logins so that every process (daemons, ``elshi run --once`` from a
    timer, ``elshi channels check``) shares one instead of logging in anew. The scheduler's
    wiring hands in one backed by the database; connectors never know where it lives."""

    def load(self, key: str) -> StoredSession | None:
        """The session saved under ``key``, None when there is none (or it cannot be read)."""

    def save(self, key: str, session: StoredSession) -> None:
        """Keep ``session`` under ``key`` for every process (the last writer wins)."""

    def forget(self, key: str) -> None:
        """Drop the session under ``key`` (its credentials were refused)."""


class MemorySessionStore:
    """A `SessionStore` for one process (tests, and a connector opened without a database)."""

    def __init__(self) -> None:
        self._sessions: dict[str, StoredSession] = {}
        self._lock = threading.Lock()
        self.saves = 0

    def load(self, key: str) -> StoredSession | None:
        with self._lock:
            return self._sessions.get(key)

    def save(self, key: str, session: StoredSession) -> None:
        with self._lock:
            self._sessions[key] = session
            self.saves += 1

    def forget(self, key: str) -> None:
        with self._lock:
            self._sessions.pop(key, None)


# --- errors -----------------------------------------------------------------------------------


class ConnectorError(Exception):
    """Base of the taxonomy. Messages are safe to log: they never contain a secret."""

    kind: ClassVar[str] = "error"

    def __init__(self, message: str, *, channel: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.channel = channel
        self.status = status


class TransientError(ConnectorError):
    """Network trouble, a timeout before the request was sent, a 5xx: safe to try again.

    ``retry_after``: seconds the server asked us to stay away (a 502/503/504 with
    ``Retry-After``: maintenance, a proxy shedding load), None when it did not say. Like a rate
    limit, the scheduler neither retries the delivery nor calls the channel before then; unlike
    one, the failed call still counts as an attempt."""

    kind = "transient"

    def __init__(
        self,
        message: str,
        *,
        channel: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message, channel=channel, status=status)
        self.retry_after = retry_after


class RateLimitedError(ConnectorError):
    """The platform asked us to wait; ``retry_after`` is in seconds (None when it did not say)."""

    kind = "rate_limited"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None,
        channel: str | None = None,
        status: int | None = 429,
    ):
        super().__init__(message, channel=channel, status=status)
        self.retry_after = retry_after


class AuthError(ConnectorError):
    """Bad, expired or missing credentials: pause the channel and tell the operator; no retry."""

    kind = "auth"


class RejectedError(ConnectorError):
    """The platform refused this content (too long, duplicate, media type): do not retry."""

    kind = "rejected"


class DuplicateError(RejectedError):
    """The platform refused the post as a copy of one it already has: most likely an earlier
    attempt of this very delivery did go out. The scheduler reconciles instead of failing."""

    kind = "duplicate"


class AmbiguousError(ConnectorError):
    """The request may have been applied (timeout or dropped connection after sending).
    Never re-send blindly: reconcile, or ask a person."""

    kind = "ambiguous"


# --- the interface ----------------------------------------------------------------------------


class Connector(ABC):
    """One account on one platform.

    Implementations call the platform only through its real client library, pointed at
    ``settings.api_base_url`` when set. Every method either returns plain values or raises a
    `ConnectorError` subclass; no client-library exception escapes. One instance is used by one
    thread at a time.
    """

    platform: ClassVar[str]
    capabilities: ClassVar[Capabilities]

    def __init__(
        self,
        settings: ChannelSettings,
        *,
        clock: Clock = system_clock,
        sessions: SessionStore | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.sessions: SessionStore = sessions if sessions is not None else MemorySessionStore()
        redaction.register(settings.secrets.values())
        redaction.install()

    @property
    def session_key(self) -> str:
        """The name this channel's login is kept under in the `SessionStore`."""
        return f"{self.platform}/{self.name}"

    @property
    def name(self) -> str:
        return self.settings.name

    @abstractmethod
    def whoami(self) -> Identity:
        """Verify the credentials and say who this channel posts as."""

    @abstractmethod
    def publish(self, post: OutgoingPost) -> Published:
        """Publish one post (a reply when ``post.reply_to`` is set)."""

    @abstractmethod
    def fetch_metrics(self, remote_ids: Sequence[str]) -> list[MetricSample]:
        """Current counters of many published posts, batched as the platform allows; one sample
        per id that was answered (``deleted=True`` for posts that no longer exist)."""

    @abstractmethod
    def reconcile(self, post: OutgoingPost, *, since: datetime) -> Published | None:
        """After a crash: the post if it was published (found by idempotency key, record key or
        exact text among the account's posts since ``since``), None if it certainly was not.
        Raises `AmbiguousError` when the platform cannot tell (e.g. bots cannot read history)."""

    @abstractmethod
    def remote_id_from_url(self, url: str) -> str:
        """The remote id of the post at ``url``, its public permalink (an operator found the
        post by hand and records it with ``elshi deliveries resolve --published URL``). May ask
        the platform. Raises `RejectedError` for a URL that is not a post of this platform and
        account, saying what a permalink looks like."""

    def setting_notes(self) -> list[str]:
        """What the platform reports that differs from the channel's options (a Mastodon
        instance's own text limits); ``elshi channels check`` prints each. Most platforms have
        nothing of the kind."""
        return []

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release network resources."""

    def _secrets(self) -> list[str]:
        return list(self.settings.secrets.values())

    def safe(self, text: str) -> str:
        """``text`` with this channel's secrets redacted: use on every message built from a
        client-library exception."""
        return redaction.redact(text, self._secrets())
