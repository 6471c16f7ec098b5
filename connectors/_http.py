"""The transport shared by the thin platform clients (Weibo, Threads): one `httpx.Client` per
connector, and the one place that says what a failed exchange means for exactly-once — a
connection that was never opened is transient; a lost answer after a request that creates
something is ambiguous. Platform modules map the answers (status, error body) themselves."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

from connectors.base import AmbiguousError, ConnectorError, TransientError

_NEVER_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
)
"""httpx failures that leave no doubt the request never reached the server."""


class HttpTransport:
    """Requests to one platform's API at ``base_url``; failures become taxonomy errors whose
    messages went through ``safe`` (the connector's redaction)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        channel: str,
        platform: str,
        safe: Callable[[str], str],
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.channel = channel
        self.platform = platform
        self._safe = safe
        self._client = httpx.Client(
            timeout=timeout,
            headers={"User-Agent": "Elshi", **(headers or {})},
            follow_redirects=False,
        )

    def request(
        self, method: str, path: str, *, action: str, creating: bool = False, **kwargs: Any
    ) -> httpx.Response:
        """The answer to ``method path`` (any status). ``creating``: the request creates a
        post, so losing its answer after sending leaves the post's fate unknown."""
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        try:
            return self._client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise self.transport_error(exc, action, creating=creating) from None

    def transport_error(
        self, exc: httpx.HTTPError, action: str, *, creating: bool
    ) -> ConnectorError:
        where = f"channel {self.channel!r}: {self.platform}, {action}"
        detail = self._safe(f"{type(exc).__name__}: {exc}")
        if creating and not isinstance(exc, _NEVER_SENT):
            return AmbiguousError(
                f"{where}: the connection failed after the request was sent ({detail}); the "
                "post may exist: reconcile before sending again",
                channel=self.channel,
            )
        return TransientError(f"{where}: network error ({detail})", channel=self.channel)

    def close(self) -> None:
        self._client.close()


def json_body(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of an answer, {} when it is not one."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
