"""The LinkedIn connector: publishes posts (text in LinkedIn's "little text" format, images with
alt text through the Images API) as an organization page through the versioned Posts API, reads
each share's statistics, and finds a post again after a crash among the page's posts. It uses
LinkedIn's own client library, ``linkedin-api-client`` (`RestliClient` for Rest.li 2.0 calls
and their encoding, `AuthClient` for refreshing and introspecting tokens), whose hard-coded hosts
a transport adapter re-addresses to ``api_base_url`` when one is set. Every failure is mapped
onto the error taxonomy; no token reaches a message or a log.

Channel settings (``[channels.NAME]`` with ``platform = "linkedin"``):

* ``organization`` (required): the page's numeric id or URN (``urn:li:organization:123``); the
  member who authorised the app must be an administrator of it.
* ``access_token_env`` (required): the variable holding a member access token with the scopes
  ``w_organization_social``, ``r_organization_social`` and ``rw_organization_admin`` (an app in
  LinkedIn's developer portal with the Community Management API product; the page administrator
  authorises it through the OAuth authorization-code flow). It lives about 60 days.
* ``refresh_token_env``, ``client_id_env``, ``client_secret_env`` (optional): with all three,
  the connector refreshes the access token a week before it expires and keeps the new one in the
  session store (shared by every process). With the client id and secret alone it can read the
  token's expiry (``elshi channels check`` and ``elshi status`` show it); without them the
  expiry is unknown until LinkedIn refuses the token.
* ``linkedin_version`` (default ``202611``): the ``LinkedIn-Version`` header, ``YYYYMM``.
  LinkedIn retires each version after about a year; when it answers that the version is not
  active, the error names this setting.
* ``timeout`` (default 30); ``api_base_url`` (default LinkedIn's hosts).

Exactly once: the Posts API has no idempotency key. Before the call a post is identified by its
text among the page's posts since the claim; after it by its URN (``urn:li:share:...``). A lost
answer is ambiguous and `reconcile` reads the page's posts back to the claim time. LinkedIn
refuses the same commentary again within a short time ("Content is a duplicate of urn:..."),
which arrives as `DuplicateError` so the scheduler reconciles.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import requests

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
    StoredSession,
    TransientError,
    system_clock,
)

log = logging.getLogger(__name__)

LINKEDIN_HOSTS = ("https://api.linkedin.com/", "https://www.linkedin.com/")
DEFAULT_VERSION = "202611"
REFRESH_BEFORE = timedelta(days=7)
STATS_BATCH = 20
PAGE = 50
RECONCILE_PAGES = 6
MAX_IMAGES = 20
IMAGE_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
}
_RESERVED = set("|{}@[]()<>#\\*_~")
_HASHTAG = re.compile(r"(?<![\w#])#(\w+)")
_URN = re.compile(r"urn:li:(?:share|ugcPost):\d+")


def little_text(text: str) -> str:
    """``text`` in LinkedIn's "little text" format: hashtags as hashtag templates, every other
    reserved character escaped (an unescaped one makes the Posts API refuse the post)."""
    out: list[str] = []
    pos = 0
    while pos < len(text):
        tag = _HASHTAG.match(text, pos)
        if tag:
            out.append("{hashtag|\\#|" + tag.group(1) + "}")
            pos = tag.end()
            continue
        char = text[pos]
        out.append("\\" + char if char in _RESERVED else char)
        pos += 1
    return "".join(out)


def plain_text(commentary: str) -> str:
    """A commentary in little text format back to the text as a reader sees it."""
    text = re.sub(r"\{hashtag\|\\#\|([^}|]+)\}", r"#\1", commentary)
    return re.sub(r"\\(.)", r"\1", text)


class LinkedInConnector(Connector):
    platform: ClassVar[str] = "linkedin"
    capabilities: ClassVar[Capabilities] = Capabilities(
        metrics=frozenset(
            {"impressions", "likes", "replies", "reposts", "link_clicks", "followers"}
        ),
        metrics_batch_size=STATS_BATCH,
        idempotent_publish=False,
        can_reconcile=True,
        # LinkedIn throttles posting per member and day (about 150); a page rarely needs more.
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
        raw = (settings.option("organization") or "").strip()
        org_id = raw.rsplit(":", 1)[-1]
        if not org_id.isdigit():
            raise AuthError(
                f"channel {self.name!r}: option organization is {raw or 'not set'}; set it to "
                'the page\'s numeric id or URN, e.g. organization = "urn:li:organization:123"',
                channel=self.name,
            )
        self.organization = f"urn:li:organization:{org_id}"
        self.version = str(settings.option("linkedin_version") or DEFAULT_VERSION)
        try:
            timeout = float(settings.options.get("timeout", 30.0))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            timeout = 0.0
        if timeout <= 0:
            raise AuthError(
                f"channel {self.name!r}: timeout must be a positive number of seconds",
                channel=self.name,
            )
        self._adapter = Rebase(settings.api_base_url, timeout)
        self._restli: Any = None
        self._auth: Any = None
        self._token: str | None = None
        self._expires_at: datetime | None = None
        self._refresh_ends: datetime | None = None

    def __repr__(self) -> str:
        return f"LinkedInConnector(name={self.name!r}, organization={self.organization!r})"

    # --- the interface ----------------------------------------------------------------------

    def whoami(self) -> Identity:
        org_id = int(self.organization.rsplit(":", 1)[1])
        page = self._get(
            "/organizations/{id}", "reading the organization page", path_keys={"id": org_id}
        )
        vanity = page.get("vanityName")
        return Identity(
            account_id=self.organization,
            handle=str(vanity or org_id),
            display_name=str(page.get("localizedName") or "") or None,
            followers=self._followers(),
            url=f"https://www.linkedin.com/company/{vanity or org_id}/",
            expires_at=self._channel_expiry(),
        )

    def publish(self, post: OutgoingPost) -> Published:
        key = post.idempotency_key
        if post.reply_to:
            raise RejectedError(
                f"channel {self.name!r}: delivery {key} replies to {post.reply_to}; a LinkedIn "
                "page post cannot be a reply (comments are not posts)",
                channel=self.name,
            )
        if len(post.media) > MAX_IMAGES:
            raise RejectedError(
                f"channel {self.name!r}: delivery {key} has {len(post.media)} images; LinkedIn "
                f"takes at most {MAX_IMAGES}",
                channel=self.name,
            )
        images = [
            {"id": self._upload(path, key), "altText": post.alt(n)}
            for n, path in enumerate(post.media)
        ]
        entity: dict[str, Any] = {
            "author": self.organization,
            "commentary": little_text(post.text),
            "visibility": "PUBLIC",
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        if len(images) == 1:
            entity["content"] = {"media": images[0]}
        elif images:
            entity["content"] = {"multiImage": {"images": images}}
        action = f"publishing delivery {key}"
        with self._translated(action, creating=True):
            response = self._client().create(
                resource_path="/posts",
                entity=entity,
                access_token=self._access_token(),
                version_string=self.version,
            )
        self._check(response, action, creating=True)
        urn = response.entity_id or response.response.headers.get("x-linkedin-id")
        if not urn:
            raise AmbiguousError(
                f"channel {self.name!r}: LinkedIn answered the post without its URN; it may "
                "exist: reconcile before sending again",
                channel=self.name,
            )
        log.debug("channel %s: published %s", self.name, urn)
        return Published(str(urn), _permalink(str(urn)), self.clock())

    def fetch_metrics(self, remote_ids: Sequence[str]) -> list[MetricSample]:
        ids = list(dict.fromkeys(str(r) for r in remote_ids))
        if not ids:
            return []
        followers = self._followers()
        found: dict[str, dict[str, Any]] = {}
        urns = [i for i in ids if _URN.fullmatch(i)]
        for start in range(0, len(urns), STATS_BATCH):
            batch = urns[start : start + STATS_BATCH]
            params: dict[str, Any] = {"organizationalEntity": self.organization}
            shares = [u for u in batch if ":share:" in u]
            posts = [u for u in batch if ":ugcPost:" in u]
            if shares:
                params["shares"] = shares
            if posts:
                params["ugcPosts"] = posts
            with self._translated("reading share statistics"):
                response = self._client().finder(
                    resource_path="/organizationalEntityShareStatistics",
                    finder_name="organizationalEntity",
                    query_params=params,
                    access_token=self._access_token(),
                    version_string=self.version,
                )
            self._check(response, "reading share statistics")
            for element in response.elements or []:
                urn = element.get("share") or element.get("ugcPost")
                found[str(urn)] = element.get("totalShareStatistics") or {}
        now = self.clock()
        samples = []
        for remote_id in ids:
            stats = found.get(remote_id)
            if stats is None:
                samples.append(MetricSample(remote_id, now, followers=followers, deleted=True))
                continue
            samples.append(
                MetricSample(
                    remote_id,
                    now,
                    impressions=_count(stats.get("impressionCount")),
                    likes=_count(stats.get("likeCount")),
                    replies=_count(stats.get("commentCount")),
                    reposts=_count(stats.get("shareCount")),
                    link_clicks=_count(stats.get("clickCount")),
                    followers=followers,
                )
            )
        return samples

    def reconcile(self, post: OutgoingPost, *, since: datetime) -> Published | None:
        wanted = _comparable(post.text)
        found: dict[str, Any] | None = None
        for page in range(RECONCILE_PAGES):
            action = f"looking for delivery {post.idempotency_key} among the page's posts"
            with self._translated(action):
                response = self._client().finder(
                    resource_path="/posts",
                    finder_name="author",
                    query_params={
                        "author": self.organization,
                        "start": page * PAGE,
                        "count": PAGE,
                        "sortBy": "CREATED",
                    },
                    access_token=self._access_token(),
                    version_string=self.version,
                )
            self._check(response, action)
            elements = response.elements or []
            for element in elements:
                created = _millis(element.get("createdAt"))
                if created is not None and created < since:
                    return self._found(found)
                if _comparable(plain_text(str(element.get("commentary") or ""))) == wanted:
                    found = element  # newest first: keep the earliest match
            if len(elements) < PAGE:
                return self._found(found)
        if found is not None:
            return self._found(found)
        raise AmbiguousError(
            f"channel {self.name!r}: delivery {post.idempotency_key}: more than "
            f"{RECONCILE_PAGES * PAGE} posts since {since.isoformat()}; resolve it by hand",
            channel=self.name,
        )

    def remote_id_from_url(self, url: str) -> str:
        """The post URN from ``https://www.linkedin.com/feed/update/urn:li:share:<id>/`` (the
        link of a post's time stamp); a share link with an activity id does not name the post
        the API knows."""
        match = re.fullmatch(
            r"https://(?:www\.)?linkedin\.com/feed/update/(?P<urn>urn:li:(?:share|ugcPost):\d+)/?(?:\?.*)?",
            url.strip(),
        )
        if match is None:
            raise RejectedError(
                f"channel {self.name!r}: {url!r} is not the permalink of a LinkedIn post "
                "(https://www.linkedin.com/feed/update/urn:li:share:<id>/ — open the post from "
                "the page and copy the address with the share URN)",
                channel=self.name,
            )
        return match["urn"]

    def close(self) -> None:
        for client in (self._restli, self._auth):
            if client is not None:
                client.session.close()
        self._restli = self._auth = None

    # --- the client library -----------------------------------------------------------------

    def _client(self) -> Any:
        if self._restli is None:
            from linkedin_api.clients.restli.client import RestliClient

            client = RestliClient()
            for prefix in LINKEDIN_HOSTS:
                client.session.mount(prefix, self._adapter)
            self._restli = client
        return self._restli

    def _oauth(self) -> Any:
        if self._auth is None:
            from linkedin_api.clients.auth.client import AuthClient

            client = AuthClient(
                client_id=self.settings.secret("client_id"),
                client_secret=self.settings.secret("client_secret"),
                redirect_url=None,
            )
            for prefix in LINKEDIN_HOSTS:
                client.session.mount(prefix, self._adapter)
            self._auth = client
        return self._auth

    def _get(self, path: str, action: str, **kwargs: Any) -> dict[str, Any]:
        with self._translated(action):
            response = self._client().get(
                resource_path=path,
                access_token=self._access_token(),
                version_string=self.version,
                **kwargs,
            )
        self._check(response, action)
        return response.entity if isinstance(response.entity, dict) else {}

    def _followers(self) -> int | None:
        size = self._get(
            "/networkSizes/{urn}",
            "reading the follower count",
            path_keys={"urn": self.organization},
            query_params={"edgeType": "COMPANY_FOLLOWED_BY_MEMBER"},
        )
        return _count(size.get("firstDegreeSize"))

    def _upload(self, path: Path, key: str) -> str:
        kind = IMAGE_TYPES.get(path.suffix.lower())
        if kind is None:
            raise RejectedError(
                f"channel {self.name!r}: delivery {key}: {path.name} is not an image LinkedIn "
                "takes; use a .jpg, .png or .gif file",
                channel=self.name,
            )
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise RejectedError(
                f"channel {self.name!r}: cannot read {path}: {exc.strerror}", channel=self.name
            ) from None
        action = f"uploading {path.name}"
        with self._translated(action):
            response = self._client().action(
                resource_path="/images",
                action_name="initializeUpload",
                action_params={"initializeUploadRequest": {"owner": self.organization}},
                access_token=self._access_token(),
                version_string=self.version,
            )
        self._check(response, action)
        value = response.value if isinstance(response.value, dict) else {}
        upload_url, image = value.get("uploadUrl"), value.get("image")
        if not upload_url or not image:
            raise TransientError(
                f"channel {self.name!r}: LinkedIn, {action}: no upload URL", channel=self.name
            )
        with self._translated(action):
            put = self._client().session.put(
                upload_url,
                data=data,
                headers={"Authorization": f"Bearer {self._access_token()}", "Content-Type": kind},
            )
        if put.status_code >= 400:
            raise self._error_for(put, action)
        return str(image)

    def _found(self, element: dict[str, Any] | None) -> Published | None:
        if element is None:
            return None
        urn = str(element["id"])
        return Published(urn, _permalink(urn), _millis(element.get("createdAt")) or self.clock())

    # --- tokens -----------------------------------------------------------------------------

    def _refreshable(self) -> bool:
        return all(
            self.settings.secrets.get(k) for k in ("refresh_token", "client_id", "client_secret")
        )

    def _access_token(self) -> str:
        """The current access token: a newer one another process refreshed (session store),
        else the configured one; refreshed first when it expires within a week."""
        if self._token is None:
            stored = self.sessions.load(self.session_key)
            if stored is not None and stored.data.get("organization") == self.organization:
                self._token = stored.data.get("access_token")
                self._expires_at = _iso(stored.data.get("access_expires_at"))
                self._refresh_ends = _iso(stored.data.get("refresh_expires_at"))
            if self._token is None:
                self._token = self.settings.secret("access_token")
                self._expires_at = None
        if (
            self._refreshable()
            and self._expires_at is not None
            and self._expires_at - self.clock() < REFRESH_BEFORE
        ):
            self._refresh()
        return self._token

    def _channel_expiry(self) -> datetime | None:
        """When the channel stops working unless someone acts: with a refresh token, when the
        refresh token ends (the access token is renewed before then, so its own expiry is no
        reason to warn anyone; the first look refreshes once to learn it); else when the
        access token expires."""
        if not self._refreshable():
            return self._token_expiry()
        self._access_token()
        if self.sessions.load(self.session_key) is None:
            self._refresh()
        return self._refresh_ends

    def _token_expiry(self) -> datetime | None:
        """When the access token expires: known from a refresh, else asked of LinkedIn's
        introspection (needs the client id and secret), else None."""
        token = self._access_token()
        if self._expires_at is not None:
            return self._expires_at
        if not (
            self.settings.secrets.get("client_id") and self.settings.secrets.get("client_secret")
        ):
            return None
        with self._translated("reading the token's expiry"):
            answer = self._oauth().introspect_access_token(token)
        if answer.status_code >= 400:
            raise self._error_for(answer.response, "reading the token's expiry")
        if answer.expires_at:
            self._expires_at = datetime.fromtimestamp(int(answer.expires_at), UTC)
        return self._expires_at

    def _refresh(self) -> None:
        """A new access token from the refresh token, shared with every process."""
        action = "refreshing the access token"
        stored = self.sessions.load(self.session_key)
        refresh_token = (
            stored.data.get("refresh_token") if stored else None
        ) or self.settings.secret("refresh_token")
        with self._translated(action):
            answer = self._oauth().exchange_refresh_token_for_access_token(refresh_token)
        if answer.status_code >= 400 or not answer.access_token:
            env = self.settings.options.get("refresh_token_env") or "the refresh token variable"
            raise AuthError(
                f"channel {self.name!r}: LinkedIn refused to refresh the access token (HTTP "
                f"{answer.status_code}); authorise the app again and export the new tokens "
                f"(access_token_env, {env})",
                channel=self.name,
                status=answer.status_code,
            )
        now = self.clock()
        self._token = str(answer.access_token)
        self._expires_at = now + timedelta(seconds=int(answer.expires_in or 0))
        self._refresh_ends = (
            now + timedelta(seconds=int(answer.refresh_token_expires_in))
            if answer.refresh_token_expires_in
            else None
        )
        data = {
            "organization": self.organization,
            "access_token": self._token,
            "access_expires_at": self._expires_at.isoformat(),
            "refresh_token": str(answer.refresh_token or refresh_token),
        }
        if self._refresh_ends is not None:
            data["refresh_expires_at"] = self._refresh_ends.isoformat()
        self.sessions.save(
            self.session_key,
            StoredSession(data=data, expires_at=self._refresh_ends or self._expires_at),
        )
        log.info(
            "channel %s: refreshed the LinkedIn access token (valid until %s)",
            self.name,
            self._expires_at.date(),
        )

    # --- errors -----------------------------------------------------------------------------

    @contextmanager
    def _translated(self, action: str, *, creating: bool = False) -> Iterator[None]:
        where = f"channel {self.name!r}: LinkedIn, {action}"
        try:
            yield
        except ConnectorError:
            raise
        except requests.RequestException as exc:
            detail = self.safe(f"{type(exc).__name__}: {exc}")
            if creating and not never_sent(exc):
                raise AmbiguousError(
                    f"{where}: the connection failed after the post was sent ({detail}); it may "
                    "exist: reconcile before sending again",
                    channel=self.name,
                ) from None
            raise TransientError(f"{where}: network error ({detail})", channel=self.name) from None
        except Exception as exc:  # the library's formatting errors: an answer it could not read
            kind = AmbiguousError if creating else TransientError
            raise kind(
                self.safe(f"{where}: unreadable answer ({type(exc).__name__})"), channel=self.name
            ) from None

    def _check(self, response: Any, action: str, *, creating: bool = False) -> None:
        if response.status_code >= 400:
            raise self._error_for(response.response, action)

    def _error_for(self, response: requests.Response, action: str) -> ConnectorError:
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        status = response.status_code
        code = str(body.get("code") or "")
        said = self.safe(f"HTTP {status} {code}: {body.get('message') or response.reason}")
        where = f"channel {self.name!r}: LinkedIn, {action}"
        if status == 426 or code == "NONEXISTENT_VERSION":
            return AuthError(
                f"{where}: LinkedIn no longer serves API version {self.version} ({said}); set "
                f'linkedin_version = "YYYYMM" in [channels.{self.name}] to a version from the last '
                "twelve months (see LinkedIn's API versioning page)",
                channel=self.name,
                status=status,
            )
        if status == 401:
            if self._refreshable() and "refresh" not in action:
                self._expires_at = self.clock()  # refresh before the next call
            env = (
                self.settings.options.get("access_token_env")
                or "the variable named by access_token_env"
            )
            expiry = f" (it expired on {self._expires_at.date()})" if self._expires_at else ""
            return AuthError(
                f"{where}: the access token was refused{expiry} ({said}); authorise the app "
                f"again and export the new token in {env}"
                + (
                    ""
                    if self._refreshable()
                    else ", or configure refresh_token_env, client_id_env and client_secret_env so Elshi refreshes it"
                ),
                channel=self.name,
                status=status,
            )
        if status == 403:
            return AuthError(
                f"{where}: not allowed ({said}); the member must administer {self.organization} "
                "and the token needs w_organization_social, r_organization_social and "
                "rw_organization_admin",
                channel=self.name,
                status=status,
            )
        if status == 429:
            # LinkedIn's own 429 has no Retry-After (its day resets at midnight UTC); a proxy's
            # may, in seconds or as an HTTP date.
            wait = wait_seconds(
                response.headers, self.clock(), default=_until_midnight(self.clock())
            )
            return RateLimitedError(
                f"{where}: throttled ({said}); retry in {wait:.0f} s",
                retry_after=wait,
                channel=self.name,
                status=status,
            )
        if status >= 500:
            return TransientError(
                f"{where}: server error ({said})",
                channel=self.name,
                status=status,
                retry_after=wait_seconds(response.headers, self.clock(), default=None),
            )
        if "duplicate" in said.lower():
            return DuplicateError(
                f"{where}: refused as a duplicate ({said}); an earlier attempt was probably "
                "published: reconcile",
                channel=self.name,
                status=status,
            )
        return RejectedError(f"{where}: refused ({said})", channel=self.name, status=status)


# --- plain helpers ----------------------------------------------------------------------------


def _permalink(urn: str) -> str:
    return f"https://www.linkedin.com/feed/update/{urn}/"


def _until_midnight(now: datetime) -> float:
    tomorrow = (now.astimezone(UTC) + timedelta(days=1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    return max(1.0, (tomorrow - now).total_seconds())


def _comparable(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _millis(value: object) -> datetime | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    return None


def _iso(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
