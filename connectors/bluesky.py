"""The Bluesky connector: publishes posts (rich-text links, hashtags and mentions as facets with
UTF-8 byte offsets, up to four images, replies for threads) as one account through atproto's
`Client`, reads their counters 25 at a time, and finds a post again after a crash by its record
key. Each post is created under a record key (a TID) derived from the delivery's idempotency key,
so a second attempt of one delivery cannot create a second post: the PDS refuses the existing key
(the reference PDS with a 500, others with a 409) and the connector then returns the post that is
already there. It logs in with an App Password only when no process has a usable session: the
session (access and refresh JWTs) is kept in the session store the scheduler hands in (the
database, shared by every daemon and command; createSession allows about 30 logins per 5
minutes and 300 a day), refreshed by atproto 15 minutes before the access token expires, and
renewed once when the server refuses the access token (adopting another process's newer
session first); it maps every atproto and httpx failure onto the error taxonomy and never lets the
password or a session token reach a message or a log. It must not know about the database.

Channel settings (``[channels.NAME]`` with ``platform = "bluesky"``):

* ``handle`` (required): the account's handle, e.g. ``botschaft.bsky.social`` (its DID works too).
* ``password_env``: the environment variable holding an App Password of that account, created in
  the Bluesky app under Settings → Privacy and security → App passwords (never the account's main
  password; an App Password without direct-message access is enough).
* ``api_base_url`` (optional): the PDS to log in to, default ``https://bsky.social``; a
  self-hosted PDS gives its own URL. ``/xrpc`` is appended by atproto.
* ``timeout``: seconds to wait for each HTTP request (default 30).

Each image carries its alt text (``post.alt_texts``, empty without one) and its aspect ratio.

Profiles and post counters come from the AppView the PDS forwards ``app.bsky.*`` reads to. A PDS
without one (a self-hosted PDS with no ``PDS_BSKY_APP_VIEW_URL``) answers those reads 400 "No
service configured for ...": the account is then described from its repository (no follower
count) and metrics tell only which posts were deleted. A post the AppView does not show is
deleted only when the PDS no longer has its record (else it was not indexed yet, or is hidden,
and its counters are read again later).
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import httpx
from atproto import Client, Request, Session, SessionEvent, models
from atproto.exceptions import (
    AtProtocolError,
    BadRequestError,
    NetworkError,
    RateLimitExceededError,
    RequestErrorBase,
    UnauthorizedError,
)

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
from connectors.media import image_size

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_PDS = "https://bsky.social"
POSTS_PER_REQUEST = 25
"""``app.bsky.feed.getPosts`` answers at most 25 URIs."""
MAX_IMAGES = 4
MAX_IMAGE_BYTES = 1_000_000
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_TID_CHARS = "234567abcdefghijklmnopqrstuvwxyz"
_TID_EPOCH_MICROS = 1_672_531_200_000_000
"""2023-01-01T00:00:00Z in microseconds."""
_POST_URI = re.compile(r"at://(?P<repo>[^/\s]+)/app\.bsky\.feed\.post/(?P<rkey>[A-Za-z0-9._:~-]+)")
_PERMALINK = re.compile(
    r"https://(?:bsky\.app|staging\.bsky\.app)/profile/(?P<repo>[^/\s]+)/post/(?P<rkey>[A-Za-z0-9._:~-]+)/?"
)
_FAILURES = (AtProtocolError, httpx.HTTPError)
_RENEWABLE = frozenset({"ExpiredToken", "InvalidToken", "AuthMissing"})
_ACCOUNT_PROBLEMS = frozenset(
    {"AccountTakedown", "AccountDeactivated", "AuthFactorTokenRequired", "AuthenticationRequired"}
)
# httpx failures that leave no doubt the request never reached the server.
_NEVER_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
)


def record_key(idempotency_key: str) -> str:
    """The TID a delivery's post is created under, taken from the key's SHA-256 alone, so every
    attempt of one delivery names the same record. 45 bits place its time within 407 days from
    2023-01-01 (never in the future, which some services distrust) and 10 bits are its clock id;
    the author feed sorts posts by ``createdAt``, not by key."""
    digest = int.from_bytes(hashlib.sha256(idempotency_key.encode("utf-8")).digest()[:8], "big")
    micros = _TID_EPOCH_MICROS + (digest >> 19)
    value = (micros << 10) | (digest & 0x3FF)
    return "".join(_TID_CHARS[(value >> (5 * i)) & 31] for i in reversed(range(13)))


class BlueskyConnector(Connector):
    platform: ClassVar[str] = "bluesky"
    capabilities: ClassVar[Capabilities] = Capabilities(
        metrics=frozenset({"likes", "reposts", "replies", "quotes", "bookmarks", "followers"}),
        metrics_batch_size=POSTS_PER_REQUEST,
        idempotent_publish=True,
        can_reconcile=True,
        # A PDS allows 35,000 write points a day and a post costs 3: about 8 posts a minute.
        default_rate_per_minute=8.0,
    )

    def __init__(
        self,
        settings: ChannelSettings,
        *,
        clock: Clock = system_clock,
        sessions: SessionStore | None = None,
    ) -> None:
        super().__init__(settings, clock=clock, sessions=sessions)
        self.base_url = (settings.api_base_url or DEFAULT_PDS).rstrip("/")
        self.timeout = self._number("timeout", 30.0)
        self._atproto: Client | None = None
        self._session_string: str | None = None
        self._did = ""
        self._handle = ""
        self._no_appview_logged = False

    def __repr__(self) -> str:
        return f"BlueskyConnector(name={self.name!r}, handle={self.settings.option('handle')!r})"

    # --- the interface ----------------------------------------------------------------------

    def whoami(self) -> Identity:
        profile = self._from_appview(
            "reading the account's profile", lambda c: c.get_profile(self._did)
        )
        if profile is None:
            return self._identity_from_pds()
        handle = str(profile.handle)
        return Identity(
            account_id=str(profile.did),
            handle=handle,
            display_name=profile.display_name or None,
            followers=_count(profile.followers_count),
            url=f"https://bsky.app/profile/{handle}",
        )

    def publish(self, post: OutgoingPost) -> Published:
        key = post.idempotency_key
        if len(post.media) > MAX_IMAGES:
            raise RejectedError(
                f"channel {self.name!r}: delivery {key} has {len(post.media)} images; a Bluesky "
                f"post carries at most {MAX_IMAGES}",
                channel=self.name,
            )
        images = [self._read_image(path, key) for path in post.media]
        parent = _post_uri(post.reply_to, self.name, key) if post.reply_to else None
        facets = self._call(
            f"detecting links, tags and mentions of delivery {key}",
            lambda c: c.detect_facets(post.text),
        )
        reply = self._reply_ref(*parent) if parent else None
        embed = self._embed(images, post) if images else None
        record = models.AppBskyFeedPost.Record(
            text=post.text,
            created_at=_timestamp(self.clock()),
            facets=facets or None,
            embed=embed,
            reply=reply,
            langs=[post.language] if post.language else None,
        )
        rkey = record_key(key)
        action = f"publishing delivery {key} (record key {rkey})"
        try:
            self._call(
                action,
                lambda c: c.app.bsky.feed.post.create(repo=self._did, record=record, rkey=rkey),
                creating=True,
            )
        except (TransientError, RejectedError) as error:
            if not _may_already_exist(error):
                raise
            existing = self._own_post(rkey)
            if existing is None:
                raise
            log.info(
                "channel %s: delivery %s already exists as %s; not posting it twice",
                self.name,
                key,
                existing.remote_id,
            )
            return existing
        published = Published(
            remote_id=f"at://{self._did}/app.bsky.feed.post/{rkey}",
            url=self._permalink(rkey),
            published_at=self.clock(),
        )
        log.debug("channel %s: published %s", self.name, published.remote_id)
        return published

    def fetch_metrics(self, remote_ids: Sequence[str]) -> list[MetricSample]:
        ids = list(dict.fromkeys(str(remote_id) for remote_id in remote_ids))
        if not ids:
            return []
        profile = self._from_appview(
            "reading the follower count", lambda c: c.get_profile(self._did)
        )
        followers = _count(profile.followers_count) if profile is not None else None
        uris = [uri for uri in ids if _POST_URI.fullmatch(uri)]
        found: dict[str, Any] = {}
        if profile is not None:
            for start in range(0, len(uris), POSTS_PER_REQUEST):
                for view in self._posts(uris[start : start + POSTS_PER_REQUEST]):
                    found[str(view.uri)] = view
        collected_at = self.clock()
        samples = []
        unseen = []
        for remote_id in ids:
            view = found.get(remote_id)
            if view is None:
                if self._still_on_pds(remote_id):
                    unseen.append(remote_id)
                else:
                    samples.append(MetricSample(remote_id, collected_at, deleted=True))
                continue
            samples.append(
                MetricSample(
                    remote_id,
                    collected_at,
                    likes=_count(view.like_count),
                    reposts=_count(view.repost_count),
                    replies=_count(view.reply_count),
                    quotes=_count(view.quote_count),
                    bookmarks=_count(view.bookmark_count),
                    followers=followers,
                )
            )
        if unseen:
            log.info(
                "channel %s: %d posts exist on the PDS but the AppView shows no counters for "
                "them (not indexed yet, hidden, or no AppView); they are read again later",
                self.name,
                len(unseen),
            )
        return samples

    def reconcile(self, post: OutgoingPost, *, since: datetime) -> Published | None:
        # The record key names the delivery, so `since` is not needed to tell.
        return self._own_post(record_key(post.idempotency_key))

    def remote_id_from_url(self, url: str) -> str:
        """The at-uri of the account's post at ``url``: a bsky.app permalink
        (``https://bsky.app/profile/<handle or DID>/post/<record key>``) or the at-uri itself;
        the record key alone is not enough to reply to the post or read its counters."""
        url = url.strip()
        match = _POST_URI.fullmatch(url) or _PERMALINK.fullmatch(url)
        if match is None:
            raise RejectedError(
                f"channel {self.name!r}: {url!r} is not the permalink of a Bluesky post "
                "(https://bsky.app/profile/<handle>/post/<record key>)",
                channel=self.name,
            )
        repo, rkey = match["repo"], match["rkey"]
        self._client()
        if repo.lower() not in (self._did.lower(), self._handle.lower()):
            raise RejectedError(
                f"channel {self.name!r}: {url!r} is a post of {repo}, not of this channel's "
                f"account ({self._handle})",
                channel=self.name,
            )
        return f"at://{self._did}/app.bsky.feed.post/{rkey}"

    def close(self) -> None:
        # The session string stays, so a later call picks the session up without a new login.
        if self._atproto is not None:
            self._atproto.request.close()
        self._atproto = None

    # --- atproto ----------------------------------------------------------------------------

    def _client(self) -> Client:
        """The logged-in client: this process's session, else the one every process shares
        (the session store), else a new login with the App Password."""
        if self._atproto is not None:
            return self._atproto
        client = Client(base_url=self.base_url, request=Request(timeout=self.timeout))
        client.on_session_change(self._keep_session)
        if self._session_string is None:
            self._session_string = self._shared_session()
        if self._session_string is not None:
            client.login(session_string=self._session_string, fetch_bsky_profile=False)
        else:
            try:
                self._login(client)
            except ConnectorError:
                client.request.close()
                raise
        self._atproto = client
        return client

    def _account(self) -> str:
        return f"{self.base_url} {self.settings.option('handle') or ''}"

    def _shared_session(self) -> str | None:
        """The session string another process (or an earlier run) saved for this account,
        while its refresh token is still good."""
        stored = self.sessions.load(self.session_key)
        if stored is None or stored.data.get("account") != self._account():
            return None
        if not stored.usable(self.clock(), margin=60):
            return None
        return stored.data.get("session")

    def _keep_session(self, event: object, session: Session) -> None:
        self._session_string = session.export()
        self._did = str(session.did)
        self._handle = str(session.handle)
        if event != SessionEvent.IMPORT:
            self._share(session)

    def _share(self, session: Session) -> None:
        """Save ``session`` for every process, valid until its refresh token expires."""
        self.sessions.save(
            self.session_key,
            StoredSession(
                data={"account": self._account(), "session": session.export()},
                expires_at=_jwt_expiry(session.refresh_jwt),
            ),
        )

    def _login(self, client: Client) -> None:
        handle = self.settings.option("handle")
        if not handle:
            raise AuthError(
                f"channel {self.name!r}: option handle is not set; set it to the account's "
                'handle, e.g. handle = "botschaft.bsky.social"',
                channel=self.name,
            )
        password = self.settings.secret("password")
        try:
            client.login(handle, password, fetch_bsky_profile=False)
        except _FAILURES as exc:
            raise self._translate(exc, f"logging in as {handle}") from None
        log.info("channel %s: logged in to %s as %s", self.name, self.base_url, self._handle)

    def _renew(self, client: Client) -> None:
        """A new access token: another process's newer session when there is one, else from
        the refresh token when it is still good, else by logging in with the App Password."""
        shared = self._shared_session()
        if shared is not None and shared != self._session_string:
            client.login(session_string=shared, fetch_bsky_profile=False)
            return
        session = Session.decode(self._session_string) if self._session_string else None
        fresh = None
        if session is not None:
            try:
                fresh = client.com.atproto.server.refresh_session(
                    headers={"Authorization": f"Bearer {session.refresh_jwt}"},
                    ignore_session_check=True,
                )
            except (UnauthorizedError, BadRequestError):
                fresh = None  # the refresh token expired or was revoked
            except _FAILURES as exc:
                raise self._translate(exc, "refreshing the session") from None
        if session is None or fresh is None:
            try:
                self._login(client)
            except AuthError:
                self.sessions.forget(self.session_key)
                raise
            return
        renewed = Session(
            handle=fresh.handle,
            did=fresh.did,
            access_jwt=fresh.access_jwt,
            refresh_jwt=fresh.refresh_jwt,
            pds_endpoint=session.pds_endpoint,
        )
        client.login(session_string=renewed.export(), fetch_bsky_profile=False)
        self._share(renewed)

    def _call(self, action: str, call: Callable[[Client], T], *, creating: bool = False) -> T:
        """``call`` with the logged-in client; when the server refuses the access token, the
        session is renewed once and ``call`` tried again."""
        client = self._client()
        try:
            return call(client)
        except _FAILURES as exc:
            if not _token_refused(exc):
                raise self._translate(exc, action, creating=creating) from None
        log.info("channel %s: the access token was refused; renewing the session", self.name)
        self._renew(client)
        try:
            return call(client)
        except _FAILURES as exc:
            raise self._translate(exc, action, creating=creating) from None

    def _own_post(self, rkey: str) -> Published | None:
        """The account's post with record key ``rkey``, None when there is none."""
        found = self._record(self._did, rkey, f"looking up record {rkey}")
        if found is None:
            return None
        created = _instant(getattr(found.value, "created_at", None))
        return Published(
            remote_id=str(found.uri),
            url=self._permalink(rkey),
            published_at=created or self.clock(),
        )

    def _record(self, repo: str, rkey: str, action: str) -> Any:
        """The post record ``rkey`` of ``repo`` from the PDS, None when it does not exist."""

        def get(client: Client) -> Any:
            try:
                return client.app.bsky.feed.post.get(repo, rkey)
            except BadRequestError as exc:
                if _xrpc_error(exc)[0] == "RecordNotFound":
                    return None
                raise

        return self._call(action, get)

    def _still_on_pds(self, remote_id: str) -> bool:
        """Whether the account's post ``remote_id``, which the AppView did not show, is still in
        its repository: the AppView omits posts it has not indexed yet or hides, and a PDS
        without an AppView shows none, so only the PDS can say a post was deleted."""
        match = _POST_URI.fullmatch(remote_id)
        if match is None or match["repo"] not in (self._did, self._handle):
            return False
        return (
            self._record(self._did, match["rkey"], f"checking that {remote_id} exists") is not None
        )

    def _from_appview(self, action: str, call: Callable[[Client], T]) -> T | None:
        """``call`` (an ``app.bsky.*`` read the PDS forwards to its AppView), None when the PDS
        has no AppView to forward it to (a self-hosted PDS without ``PDS_BSKY_APP_VIEW_URL``)."""

        def read(client: Client) -> T | None:
            try:
                return call(client)
            except BadRequestError as exc:
                if _no_appview(exc):
                    return None
                raise

        answer = self._call(action, read)
        if answer is None and not self._no_appview_logged:
            self._no_appview_logged = True
            log.warning(
                "channel %s: the PDS at %s has no AppView configured; profile and post "
                "counters cannot be read there (only whether posts still exist)",
                self.name,
                self.base_url,
            )
        return answer

    def _identity_from_pds(self) -> Identity:
        """Who the account is by its repository alone: handle, DID and the display name of its
        profile record; the follower count only an AppView knows."""
        repo = self._call(
            "describing the account's repository",
            lambda c: c.com.atproto.repo.describe_repo({"repo": self._did}),
        )

        def profile(client: Client) -> Any:
            try:
                return client.app.bsky.actor.profile.get(self._did, "self")
            except BadRequestError as exc:
                if _xrpc_error(exc)[0] == "RecordNotFound":
                    return None
                raise

        record = self._call("reading the account's profile record", profile)
        name = getattr(record.value, "display_name", None) if record is not None else None
        handle = str(repo.handle)
        return Identity(
            account_id=str(repo.did),
            handle=handle,
            display_name=name or None,
            followers=None,
            url=f"https://bsky.app/profile/{handle}",
        )

    def _reply_ref(self, repo: str, rkey: str) -> Any:
        """Strong references to the parent and to the root of its thread."""
        uri = f"at://{repo}/app.bsky.feed.post/{rkey}"
        parent = self._record(repo, rkey, f"reading the post {uri} to reply to")
        if parent is None:
            raise RejectedError(
                f"channel {self.name!r}: the post to reply to, {uri}, does not exist (deleted?)",
                channel=self.name,
            )
        parent_ref = models.ComAtprotoRepoStrongRef.Main(uri=parent.uri, cid=parent.cid)
        thread = getattr(parent.value, "reply", None)
        root = thread.root if thread is not None else parent_ref
        return models.AppBskyFeedPost.ReplyRef(root=root, parent=parent_ref)

    def _read_image(self, path: Path, key: str) -> tuple[str, bytes]:
        mime, _ = mimetypes.guess_type(path.name)
        where = f"channel {self.name!r}: delivery {key}"
        if mime not in IMAGE_TYPES:
            raise RejectedError(
                f"{where}: {path.name} is not an image Bluesky attaches; use a .png, .jpg, .gif "
                "or .webp file",
                channel=self.name,
            )
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise RejectedError(
                f"{where}: cannot read image {path}: {exc.strerror}", channel=self.name
            ) from None
        if len(data) > MAX_IMAGE_BYTES:
            raise RejectedError(
                f"{where}: {path.name} has {len(data):,} bytes; Bluesky takes images up to "
                f"{MAX_IMAGE_BYTES:,} bytes",
                channel=self.name,
            )
        return path.name, data

    def _embed(self, images: list[tuple[str, bytes]], post: OutgoingPost) -> Any:
        """The images with their alt texts and aspect ratios (the app sizes them by it)."""
        embedded = []
        for n, (name, data) in enumerate(images):
            size = image_size(data)
            ratio = (
                models.AppBskyEmbedDefs.AspectRatio(width=size[0], height=size[1]) if size else None
            )
            embedded.append(
                models.AppBskyEmbedImages.Image(
                    alt=post.alt(n), image=self._upload(name, data), aspect_ratio=ratio
                )
            )
        return models.AppBskyEmbedImages.Main(images=embedded)

    def _upload(self, name: str, data: bytes) -> Any:
        return self._call(f"uploading {name}", lambda c: c.upload_blob(data)).blob

    def _posts(self, uris: list[str]) -> list[Any]:
        response = self._call("reading post counters", lambda c: c.get_posts(uris))
        return list(response.posts)

    def _permalink(self, rkey: str) -> str:
        return f"https://bsky.app/profile/{self._handle or self._did}/post/{rkey}"

    # --- errors -----------------------------------------------------------------------------

    def _secrets(self) -> list[str]:
        secrets = super()._secrets()
        if self._session_string is not None:
            session = Session.decode(self._session_string)
            secrets += [session.access_jwt, session.refresh_jwt]
        return secrets

    def _translate(self, exc: Exception, action: str, *, creating: bool = False) -> ConnectorError:
        """The taxonomy error for ``exc``. ``creating``: the call creates the post, so losing
        the answer after sending leaves its fate unknown."""
        where = f"channel {self.name!r}: Bluesky, {action}"
        if isinstance(exc, RateLimitExceededError):
            retry_after = self._retry_after(exc)
            return RateLimitedError(
                self.safe(
                    f"{where}: rate limit exhausted ({_said(exc)}); retry in {retry_after:.0f} s"
                ),
                retry_after=retry_after,
                channel=self.name,
            )
        if isinstance(exc, RequestErrorBase) and exc.response is not None:
            return self._answer_error(exc, where)
        if isinstance(exc, NetworkError | httpx.TransportError):
            cause = exc.__cause__ if isinstance(exc, NetworkError) else exc
            detail = self.safe(f"{type(cause).__name__}: {cause}")
            if creating and not isinstance(cause, _NEVER_SENT):
                return AmbiguousError(
                    f"{where}: the connection failed after the post was sent ({detail}); it may "
                    "exist. Publishing the delivery again is safe (its record key refuses a "
                    "second copy), or reconcile",
                    channel=self.name,
                )
            return TransientError(f"{where}: network error ({detail})", channel=self.name)
        kind = AmbiguousError if creating else TransientError
        return kind(
            self.safe(f"{where}: unreadable answer ({type(exc).__name__}: {exc})"),
            channel=self.name,
        )

    def _answer_error(self, exc: RequestErrorBase, where: str) -> ConnectorError:
        status = int(exc.response.status_code)
        error, message = _xrpc_error(exc)
        said = self.safe(f"HTTP {status} {error}: {message}" if error else f"HTTP {status}")
        env = self.settings.options.get("password_env") or "the variable named by password_env"
        if error in _ACCOUNT_PROBLEMS:
            return AuthError(
                f"{where}: the login was refused ({said}); check the channel's handle and that "
                f"{env} holds a current App Password (Settings → Privacy and security → App "
                "passwords)",
                channel=self.name,
                status=status,
            )
        if error in _RENEWABLE or status in (401, 403):
            return AuthError(
                f"{where}: the server refused the session ({said}); check that the App "
                f"Password in {env} was not revoked",
                channel=self.name,
                status=status,
            )
        if status in (404, 501):
            return AuthError(
                f"{where}: the server does not serve this method ({said}); check that "
                f"api_base_url {self.base_url} is the account's PDS",
                channel=self.name,
                status=status,
            )
        if status >= 500 or error == "ConcurrentWrites":
            return TransientError(
                f"{where}: server error ({said})",
                channel=self.name,
                status=status,
                retry_after=wait_seconds(exc.response.headers, self.clock(), default=None),
            )
        return RejectedError(f"{where}: refused ({said})", channel=self.name, status=status)

    def _retry_after(self, exc: RateLimitExceededError) -> float:
        """Seconds until the limit that was hit resets: the PDS's ``Retry-After`` and
        ``ratelimit-reset`` (epoch seconds, read only when its ``ratelimit-remaining`` is 0: on
        an AppView's 429 the PDS forwards, its own headers describe a limit not reached),
        measured on the answer's ``Date`` (`connectors._limits`)."""
        headers = exc.response.headers if exc.response is not None else {}
        return wait_seconds(
            headers, self.clock(), resets=[("ratelimit-reset", "ratelimit-remaining")]
        )

    def _number(self, key: str, default: float) -> float:
        raw = self.settings.options.get(key, default)
        try:
            value = float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            value = 0.0
        if value <= 0:
            raise AuthError(
                f"channel {self.name!r}: {key} = {raw!r} must be a positive number",
                channel=self.name,
            )
        return value


# --- plain helpers ----------------------------------------------------------------------------


def _post_uri(uri: str, channel: str, key: str) -> tuple[str, str]:
    match = _POST_URI.fullmatch(uri)
    if match is None:
        raise RejectedError(
            f"channel {channel!r}: delivery {key} replies to {uri!r}, which is not the at-uri of "
            "a Bluesky post (at://<did>/app.bsky.feed.post/<record key>)",
            channel=channel,
        )
    return match["repo"], match["rkey"]


def _jwt_expiry(token: str) -> datetime | None:
    """The ``exp`` claim of a JWT (not verified: only to know when to stop reusing it)."""
    import base64
    import json

    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return datetime.fromtimestamp(int(claims["exp"]), UTC)
    except (IndexError, KeyError, TypeError, ValueError):
        return None


def _token_refused(exc: Exception) -> bool:
    if not isinstance(exc, RequestErrorBase) or exc.response is None:
        return False
    return exc.response.status_code == 401 or _xrpc_error(exc)[0] in _RENEWABLE


def _no_appview(exc: RequestErrorBase) -> bool:
    """The PDS has no AppView to forward an ``app.bsky.*`` read to: the reference PDS answers
    400 ``InvalidRequest`` "No service configured for app.bsky.actor.getProfile"."""
    error, message = _xrpc_error(exc)
    return error == "InvalidRequest" and message.startswith("No service configured for app.bsky.")


def _may_already_exist(error: ConnectorError) -> bool:
    """After a create failed like this, the record key may already be taken: the reference PDS
    answers a duplicate key with 500, others with 409."""
    status = error.status or 0
    return status == 409 or status >= 500 or "already exists" in error.message.lower()


def _xrpc_error(exc: RequestErrorBase) -> tuple[str, str]:
    """The XRPC ``error`` name and ``message`` of an answer."""
    content = exc.response.content if exc.response is not None else None
    if isinstance(content, dict):
        return str(content.get("error") or ""), str(content.get("message") or "")
    error = getattr(content, "error", None)
    message = getattr(content, "message", None)
    return str(error or ""), str(message or "")


def _said(exc: RequestErrorBase) -> str:
    error, message = _xrpc_error(exc)
    return f"{error}: {message}" if error else str(exc)


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
