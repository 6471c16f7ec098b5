"""The Mastodon connector: publishes statuses (text, images, replies for threads) as one account on
one instance through Mastodon.py, reads their counters in batches, and after a crash looks for a
status among the account's own; it maps every Mastodon.py exception to the error taxonomy and
never sleeps on a rate limit (it raises `RateLimitedError`). Re-sending a status with the same
``Idempotency-Key`` (the delivery's key) within about an hour returns the first status instead of
posting twice, so publishing is idempotent for that hour; later, `reconcile` compares texts, and
a send more than 50 minutes after the delivery's time (``not_before``) looks for it first.

Channel settings (``[channels.NAME]`` with ``platform = "mastodon"``):

* ``api_base_url`` (required): the instance, e.g. ``https://social.bund.de``; a token is only
  valid on the instance that issued it.
* ``token_env``: the environment variable holding the access token. On the instance, under
  Preferences → Development → New application, create an application with the scopes
  ``profile`` (``read:accounts`` before Mastodon 4.3), ``read:statuses``, ``write:statuses`` and
  ``write:media`` (or the broader ``read write``), then copy "Your access token".
* ``visibility``: ``public`` (default), ``unlisted`` (public, kept off the public timelines) or
  ``private`` (followers only).
* ``max_characters``: the instance's post length limit (default 500; see the instance's
  About page); the campaign validator checks texts against it and rejections name it.
* ``timeout``: seconds to wait for each HTTP request (default 30).
* ``media_wait``: seconds to wait for the instance to finish processing an upload before the
  attempt is given up as transient (default 60).
"""

from __future__ import annotations

import logging
import mimetypes
import re
import time
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from mastodon import Mastodon
from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonIllegalArgumentError,
    MastodonIOError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
    MastodonVersionError,
)

from connectors._limits import wait_seconds
from connectors._requests import settled_session
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
    TransientError,
    system_clock,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

VISIBILITIES = ("public", "unlisted", "private")
STATUSES_PER_REQUEST = 20
"""``GET /api/v1/statuses?id[]=`` (Mastodon 4.3+) answers at most 20 ids."""
PAGE_SIZE = 40
RECONCILE_PAGES = 10
"""How far back reconcile reads the account's statuses (10 × 40) before it gives up."""
MAX_MEDIA = 4
# Mastodon.py refuses to call endpoints newer than this; "created" compares each endpoint's
# introduction against it without asking the server. With "none" Mastodon.py keeps version 1.0.0
# internally and media_post silently falls back to the deprecated v1 upload endpoint.
ASSUMED_VERSION = "4.3.0"
IDEMPOTENCY_TRUSTED = 50 * 60
"""Mastodon keeps an ``Idempotency-Key`` for an hour (3,600 s, from the first send); a send of a
delivery due longer ago than this looks for the status among the account's first."""
REQUIRED_SCOPES = "profile (or read:accounts), read:statuses, write:statuses and write:media"


