"""The plain settings the web workspace runs with (built from ``[web]`` in elshi.toml by the CLI,
or directly by tests): nothing here reads a file or the environment."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class WebSettings:
    secret_key: bytes
    """Signs the session cookies; every process serving one office must share it."""
    base_url: str = "http://127.0.0.1:8080"
    session_lifetime: timedelta = timedelta(hours=8)
    """A session ends this long after its last request (and on logout)."""
    timezone: str = "UTC"
    """The office's time zone: the calendar's default until a person picks their own."""
    trusted_header: str | None = None
    """A header naming the signed-in person, set by a single sign-on reverse proxy."""
    trusted_proxies: tuple[Network, ...] = ()
    """Addresses whose ``trusted_header`` and ``X-Forwarded-For`` are believed."""
    channel_platforms: Mapping[str, str] = field(default_factory=dict)
    """Channel name → platform (what an upload is applied with)."""
    text_platforms: Mapping[str, str] = field(default_factory=dict)
    """Channel name → the platform whose text rules it follows (a sandbox channel's mimic)."""
    channel_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Channel name → its options (no secrets): the rules that depend on the account (Weibo's
    safe domain, a Mastodon instance's limits), as ``elshi campaign validate`` applies them."""
    metrics_schedule: tuple[float, ...] = ()
    permalinks: Callable[[str, str], str] | None = None
    """(channel, permalink) → the post's remote id, read by the channel's connector (and a link
    of another platform or instance refused): what resolving "it was published" stores."""
    report_as_of: datetime | None = None
    """The report time the Reports page reads at when none is chosen (the rehearsal's end in a
    demo workspace, as `elshi report` does); None: now."""
    login_failures_per_user: int = 5
    login_failures_per_address: int = 20
    login_window: timedelta = timedelta(minutes=15)
    """After that many failed log-ins within the window, that name (or address) waits out the
    rest of the window; counted in the database, so every web process sees the same count."""

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")

    @staticmethod
    def networks(addresses: tuple[str, ...]) -> tuple[Network, ...]:
        return tuple(ipaddress.ip_network(a, strict=False) for a in addresses)
