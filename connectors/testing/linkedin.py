"""An emulator of LinkedIn's versioned Marketing/Community Management REST API
(``api.linkedin.com/rest``) and OAuth endpoints (``www.linkedin.com/oauth/v2``) for one member
who administers one organization page.

Every ``/rest`` call must carry ``Authorization: Bearer``, ``X-Restli-Protocol-Version: 2.0.0``
and a ``LinkedIn-Version: YYYYMM`` that is active — versions live twelve months (by the
emulator's clock); a missing one is 400 ``VERSION_MISSING``, a retired or future one 426
``NONEXISTENT_VERSION``. Errors are LinkedIn's ``{"status", "serviceErrorCode", "code",
"message"}``.

It serves ``POST /rest/posts`` (201, the post URN in ``x-restli-id``; the organization as
``author``; ``commentary`` in LinkedIn's "little text" format, whose reserved characters
``| { } @ [ ] ( ) < > # \\ * _ ~`` must be escaped — an unescaped one is 422; a single image
``content.media`` or ``content.multiImage`` with ``altText``; the same commentary again within
the hour is 422 "Content is a duplicate of urn"), ``GET /rest/posts?q=author`` (newest first,
``start``/``count`` paging) and ``GET /rest/posts/{urn}``, ``POST /rest/images?action=
initializeUpload`` with ``PUT`` to the returned ``uploadUrl`` and ``GET /rest/images/{urn}``,
``GET /rest/organizationalEntityShareStatistics?q=organizationalEntity`` with Rest.li
``shares=List(...)`` / ``ugcPosts=List(...)``, ``GET /rest/organizations/{id}``,
``GET /rest/networkSizes/{urn}?edgeType=COMPANY_FOLLOWED_BY_MEMBER``, and on the OAuth side
``POST /oauth/v2/accessToken`` (``grant_type=refresh_token``; access tokens live 60 days,
refresh tokens 365 days from their first issue and keep their end date) and
``POST /oauth/v2/introspectToken``. Member-level throttling: 150 posts per day (429
``TOO_MANY_REQUESTS``, no ``Retry-After``, reset at midnight UTC).

Left out: documents, videos, articles, polls, reshares, mentions of other organizations,
lifecycle states other than PUBLISHED, query tunnelling, the authorization-code flow, page
follower statistics over time, comments and reactions as resources.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from connectors.testing.server import Emulator, Fault, Request, Response, StoredPost

ACCESS_LIFETIME = 60 * 86_400
REFRESH_LIFETIME = 365 * 86_400
POSTS_PER_DAY = 150
DUPLICATE_WINDOW = 3600
_RESERVED = set("|{}@[]()<>#\\*_~")
_HASHTAG = re.compile(r"\{hashtag\|\\#\|([^}|]+)\}")


def _error(status: int, code: str, message: str, service: int = 0) -> Response:
    return Response(
        status, {"status": status, "serviceErrorCode": service, "code": code, "message": message}
    )


def little_text(commentary: str) -> str | None:
    """The plain text of ``commentary`` in little text format, None when it has a reserved
    character that is not escaped (outside the ``{hashtag|\\#|...}`` template)."""
    out: list[str] = []
    pos = 0
    while pos < len(commentary):
        template = _HASHTAG.match(commentary, pos)
        if template:
            out.append("#" + template.group(1))
            pos = template.end()
            continue
        char = commentary[pos]
        if char == "\\" and pos + 1 < len(commentary):
            out.append(commentary[pos + 1])
            pos += 2
            continue
        if char in _RESERVED:
            return None
        out.append(char)
        pos += 1
    return "".join(out)


def _month(value: str) -> int | None:
    match = re.fullmatch(r"(\d{4})(\d{2})(?:\.\d{2})?", value)
    if not match or not 1 <= int(match.group(2)) <= 12:
        return None
    return int(match.group(1)) * 12 + int(match.group(2)) - 1


class LinkedInEmulator(Emulator):
    """One member (``member_id``) administering organization ``organization_id``.
    ``clock`` gives epoch seconds (token lives, version windows, throttling)."""

    name = "linkedin"

    def __init__(
        self,
        *,
        organization_id: int = 10_987_654,
        member_id: str = "Ab1Cd2Ef3G",
        client_id: str = "86emulatorclientid",
        client_secret: str = "WPL_AP1.emulator.client.secret",
        followers: int = 8_900,
        clock: Callable[[], float] = time.time,
        latency: float = 0.0,
    ) -> None:
        self.organization_id = organization_id
        self.member_id = member_id
        self.client_id = client_id
        self.client_secret = client_secret
        self._initial = (followers, clock)
        super().__init__(latency=latency)
        self.reset()

    @property
    def organization(self) -> str:
        return f"urn:li:organization:{self.organization_id}"

    def reset(self) -> None:
        with self._lock:
            followers, clock = self._initial
            self.followers = followers
            self.clock = clock
            self.tokens: dict[str, float] = {}
            """Access token -> expiry (epoch seconds)."""
            self.refresh_tokens: dict[str, float] = {}
            self.revoked: set[str] = set()
            self.refreshes = 0
            self.posts: list[dict[str, Any]] = []
            self.images: dict[str, dict[str, Any]] = {}
            self._next = 7_200_000_000_000_000_000 + secrets.randbelow(10**12)
            self.access_token, self.refresh_token = self.issue()
            self.requests.clear()
            self.clear_faults()

    def issue(self, *, access_lifetime: float = ACCESS_LIFETIME) -> tuple[str, str]:
        """A new access token and refresh token (as the authorization flow would give)."""
        with self._lock:
            access = "AQV" + secrets.token_urlsafe(40)
            refresh = "AQX" + secrets.token_urlsafe(40)
            self.tokens[access] = self.clock() + access_lifetime
            self.refresh_tokens[refresh] = self.clock() + REFRESH_LIFETIME
            return access, refresh

    # --- controls ---------------------------------------------------------------------------

    def expire_token(self) -> None:
        """Every access token expires now (refresh tokens still work)."""
        with self._lock:
            self.tokens = dict.fromkeys(self.tokens, self.clock() - 1)

    def revoke_all(self) -> None:
        """The member revoked the app: no token, access or refresh, works any more."""
        with self._lock:
            self.revoked |= set(self.tokens) | set(self.refresh_tokens)

    def set_metrics(self, post_id: str, **counters: int) -> None:
        names = {
            "impressions": "impressionCount",
            "likes": "likeCount",
            "replies": "commentCount",
            "reposts": "shareCount",
            "link_clicks": "clickCount",
        }
        with self._lock:
            post = self._post(post_id)
            for ours, value in counters.items():
                if ours in names:
                    post["stats"][names[ours]] = value

    def delete_post(self, post_id: str) -> None:
        with self._lock:
            self._post(post_id)["deleted"] = True

    def add_post(self, text: str, *, age: float = 0.0) -> str:
        with self._lock:
            return str(self._store(text, [], self.clock() - age)["urn"])

    def stored(self) -> list[StoredPost]:
        with self._lock:
            return [
                StoredPost(
                    id=post["urn"],
                    text=post["text"],
                    alt=tuple(str(image.get("altText", "")) for image in post["images"]),
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
        self.route("POST", r"/oauth/v2/accessToken", self._access_token)
        self.route("POST", r"/oauth/v2/introspectToken", self._introspect)
        self.route(
            "PUT", r"/upload/(?P<image>[A-Za-z0-9_-]+)", self._guard(self._upload, rest=False)
        )
        rest = [
            ("POST", r"/rest/posts", self._create_post),
            ("GET", r"/rest/posts", self._find_posts),
            ("GET", r"/rest/posts/(?P<urn>[^/]+)", self._get_post),
            ("POST", r"/rest/images", self._initialize_upload),
            ("GET", r"/rest/images/(?P<urn>[^/]+)", self._get_image),
            ("GET", r"/rest/organizationalEntityShareStatistics", self._statistics),
            ("GET", r"/rest/organizations/(?P<id>\d+)", self._organization),
            ("GET", r"/rest/networkSizes/(?P<urn>[^/]+)", self._network_size),
        ]
        for method, pattern, handler in rest:
            self.route(method, pattern, self._guard(handler))

    def error_response(self, fault: Fault, request: Request) -> Response:
        if fault.kind == "rate_limit":
            return _error(
                429,
                "TOO_MANY_REQUESTS",
                "Resource level throttle MEMBER DAY limit for calls to this resource is reached.",
                101,
            )
        if fault.kind == "auth":
            return _error(
                401, "EXPIRED_ACCESS_TOKEN", "The token used in the request has expired", 65601
            )
        if fault.kind == "server_error":
            return _error(500, "INTERNAL_SERVER_ERROR", "Internal Server Error")
        if fault.kind == "unavailable":
            return _error(503, "SERVICE_UNAVAILABLE", "Service Unavailable")
        return _error(
            422,
            "UNPROCESSABLE_ENTITY",
            fault.message or "/commentary :: length exceeds 3000 characters",
        )

    def _guard(
        self, handler: Callable[[Request], Response], *, rest: bool = True
    ) -> Callable[[Request], Response]:
        def guarded(request: Request) -> Response:
            with self._lock:
                token = request.headers.get("Authorization", "").removeprefix("Bearer ")
                if token not in self.tokens:
                    return _error(401, "INVALID_ACCESS_TOKEN", "Invalid access token", 65600)
                if token in self.revoked:
                    return _error(
                        401,
                        "REVOKED_ACCESS_TOKEN",
                        "The token used in the request has been revoked by the user",
                        65601,
                    )
                if self.clock() >= self.tokens[token]:
                    return _error(
                        401,
                        "EXPIRED_ACCESS_TOKEN",
                        "The token used in the request has expired",
                        65601,
                    )
                if rest:
                    problem = self._version_problem(request)
                    if problem is not None:
                        return problem
                return handler(request)

        return guarded

    def _version_problem(self, request: Request) -> Response | None:
        version = request.headers.get("LinkedIn-Version")
        if not version:
            return _error(
                400,
                "VERSION_MISSING",
                "A version must be present. Please specify a version by adding the LinkedIn-Version header.",
            )
        asked = _month(version)
        now = datetime.fromtimestamp(self.clock(), UTC)
        current = now.year * 12 + now.month - 1
        if asked is None or not current - 12 < asked <= current:
            return _error(426, "NONEXISTENT_VERSION", f"Requested version {version} is not active")
        if request.headers.get("X-Restli-Protocol-Version") != "2.0.0":
            return _error(400, "ILLEGAL_ARGUMENT", "X-Restli-Protocol-Version 2.0.0 is required")
        return None

    # --- OAuth ------------------------------------------------------------------------------

    def _access_token(self, request: Request) -> Response:
        form = request.form()
        with self._lock:
            if (
                form.get("client_id") != self.client_id
                or form.get("client_secret") != self.client_secret
            ):
                return Response(
                    401,
                    {
                        "error": "invalid_client",
                        "error_description": "Client authentication failed",
                    },
                )
            if form.get("grant_type") != "refresh_token":
                return Response(
                    400,
                    {
                        "error": "unsupported_grant_type",
                        "error_description": "grant_type must be refresh_token here",
                    },
                )
            refresh = form.get("refresh_token", "")
            end = self.refresh_tokens.get(refresh)
            if end is None or refresh in self.revoked or self.clock() >= end:
                return Response(
                    400,
                    {
                        "error": "invalid_grant",
                        "error_description": "The provided authorization grant or refresh token is invalid, expired or revoked",
                    },
                )
            access = "AQV" + secrets.token_urlsafe(40)
            self.tokens[access] = self.clock() + ACCESS_LIFETIME
            self.refreshes += 1
            return Response(
                200,
                {
                    "access_token": access,
                    "expires_in": ACCESS_LIFETIME,
                    "refresh_token": refresh,
                    "refresh_token_expires_in": int(end - self.clock()),
                    "scope": "r_organization_social,w_organization_social,rw_organization_admin",
                },
            )

    def _introspect(self, request: Request) -> Response:
        form = request.form()
        with self._lock:
            if (
                form.get("client_id") != self.client_id
                or form.get("client_secret") != self.client_secret
            ):
                return Response(
                    401,
                    {
                        "error": "invalid_client",
                        "error_description": "Client authentication failed",
                    },
                )
            token = form.get("token", "")
            expires = self.tokens.get(token)
            if expires is None or token in self.revoked:
                return Response(
                    200,
                    {"active": False, "status": "revoked" if token in self.revoked else "invalid"},
                )
            active = self.clock() < expires
            return Response(
                200,
                {
                    "active": active,
                    "client_id": self.client_id,
                    "authorized_at": int(self.clock()) - 86_400,
                    "created_at": int(self.clock()) - 86_400,
                    "status": "active" if active else "expired",
                    "expires_at": int(expires),
                    "scope": "r_organization_social,w_organization_social,rw_organization_admin",
                    "auth_type": "3L",
                },
            )

    # --- posts ------------------------------------------------------------------------------

    def _create_post(self, request: Request) -> Response:
        try:
            body = request.json()
        except ValueError:
            return _error(400, "ILLEGAL_ARGUMENT", "Malformed JSON")
        if not isinstance(body, dict):
            return _error(400, "ILLEGAL_ARGUMENT", "Malformed JSON")
        if body.get("author") != self.organization:
            return _error(
                403,
                "ACCESS_DENIED",
                "Not enough permissions to access: partnerApiPostsExternal.CREATE",
                100,
            )
        missing = [k for k in ("visibility", "distribution", "lifecycleState") if k not in body]
        if missing:
            return _error(
                422,
                "UNPROCESSABLE_ENTITY",
                f"/{missing[0]} :: field is required but not found and has no default value",
            )
        commentary = body.get("commentary", "")
        if not isinstance(commentary, str) or len(commentary) > 3000:
            return _error(
                422, "UNPROCESSABLE_ENTITY", "/commentary :: length exceeds 3000 characters"
            )
        text = little_text(commentary)
        if text is None:
            return _error(
                422,
                "UNPROCESSABLE_ENTITY",
                "/commentary :: is not valid little text (reserved characters must be escaped)",
            )
        images = self._content_images(body.get("content"))
        if isinstance(images, Response):
            return images
        now = self.clock()
        for post in self.posts:
            if (
                not post["deleted"]
                and post["text"] == text
                and now - post["created"] < DUPLICATE_WINDOW
            ):
                return _error(422, "DUPLICATE_POST", f"Content is a duplicate of {post['urn']}")
        today = now - now % 86_400
        if sum(1 for p in self.posts if p["created"] >= today) >= POSTS_PER_DAY:
            return _error(
                429,
                "TOO_MANY_REQUESTS",
                "Resource level throttle MEMBER DAY limit for calls to this resource is reached.",
                101,
            )
        post = self._store(text, images, now)
        return Response(
            201, None, headers={"x-restli-id": post["urn"], "x-linkedin-id": post["urn"]}
        )

    def _content_images(self, content: object) -> list[dict[str, Any]] | Response:
        if content is None:
            return []
        if not isinstance(content, dict):
            return _error(422, "UNPROCESSABLE_ENTITY", "/content :: not a record")
        if "media" in content:
            items = [content["media"]]
        elif "multiImage" in content:
            items = list((content["multiImage"] or {}).get("images") or [])
            if not 2 <= len(items) <= 20:
                return _error(
                    422,
                    "UNPROCESSABLE_ENTITY",
                    "/content/multiImage/images :: must have 2 to 20 images",
                )
        else:
            return _error(422, "UNPROCESSABLE_ENTITY", "/content :: unsupported content type")
        for item in items:
            image = self.images.get(str((item or {}).get("id")))
            if image is None or not image["uploaded"]:
                return _error(
                    422,
                    "UNPROCESSABLE_ENTITY",
                    f"/content :: image {item.get('id') if item else None} is not available",
                )
            if len(str(item.get("altText", ""))) > 4086:
                return _error(
                    422,
                    "UNPROCESSABLE_ENTITY",
                    "/content/altText :: length exceeds 4086 characters",
                )
        return [dict(item) for item in items]

    def _store(self, text: str, images: list[dict[str, Any]], created: float) -> dict[str, Any]:
        self._next += 1 + secrets.randbelow(10**6)
        post = {
            "urn": f"urn:li:share:{self._next}",
            "text": text,
            "images": images,
            "created": created,
            "deleted": False,
            "stats": dict.fromkeys(
                (
                    "impressionCount",
                    "uniqueImpressionsCount",
                    "clickCount",
                    "likeCount",
                    "commentCount",
                    "shareCount",
                ),
                0,
            ),
        }
        self.posts.append(post)
        return post

    def _post(self, urn: str) -> dict[str, Any]:
        for post in self.posts:
            if post["urn"] == urn:
                return post
        raise KeyError(urn)

    def _post_json(self, post: dict[str, Any]) -> dict[str, Any]:
        commentary = "".join("\\" + c if c in _RESERVED else c for c in post["text"])
        return {
            "id": post["urn"],
            "author": self.organization,
            "commentary": commentary,
            "visibility": "PUBLIC",
            "lifecycleState": "PUBLISHED",
            "createdAt": int(post["created"] * 1000),
            "publishedAt": int(post["created"] * 1000),
            "lastModifiedAt": int(post["created"] * 1000),
        }

    def _find_posts(self, request: Request) -> Response:
        if request.arg("q") != "author" or request.arg("author") != self.organization:
            return _error(
                400, "ILLEGAL_ARGUMENT", "finder author requires author=the organization URN"
            )
        start = int(request.arg("start") or 0)
        count = min(100, int(request.arg("count") or 10))
        live = [p for p in reversed(self.posts) if not p["deleted"]]
        page = live[start : start + count]
        return Response(
            200,
            {
                "elements": [self._post_json(p) for p in page],
                "paging": {"start": start, "count": count, "total": len(live)},
            },
        )

    def _get_post(self, request: Request) -> Response:
        urn = unquote(request.params["urn"])
        try:
            post = self._post(urn)
        except KeyError:
            post = None
        if post is None or post["deleted"]:
            return _error(404, "NOT_FOUND", f"Post {urn} does not exist")
        return Response(200, self._post_json(post))

    # --- images -----------------------------------------------------------------------------

    def _initialize_upload(self, request: Request) -> Response:
        if request.arg("action") != "initializeUpload":
            return _error(400, "ILLEGAL_ARGUMENT", "unsupported action")
        body = request.json() or {}
        owner = (
            ((body.get("initializeUploadRequest") or {}).get("owner"))
            if isinstance(body, dict)
            else None
        )
        if owner != self.organization:
            return _error(
                403, "ACCESS_DENIED", "Not enough permissions to upload images for this owner", 100
            )
        key = "C4E10AQ" + secrets.token_urlsafe(10).replace("-", "a").replace("_", "b")
        urn = f"urn:li:image:{key}"
        self.images[urn] = {"uploaded": False, "size": 0}
        return Response(
            200,
            {
                "value": {
                    "uploadUrlExpiresAt": int((self.clock() + 86_400) * 1000),
                    "uploadUrl": f"{self.url}/upload/{key}",
                    "image": urn,
                }
            },
        )

    def _upload(self, request: Request) -> Response:
        urn = f"urn:li:image:{request.params['image']}"
        image = self.images.get(urn)
        if image is None:
            return _error(404, "NOT_FOUND", "upload URL not found")
        if not request.body:
            return _error(400, "ILLEGAL_ARGUMENT", "empty upload")
        image.update(uploaded=True, size=len(request.body))
        return Response(201, None)

    def _get_image(self, request: Request) -> Response:
        urn = unquote(request.params["urn"])
        image = self.images.get(urn)
        if image is None:
            return _error(404, "NOT_FOUND", f"Image {urn} does not exist")
        return Response(
            200,
            {
                "id": urn,
                "status": "AVAILABLE" if image["uploaded"] else "WAITING_UPLOAD",
                "owner": self.organization,
            },
        )

    # --- statistics and the page ------------------------------------------------------------

    def _statistics(self, request: Request) -> Response:
        if (
            request.arg("q") != "organizationalEntity"
            or request.arg("organizationalEntity") != self.organization
        ):
            return _error(
                400,
                "ILLEGAL_ARGUMENT",
                "q=organizationalEntity with the organization URN is required",
            )
        wanted: list[str] = []
        for name in ("shares", "ugcPosts"):
            raw = request.arg(name)
            if raw:
                match = re.fullmatch(r"List\((.*)\)", raw)
                if match is None:
                    return _error(400, "ILLEGAL_ARGUMENT", f"{name} must be a Rest.li List(...)")
                wanted += [unquote(u) for u in match.group(1).split(",") if u]
        if len(wanted) > 100:
            return _error(400, "ILLEGAL_ARGUMENT", "at most 100 shares per request")
        elements = [
            {
                "organizationalEntity": self.organization,
                "share": post["urn"],
                "totalShareStatistics": {**post["stats"], "engagement": 0.0},
            }
            for post in self.posts
            if post["urn"] in wanted and not post["deleted"]
        ]
        return Response(200, {"elements": elements, "paging": {"start": 0, "count": len(elements)}})

    def _organization(self, request: Request) -> Response:
        if int(request.params["id"]) != self.organization_id:
            return _error(
                403, "ACCESS_DENIED", "Not enough permissions to access this organization", 100
            )
        return Response(
            200,
            {
                "id": self.organization_id,
                "localizedName": "Botschaft der Republik Kasachstan",
                "vanityName": "kazakhstan-embassy-germany",
            },
        )

    def _network_size(self, request: Request) -> Response:
        if (
            unquote(request.params["urn"]) != self.organization
            or request.arg("edgeType") != "COMPANY_FOLLOWED_BY_MEMBER"
        ):
            return _error(
                400,
                "ILLEGAL_ARGUMENT",
                "edgeType=COMPANY_FOLLOWED_BY_MEMBER of the organization is required",
            )
        return Response(200, {"firstDegreeSize": self.followers})
