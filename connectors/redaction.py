"""The one secret-redaction mechanism: every connector and the log set-up use it.

A process-wide `Redactor` holds the secret values known so far (channel secrets read from the
environment, session tokens as connectors obtain them) and replaces each of them in any text by
``[redacted]``, in every form a client library or a log line may print it:

* the value itself, URL-encoded (``quote`` and ``quote_plus``, as query strings and form
  bodies carry it), JSON-escaped (as a JSON body or a ``repr`` of one shows it) and base64
  (standard and URL-safe, with and without padding, as Basic auth headers carry it);
* and, whether registered or not, values that only ever hold secrets by their shape or name:
  a Telegram bot token in a ``/bot<token>/`` URL, a ``Bearer`` credential, and the values of
  query/form parameters and JSON keys named like ``access_token``, ``refresh_token``,
  ``client_secret``, ``secret``, ``password`` or ``appsecret`` — so a token a library obtained
  a moment ago is hidden even before the connector registers it.

`RedactingFilter` applies it to log records (message, arguments, traceback, stack); `install`
puts that filter on the client libraries' loggers, because a logger's own filters see every
record it creates whichever handler (ours, pytest's) will print it. This module imports nothing
of ours and no client library.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

REDACTED = "[redacted]"
MIN_LENGTH = 4
"""Shorter values are not secrets worth hiding (and would mangle ordinary text)."""

_TELEGRAM_URL = re.compile(r"(/bot)\d+:[A-Za-z0-9_-]{20,}")
_BEARER = re.compile(r"(\b(?:Bearer|OAuth2?)\s+)[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)
_SECRET_NAMES = (
    r"access_token|refresh_token|id_token|client_secret|appsecret|app_secret|secret"
    r"|password|passwd|accessJwt|refreshJwt|api_key|apikey|token"
)
# name=value in a query string or form body (URL-encoded or not); value up to & , space or quote.
_PARAM = re.compile(
    r"((?:^|[?&;\s\"'(,])(?:" + _SECRET_NAMES + r")=)([^&\s\"',;)]+)", re.IGNORECASE
)
# "name": "value" in JSON, also JSON inside a repr (\"name\": \"value\").
_JSON_FIELD = re.compile(
    r"((?:\\?[\"'])(?:" + _SECRET_NAMES + r")(?:\\?[\"'])\s*:\s*(?:\\?[\"']))([^\"'\\]+)",
    re.IGNORECASE,
)

CLIENT_LOGGERS: tuple[str, ...] = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "urllib3",
    "urllib3.connectionpool",
    "requests",
    "requests_oauthlib",
    "requests_oauthlib.oauth1_auth",
    "requests_oauthlib.oauth2_session",
    "oauthlib",
    "oauthlib.oauth1.rfc5849",
    "tweepy",
    "tweepy.client",
    "tweepy.api",
    "telegram",
    "telegram.Bot",
    "telegram.ext",
    "telegram.request.BaseRequest",
    "telegram.request.HTTPXRequest",
    "mastodon",
    "atproto",
    "atproto_client",
    "wechatpy",
    "wechatpy.client.base",
    "linkedin_api",
)
"""Loggers of the client libraries Elshi drives that have been seen to log URLs, headers or
bodies (which carry tokens)."""


def forms(secret: str) -> set[str]:
    """``secret`` as a library may print it: raw, URL-encoded, JSON-escaped, base64. A value
    from the environment in another encoding holds lone surrogates (Python's surrogateescape):
    its forms are those of its bytes, never an encoding error at start-up."""
    raw = secret.encode("utf-8", "surrogateescape")
    found = {
        secret,
        quote(secret, safe="", errors="surrogateescape"),
        quote_plus(secret, safe="", errors="surrogateescape"),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        text = encode(raw).decode("ascii")
        found |= {text, text.rstrip("=")}
    return {form for form in found if len(form) >= MIN_LENGTH}


class Redactor:
    """The secrets known to this process; thread-safe. Use the module's `REDACTOR`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._forms: tuple[str, ...] = ()
        self._known: set[str] = set()

    def add(self, secrets: Iterable[str | None]) -> None:
        """Hide these values (and their encoded forms) from now on."""
        new = {s for s in secrets if s and len(s) >= MIN_LENGTH} - self._known
        if not new:
            return
        with self._lock:
            self._known |= new
            every = set(self._forms)
            for secret in new:
                every |= forms(secret)
            # Longest first, so a secret containing another is replaced whole.
            self._forms = tuple(sorted(every, key=len, reverse=True))

    def redact(self, text: str, extra: Iterable[str | None] = ()) -> str:
        """``text`` without any known secret, any of ``extra`` and any secret-shaped value."""
        candidates = list(self._forms)
        for secret in extra:
            if secret and len(secret) >= MIN_LENGTH and secret not in self._known:
                candidates.extend(forms(secret))
        if len(candidates) != len(self._forms):
            candidates.sort(key=len, reverse=True)
        for form in candidates:
            if form in text:
                text = text.replace(form, REDACTED)
        # Each pattern runs only on a text that has what every match of it contains (a
        # substring test costs far less than a search, and most log lines have none of them):
        # the same result. For _BEARER's case-insensitive words: no character other than
        # their letters' upper and lower case matches them (checked over all of Unicode).
        if "/bot" in text:
            text = _TELEGRAM_URL.sub(r"\1" + REDACTED, text)
        lowered = text.lower()
        if "bearer" in lowered or "oauth" in lowered:
            text = _BEARER.sub(r"\1" + REDACTED, text)
        if "=" in text:
            text = _PARAM.sub(lambda m: m.group(1) + _keep(m.group(2)), text)
        if ":" in text and ('"' in text or "'" in text):
            text = _JSON_FIELD.sub(lambda m: m.group(1) + _keep(m.group(2)), text)
        return text


def _keep(value: str) -> str:
    """A parameter's value is hidden unless it is already hidden or plainly not a secret."""
    if value == REDACTED or value.startswith("%5Bredacted") or len(value) < MIN_LENGTH:
        return value
    return REDACTED


REDACTOR = Redactor()


def register(secrets: Iterable[str | None]) -> None:
    """Hide these values everywhere in this process from now on."""
    REDACTOR.add(secrets)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every known secret, every one of ``secrets`` and every secret-shaped
    value replaced by ``[redacted]``."""
    return REDACTOR.redact(text, secrets)


class RedactingFilter(logging.Filter):
    """Rewrites a record's message, traceback and stack without secrets (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FILTER = RedactingFilter()


def install(names: Iterable[str] = CLIENT_LOGGERS) -> RedactingFilter:
    """Put the redacting filter on these loggers (once each); returns the filter."""
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    return _FILTER
