"""Webhooks: each message is one JSON POST, signed with HMAC-SHA256.

Configuration (``[notify.NAME]`` with ``kind = "webhook"``): ``url`` (or ``url_env`` when the
address itself is a secret), ``secret_env`` (the environment variable holding the shared
signing secret; required), ``timeout`` (seconds, default 10).

Every request carries:

* ``Elshi-Timestamp``: the Unix time of this attempt, in seconds;
* ``Elshi-Signature``: ``v1=`` and the hex HMAC-SHA256, keyed with the secret, of the timestamp,
  a full stop and the raw body (``f"{timestamp}.".encode() + body``);
* ``Idempotency-Key``: the message's id, the same on every retry of the same message: a
  receiver that has seen it already must answer 2xx and do nothing.

A receiver recomputes the signature over the body exactly as received, compares it in constant
time, and refuses timestamps more than five minutes away from its clock (a replayed request).
`verify` does that; docs/operator-guide.md shows it as a ten-line snippet for any receiver.

Answers: 2xx is accepted; 408, 429 and 5xx are retried soon, not before a ``Retry-After``
(seconds or an HTTP date) asks; 401 and 403 mean the receiver refused the signature or the
secret (a configuration problem); other 4xx mean the receiver refused this message. All of them
are retried: nothing is dropped.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

from notify.base import (
    Message,
    Notifier,
    NotifierConfigError,
    NotifyError,
    RejectedNotifyError,
    TransientNotifyError,
)

SIGNATURE_HEADER = "Elshi-Signature"
TIMESTAMP_HEADER = "Elshi-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``Elshi-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: float = TOLERANCE_SECONDS,
) -> bool:
    """What a receiver checks: the signature over the raw body and a recent timestamp."""
    lower = {k.lower(): v for k, v in headers.items()}
    timestamp = lower.get(TIMESTAMP_HEADER.lower(), "")
    given = lower.get(SIGNATURE_HEADER.lower(), "")
    if not timestamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(given, signature(secret, timestamp, body))


def retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds a receiver's ``Retry-After`` asks us to wait (None: none, or unreadable).

    RFC 9110 allows seconds or an HTTP date; a date is measured against the answer's own
    ``Date`` (the receiver's clock, so its meaning does not depend on ours), else against
    ``now`` (epoch seconds). A date already past is 0. Kept here rather than shared with the
    connectors' rate-limit reading (``connectors._limits``), whose rules (reset headers, a
    default wait) are the platforms', and which notify does not import."""
    value = (headers.get("Retry-After") or "").strip()
    if value.isdigit():
        return float(value)
    moment = _http_date(value)
    if moment is None:
        return None
    served = _http_date(headers.get("Date") or "")
    return max(0.0, moment - (now if served is None else served))


def _http_date(value: str) -> float | None:
    """Epoch seconds of an HTTP date (IMF-fixdate or the obsolete forms), None if not one."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # "-0000" or an obsolete form without a zone: GMT by RFC 9110
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class WebhookNotifier(Notifier):
    kind: ClassVar[str] = "webhook"

    def __init__(
        self,
        name: str,
        *,
        url: str,
        secret: str,
        timeout: float = 10.0,
        url_is_secret: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(name, secrets=[secret, url if url_is_secret else ""])
        if not secret:
            raise NotifierConfigError(
                f"notifier {name!r}: no signing secret; set secret_env in [notify.{name}] and "
                "export that variable"
            )
        self.url = url
        self._secret = secret
        self.timeout = timeout
        self.clock = clock
        self._client: Any = None

    def body(self, message: Message) -> bytes:
        document = {
            "id": message.key,
            "subject": message.subject,
            "text": message.text,
            **message.payload,
        }
        return json.dumps(document, ensure_ascii=False, sort_keys=True).encode("utf-8")

    def send(self, message: Message) -> None:
        import httpx

        body = self.body(message)
        timestamp = str(int(self.clock()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "elshi-webhook/1",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(self._secret, timestamp, body),
            IDEMPOTENCY_HEADER: message.key,
        }
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout, follow_redirects=False)
        try:
            response = self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            error: NotifyError = TransientNotifyError(
                f"notifier {self.name!r}: {type(exc).__name__}: "
                f"{self.safe(str(exc) or 'no answer')[:300]}"
            )
        else:
            if 200 <= response.status_code < 300:
                return
            error = self._refused(response.status_code, response.headers, response.text)
        raise error

    def _refused(self, status: int, headers: Mapping[str, str], text: str) -> NotifyError:
        where = f"notifier {self.name!r}: the receiver answered {status}"
        detail = self.safe(" ".join(text.split()))[:200]
        if detail:
            where += f" ({detail})"
        if status in (408, 425, 429) or status >= 500:
            return TransientNotifyError(where, retry_after=retry_after(headers, self.clock()))
        if status in (401, 403):
            return NotifierConfigError(
                f"{where}; it refused the signature: check that it uses the same secret as the "
                f"variable named by secret_env in [notify.{self.name}]"
            )
        return RejectedNotifyError(where)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