class MastodonConnector(Connector):
    platform: ClassVar[str] = "mastodon"
    capabilities: ClassVar[Capabilities] = Capabilities(
        metrics=frozenset({"likes", "reposts", "replies", "quotes", "followers"}),
        metrics_batch_size=STATUSES_PER_REQUEST,
        idempotent_publish=True,
        can_reconcile=True,
        # Mastodon allows 300 new statuses per account per 3 hours (1.67 a minute).
        default_rate_per_minute=1.5,
    )

    def __init__(
        self,
        settings: ChannelSettings,
        *,
        clock: Clock = system_clock,
        sessions: SessionStore | None = None,
    ) -> None:
        super().__init__(settings, clock=clock, sessions=sessions)
        if not settings.api_base_url:
            raise AuthError(
                f"channel {self.name!r}: api_base_url is not set; set it to the Mastodon "
                'instance the token belongs to, e.g. api_base_url = "https://social.bund.de"',
                channel=self.name,
            )
        self.api_base_url = settings.api_base_url.rstrip("/")
        self.visibility = self._choice("visibility", VISIBILITIES, "public")
        self.max_characters = int(self._number("max_characters", 500))
        self.max_alt_characters = int(self._number("max_alt_characters", 1500))
        self.timeout = self._number("timeout", 30.0)
        self.media_wait = self._number("media_wait", 60.0)
        self._mastodon: Mastodon | None = None
        self._session: requests.Session | None = None
        self._last_headers: Mapping[str, str] = {}
        self._account_id: str | None = None
        self._batch_reads = True

    def __repr__(self) -> str:
        return f"MastodonConnector(name={self.name!r}, api_base_url={self.api_base_url!r})"

    # --- the interface ----------------------------------------------------------------------

    def whoami(self) -> Identity:
        account = self._call(
            "verifying the access token", self._client().account_verify_credentials
        )
        self._account_id = str(account["id"])
        acct = str(account.get("acct") or account.get("username") or "")
        url = account.get("url")
        host = urlsplit(str(url)).netloc if url else None
        handle = f"@{acct}" if "@" in acct or host is None else f"@{acct}@{host}"
        return Identity(
            account_id=self._account_id,
            handle=handle,
            display_name=account.get("display_name") or None,
            followers=_count(account.get("followers_count")),
            url=str(url) if url else None,
        )

    def setting_notes(self) -> list[str]:
        """The instance's own post and alt text lengths (``GET /api/v2/instance``:
        ``statuses.max_characters``; ``media_attachments.description_limit`` from Mastodon 4.4)
        against the channel's ``max_characters`` and ``max_alt_characters``, which validation
        uses: a note for each that differs."""
        try:
            instance = self._client().instance_v2()
        except MastodonError as exc:
            return [f"could not read the instance's limits ({self.safe(str(exc))[:200]})"]
        configuration = instance.get("configuration") or {}
        notes = []
        for option, configured, section, key, what in (
            ("max_characters", self.max_characters, "statuses", "max_characters", "a post"),
            (
                "max_alt_characters",
                self.max_alt_characters,
                "media_attachments",
                "description_limit",
                "an alt text",
            ),
        ):
            reported = _count((configuration.get(section) or {}).get(key))
            if reported is None or reported == configured:
                continue
            effect = (
                "validation refuses longer texts the instance would take"
                if reported > configured
                else f"texts longer than {reported:,} pass validation and are refused when published"
            )
            notes.append(
                f"the instance takes {reported:,} characters in {what}, {option} is "
                f"{configured:,} ({effect}); set {option} = {reported}"
            )
        return notes

    def publish(self, post: OutgoingPost) -> Published:
        if len(post.media) > MAX_MEDIA:
            raise RejectedError(
                f"channel {self.name!r}: delivery {post.idempotency_key} has "
                f"{len(post.media)} media files; Mastodon attaches at most {MAX_MEDIA}",
                channel=self.name,
            )
        client = self._client()
        if post.not_before is not None and (
            (self.clock() - post.not_before).total_seconds() > IDEMPOTENCY_TRUSTED
        ):
            # An earlier attempt (stored behind a 5xx, then a long rate-limit wait or pause) may
            # be older than the instance's memory of the key: sending would post it twice.
            earlier = self.reconcile(post, since=post.not_before - timedelta(minutes=10))
            if earlier is not None:
                log.info(
                    "channel %s: delivery %s was already published as status %s",
                    self.name,
                    post.idempotency_key,
                    earlier.remote_id,
                )
                return earlier
        media_ids = [self._upload(client, path, post.alt(n)) for n, path in enumerate(post.media)]
        action = f"publishing delivery {post.idempotency_key}"
        try:
            status = client.status_post(
                post.text,
                in_reply_to_id=post.reply_to,
                media_ids=media_ids or None,
                visibility=self.visibility,
                language=post.language,
                idempotency_key=post.idempotency_key,
            )
        except MastodonError as exc:
            raise self._translate(exc, action, content=True, ambiguous=True) from None
        published = self._published(status)
        log.debug("channel %s: published status %s", self.name, published.remote_id)
        return published

    def fetch_metrics(self, remote_ids: Sequence[str]) -> list[MetricSample]:
        ids = list(dict.fromkeys(str(remote_id) for remote_id in remote_ids))
        if not ids:
            return []
        client = self._client()
        account = self._call("reading the follower count", client.account_verify_credentials)
        followers = _count(account.get("followers_count"))
        found: dict[str, Any] = {}
        for start in range(0, len(ids), STATUSES_PER_REQUEST):
            found.update(self._statuses(client, ids[start : start + STATUSES_PER_REQUEST]))
        collected_at = self.clock()
        samples = []
        for remote_id in ids:
            status = found.get(remote_id)
            if status is None:
                samples.append(MetricSample(remote_id, collected_at, deleted=True))
                continue
            samples.append(
                MetricSample(
                    remote_id,
                    collected_at,
                    likes=_count(status.get("favourites_count")),
                    reposts=_count(status.get("reblogs_count")),
                    replies=_count(status.get("replies_count")),
                    quotes=_count(status.get("quotes_count")),
                    followers=followers,
                )
            )
        return samples

    def reconcile(self, post: OutgoingPost, *, since: datetime) -> Published | None:
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        client = self._client()
        if self._account_id is None:
            account = self._call("verifying the access token", client.account_verify_credentials)
            self._account_id = str(account["id"])
        account_id = self._account_id
        wanted = normalize_text(post.text)
        action = f"looking for delivery {post.idempotency_key} among the account's statuses"
        found: Any = None
        max_id: str | None = None
        for _ in range(RECONCILE_PAGES):
            page = self._call(
                action,
                partial(
                    client.account_statuses,
                    account_id,
                    limit=PAGE_SIZE,
                    max_id=max_id,
                    exclude_reblogs=True,
                ),
            )
            for status in page:
                created = _instant(status.get("created_at"))
                if created is not None and created < since:
                    return self._published(found) if found is not None else None
                if _same_post(status, post, wanted):
                    found = status  # pages run newest first: keep the earliest match
            if not page:
                return self._published(found) if found is not None else None
            max_id = str(page[-1]["id"])
        if found is not None:
            return self._published(found)
        raise AmbiguousError(
            f"channel {self.name!r}: delivery {post.idempotency_key}: read "
            f"{RECONCILE_PAGES * PAGE_SIZE} statuses without reaching {since.isoformat()} or "
            "finding the text; look at the account's profile and resolve it by hand",
            channel=self.name,
        )

    def remote_id_from_url(self, url: str) -> str:
        """A status's id from its permalink on this instance (``/@user/<id>`` or
        ``/users/<user>/statuses/<id>``); a permalink on another instance names a copy there."""
        parts = urlsplit(url.strip())
        host = urlsplit(self.api_base_url).netloc
        match = re.fullmatch(r"/(?:@[\w.]+|users/[\w.]+/statuses)/(?P<id>\d+)/?", parts.path)
        if parts.scheme not in ("http", "https") or parts.netloc != host or match is None:
            raise RejectedError(
                f"channel {self.name!r}: {url!r} is not the permalink of a status on {host} "
                f"(https://{host}/@<account>/<id>)",
                channel=self.name,
            )
        return match["id"]

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
        self._session = None
        self._mastodon = None

    # --- Mastodon.py ------------------------------------------------------------------------

    def _client(self) -> Mastodon:
        if self._mastodon is None:
            token = self.settings.secret("token")
            session = settled_session(self.api_base_url)
            # Mastodon.py keeps only its own reading of X-RateLimit-Reset (an epoch shifted by
            # the Date header onto the system clock) and raises a bare "Hit rate limit." on a
            # 429: the last answer's headers are kept to read the wait from them (and a server
            # error's Retry-After).
            session.hooks["response"].append(self._remember_headers)
            self._session = session
            self._mastodon = Mastodon(
                access_token=token,
                api_base_url=self.api_base_url,
                ratelimit_method="throw",
                request_timeout=self.timeout,
                mastodon_version=ASSUMED_VERSION,
                version_check_mode="created",
                session=session,
                user_agent="Elshi (Mastodon.py)",
            )
        return self._mastodon

    def _remember_headers(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._last_headers = response.headers

    def _call(self, action: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except MastodonError as exc:
            raise self._translate(exc, action) from None

    def _upload(self, client: Mastodon, path: Path, alt: str = "") -> str:
        action = f"uploading {path.name}"
        mime, _ = mimetypes.guess_type(path.name)
        if mime is None:
            raise RejectedError(
                f"channel {self.name!r}: cannot tell the media type of {path.name}; "
                "use a .png, .jpg, .gif, .webp or .mp4 file",
                channel=self.name,
            )
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise RejectedError(
                f"channel {self.name!r}: cannot read media file {path}: {exc.strerror}",
                channel=self.name,
            ) from None
        try:
            attachment = client.media_post(
                data, mime_type=mime, file_name=path.name, description=alt or None
            )
            media_id = str(attachment["id"])
            # Mastodon 4 processes uploads in the background (202, url null); attaching one
            # that is not ready fails, so poll with a short backoff, bounded by media_wait.
            deadline = time.monotonic() + self.media_wait
            pause = 0.05
            while attachment.get("url") is None:
                if time.monotonic() + pause > deadline:
                    raise TransientError(
                        f"channel {self.name!r}: the instance was still processing {path.name} "
                        f"after {self.media_wait:g} s; the next attempt uploads it again "
                        "(raise media_wait for long videos)",
                        channel=self.name,
                    )
                time.sleep(pause)
                pause = min(pause * 2, 2.0)
                attachment = client.media(media_id)
        except MastodonError as exc:
            raise self._translate(exc, action, content=True) from None
        return media_id

    def _statuses(self, client: Mastodon, ids: list[str]) -> dict[str, Any]:
        """The statuses among ``ids`` that still exist, by id."""
        action = "reading status counters"
        if self._batch_reads:
            try:
                return {str(s["id"]): s for s in client.statuses(ids)}
            except MastodonNotFoundError:
                log.info(
                    "channel %s: the instance has no GET /api/v1/statuses (Mastodon before "
                    "4.3); reading statuses one at a time",
                    self.name,
                )
                self._batch_reads = False
            except MastodonError as exc:
                raise self._translate(exc, action) from None
        found: dict[str, Any] = {}
        for remote_id in ids:
            try:
                found[remote_id] = client.status(remote_id)
            except MastodonNotFoundError:
                continue
            except MastodonError as exc:
                raise self._translate(exc, action) from None
        return found

    def _published(self, status: Any) -> Published:
        url = status.get("url")
        return Published(
            remote_id=str(status["id"]),
            url=str(url) if url else None,
            published_at=_instant(status.get("created_at")) or self.clock(),
        )

    # --- errors -----------------------------------------------------------------------------

    def _translate(
        self, exc: MastodonError, action: str, *, content: bool = False, ambiguous: bool = False
    ) -> ConnectorError:
        """The taxonomy error for ``exc``. ``content``: the call sends content (a status or a
        file), so refusals are rejections; ``ambiguous``: the call creates a status, so losing
        the answer after sending leaves its fate unknown."""
        where = f"channel {self.name!r}: {action}"
        if isinstance(exc, MastodonRatelimitError):
            retry_after = self._retry_after()
            return RateLimitedError(
                self.safe(
                    f"{where}: the instance's rate limit is exhausted ({exc}); retry in "
                    f"{retry_after:.0f} s"
                ),
                retry_after=retry_after,
                channel=self.name,
            )
        if isinstance(exc, MastodonNetworkError):
            detail = self.safe(str(exc.__context__ or exc))
            if ambiguous and _reached_server(exc):
                return AmbiguousError(
                    f"{where}: the connection failed after the status was sent ({detail}); it "
                    "may exist. Re-sending with the same Idempotency-Key within about an hour "
                    "returns that status instead of a second one; later, reconcile",
                    channel=self.name,
                )
            return TransientError(f"{where}: network error ({detail})", channel=self.name)
        if isinstance(exc, MastodonAPIError):
            return self._api_error(exc, where, content=content, ambiguous=ambiguous)
        if isinstance(exc, MastodonIllegalArgumentError | MastodonVersionError | MastodonIOError):
            return RejectedError(
                self.safe(f"{where}: Mastodon.py refused the request: {exc}"), channel=self.name
            )
        return TransientError(
            self.safe(f"{where}: Mastodon.py failed: {type(exc).__name__}: {exc}"),
            channel=self.name,
        )

    def _api_error(
        self, exc: MastodonAPIError, where: str, *, content: bool, ambiguous: bool
    ) -> ConnectorError:
        args = exc.args
        status = args[1] if len(args) > 1 and isinstance(args[1], int) else None
        reason = str(args[3]) if len(args) > 3 and args[3] else str(args[0])
        said = self.safe(f"HTTP {status}: {reason}" if status else reason)
        env = self.settings.options.get("token_env") or "the token variable"
        # 5xx is transient even on publish: the retry carries the same Idempotency-Key, so a
        # status the instance did create comes back instead of being posted twice.
        if isinstance(exc, MastodonServerError) or (status is not None and status >= 500):
            return TransientError(
                f"{where}: the instance failed ({said})",
                channel=self.name,
                status=status,
                retry_after=wait_seconds(self._last_headers, self.clock(), default=None),
            )
        if isinstance(exc, MastodonUnauthorizedError) or status == 401:
            return AuthError(
                f"{where}: the instance refused the access token ({said}); create a new token "
                f"under Preferences → Development on {self.api_base_url} and export it in {env}",
                channel=self.name,
                status=status,
            )
        if status == 403 and not (content and "not allowed" in reason):
            return AuthError(
                f"{where}: the token or account may not do this ({said}); the application "
                f"needs the scopes {REQUIRED_SCOPES}, and the account must be active",
                channel=self.name,
                status=status,
            )
        if isinstance(exc, MastodonNotFoundError) and not content:
            return AuthError(
                f"{where}: not found ({said}); check that api_base_url {self.api_base_url} is "
                "the Mastodon instance of this account",
                channel=self.name,
                status=status,
            )
        if status == 422 and "finished processing" in reason:
            return TransientError(f"{where}: {said}", channel=self.name, status=status)
        if status is None:
            # An answer Mastodon.py could not read (a proxy's page): after a status was sent,
            # it may have been applied.
            kind = AmbiguousError if ambiguous else TransientError
            return kind(f"{where}: unreadable answer from the instance ({said})", channel=self.name)
        hint = ""
        if "character limit" in reason:
            hint = f" (channel option max_characters is {self.max_characters})"
        elif "Description is too long" in reason:
            hint = f" (channel option max_alt_characters is {self.max_alt_characters})"
        return RejectedError(
            f"{where}: the instance refused it ({said}){hint}", channel=self.name, status=status
        )

    def _retry_after(self) -> float:
        """The wait the last answer (the 429) gave: Mastodon's ``X-RateLimit-Reset`` is an ISO
        8601 instant, GoToSocial's epoch seconds, a proxy's ``Retry-After`` seconds or a date
        (`connectors._limits`)."""
        return wait_seconds(
            self._last_headers,
            self.clock(),
            resets=[("X-RateLimit-Reset", "X-RateLimit-Remaining")],
        )

    # --- options ----------------------------------------------------------------------------

    def _choice(self, key: str, allowed: Sequence[str], default: str) -> str:
        value = (self.settings.option(key, default) or default).lower()
        if value not in allowed:
            raise AuthError(
                f"channel {self.name!r}: {key} = {value!r} is not one of {', '.join(allowed)}",
                channel=self.name,
            )
        return value

    def _number(self, key: str, default: float) -> float:
        raw = self.settings.option(key, str(default))
        try:
            value = float(str(raw))
        except ValueError:
            value = 0.0
        if value <= 0:
            raise AuthError(
                f"channel {self.name!r}: {key} = {raw!r} must be a positive number",
                channel=self.name,
            )
        return value


# --- plain helpers ----------------------------------------------------------------------------


def _reached_server(exc: MastodonNetworkError) -> bool:
    """False when the request certainly never left: the connection could not be opened."""
    cause = exc.__context__
    if isinstance(cause, requests.exceptions.ConnectTimeout | requests.exceptions.SSLError):
        return False
    if isinstance(cause, requests.exceptions.ConnectionError) and cause.args:
        reason = getattr(cause.args[0], "reason", None)
        if isinstance(reason, urllib3.exceptions.NewConnectionError):
            return False
    return True


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _instant(value: object) -> datetime | None:
    """An aware UTC datetime from Mastodon.py's parsed value or an ISO 8601 string."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _same_post(status: Any, post: OutgoingPost, wanted: str) -> bool:
    reply_to = status.get("in_reply_to_id")
    if (str(reply_to) if reply_to is not None else None) != post.reply_to:
        return False
    return normalize_text(html_to_text(str(status.get("content") or ""))) == wanted


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._paragraphs = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag == "p":
            if self._paragraphs:
                self.parts.append("\n\n")
            self._paragraphs += 1

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(content: str) -> str:
    """A status's HTML ``content`` back to the text that was posted: paragraphs and line breaks
    restored, link texts (whose hidden spans keep the whole URL) and entities unescaped."""
    parser = _TextExtractor()
    parser.feed(content)
    parser.close()
    return "".join(parser.parts)


_MENTION_DOMAIN = re.compile(r"(?<![\w/])@(\w+)@[\w.-]+\w")
_SPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """The form in which a posted text and its rendering compare equal: NFC, mentions without
    their domain (Mastodon shows ``@user``), runs of white space as one space."""
    text = unicodedata.normalize("NFC", text)
    text = _MENTION_DOMAIN.sub(r"@\1", text)
    return _SPACE.sub(" ", text).strip()
