"""How long a platform asked us to wait, read from the headers of its answer: the one reading of
rate-limit headers the connectors share, so every platform's format (and a proxy's in front of
it) means the same wait.

The headers differ by platform and by the software in front of it:

* ``Retry-After`` (RFC 9110): seconds, or an HTTP date (``Wed, 30 Nov 2026 17:05:00 GMT``);
  the reference Bluesky PDS sends it on its own 429s and forwards its AppView's; proxies and
  CDNs send it.
* a reset header of the limit that was hit, in one of three formats:
  epoch seconds (X's ``x-rate-limit-reset``, Bluesky's ``ratelimit-reset``, GoToSocial's
  ``X-RateLimit-Reset``), an ISO 8601 instant (Mastodon's ``X-RateLimit-Reset``, e.g.
  ``2026-11-30T17:05:00.000000Z``), or seconds from now (the IETF draft's ``RateLimit-Reset``).
  A number below 10^9 (2001-09-09 as an epoch) is taken as seconds from now, one of 10^11 or
  more (the year 5138 in seconds) as epoch milliseconds (JavaScript's ``Date.getTime()``).

Clock skew: an absolute reset is the server's instant. It is measured against the answer's own
``Date`` header when there is one (the wait the server meant, whatever our clock says), else
against the connector's clock. A server clock five minutes ahead of ours would otherwise block
the channel five minutes too long; one behind would give a wait of 0.

A reset header whose ``remaining`` companion says requests are left names a limit that was
not the one hit (a PDS's own headers on an AppView's 429 it forwarded): it is ignored.
When several hints remain, the longest wait wins. A 429 always waits: at least `MIN_WAIT`
seconds, and `DEFAULT_WAIT` when the answer gave no usable hint at all.

A server error (502, 503, 504) that carries ``Retry-After`` (a server in maintenance, a proxy
shedding load) is read by the same function with ``default=None`` and no reset headers (those
describe a rate-limit window, not the outage): the wait it names, or None when it names none,
so a plain 5xx is retried as before.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import overload

DEFAULT_WAIT = 60.0
"""Seconds to wait after a rate limit whose answer said nothing usable about when it ends."""
MIN_WAIT = 1.0
"""The shortest wait after a rate limit (a reset already past on the server's clock: the
window just rolled over)."""
_EPOCH_FLOOR = 1e9
"""Reset values at least this large are epoch seconds; smaller ones are seconds from now."""
_MILLIS_FLOOR = 1e11
"""Reset values at least this large are epoch milliseconds."""


@overload
def wait_seconds(
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    now: datetime,
    *,
    resets: Iterable[tuple[str, str | None]] = (),
    default: float = DEFAULT_WAIT,
) -> float: ...
@overload
def wait_seconds(
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    now: datetime,
    *,
    resets: Iterable[tuple[str, str | None]] = (),
    default: None,
) -> float | None: ...
def wait_seconds(
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    now: datetime,
    *,
    resets: Iterable[tuple[str, str | None]] = (),
    default: float | None = DEFAULT_WAIT,
) -> float | None:
    """Seconds to wait before calling again, from a 429's ``headers`` (any letter case).

    ``resets``: the platform's reset headers, each with the name of its ``remaining`` header
    (None: none), e.g. ``[("x-rate-limit-reset", "x-rate-limit-remaining")]``; ``Retry-After``
    is always read. ``now`` is the connector's clock, used only when the answer has no ``Date``.
    ``default``: the wait when no header gives one (None for a server error: no wait).
    """
    found = _lowered(headers)
    server_now = _http_date(found.get("date")) or now
    waits: list[float] = []
    retry = found.get("retry-after")
    if retry is not None:
        waits.extend(_wait(retry, server_now, relative_below=math.inf))
    for reset_name, remaining_name in resets:
        value = found.get(reset_name.lower())
        if value is None:
            continue
        if remaining_name is not None and _positive(found.get(remaining_name.lower())):
            continue
        waits.extend(_wait(value, server_now, relative_below=_EPOCH_FLOOR))
    if not waits:
        return default
    return max(MIN_WAIT, max(waits))


def _lowered(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {str(key).lower(): str(value).strip() for key, value in items}


def _positive(value: str | None) -> bool:
    try:
        return value is not None and float(value) > 0
    except ValueError:
        return False


def _wait(value: str, server_now: datetime, *, relative_below: float) -> list[float]:
    """The wait ``value`` gives ([] when it cannot be read): a number below ``relative_below``
    is seconds from now, a larger one epoch seconds; else an ISO 8601 instant or HTTP date."""
    try:
        number = float(value)
    except ValueError:
        moment = _iso(value) or _http_date(value)
        return [] if moment is None else [(moment - server_now).total_seconds()]
    if not math.isfinite(number):
        return []
    if number < relative_below:
        return [number]
    if number >= _MILLIS_FLOOR:
        number /= 1000
    return [number - server_now.timestamp()]


def _iso(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
