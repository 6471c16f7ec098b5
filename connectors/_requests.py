"""What the connectors built on ``requests``-based client libraries share (tweepy, wechatpy,
linkedin-api-client, Mastodon.py): an adapter that sends a library's requests for its hard-coded
hosts to the channel's ``api_base_url`` (after they were signed) with the channel's timeout, a
session that reads the environment once instead of at every request, and the one test of
whether a failed request certainly never reached the platform."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies


class Rebase(HTTPAdapter):
    """Mounted on a library's hard-coded host prefixes: sends each request to ``base_url``
    (when set) instead, and gives it ``timeout`` when the library set none."""

    def __init__(self, base_url: str | None, timeout: float) -> None:
        super().__init__()
        self._base = urlsplit(base_url.rstrip("/")) if base_url else None
        self._timeout = timeout

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        if self._base is not None and request.url:
            url = urlsplit(request.url)
            request.url = urlunsplit(
                (self._base.scheme, self._base.netloc, self._base.path + url.path, url.query, "")
            )
            # Proxies were chosen for the platform's host; the new address may be local.
            proxies = get_environ_proxies(request.url)
        return super().send(
            request,
            stream=stream,
            timeout=self._timeout if timeout is None else timeout,
            verify=verify,
            cert=cert,
            proxies=proxies,
        )


def settled_session(base_url: str) -> requests.Session:
    """A session for one platform address that read the environment once, here: the proxy for
    ``base_url`` (``HTTPS_PROXY``/``NO_PROXY``...) and the CA bundle (``REQUESTS_CA_BUNDLE``,
    ``CURL_CA_BUNDLE``). With ``trust_env`` requests reads both again for every request (and
    stats the bundle), which a busy daemon pays at each post. ``~/.netrc`` is not read (the
    client libraries send their own credentials). Restart the daemon after changing these
    variables."""
    session = requests.Session()
    session.trust_env = False
    session.proxies.update(get_environ_proxies(base_url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle and base_url.lower().startswith("https:"):
        session.verify = bundle
    return session


def never_sent(exc: requests.RequestException) -> bool:
    """True when the request certainly did not reach the platform (no connection was made)."""
    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.SSLError):
        return True
    if isinstance(exc, requests.exceptions.ProxyError | requests.exceptions.InvalidURL):
        return True
    reason: object = exc.args[0] if exc.args else None
    if isinstance(reason, urllib3.exceptions.MaxRetryError):
        reason = reason.reason
    return isinstance(reason, urllib3.exceptions.NewConnectionError)
