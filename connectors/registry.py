"""Maps a channel's ``platform`` setting to its connector class, importing the platform module
(and so its client library) only when a channel of that platform is used. Adding a platform is
one new module plus one line here."""

from __future__ import annotations

import importlib

from connectors.base import (
    ChannelSettings,
    Clock,
    Connector,
    ConnectorError,
    SessionStore,
    system_clock,
)

PLATFORMS: dict[str, str] = {
    "x": "connectors.x:XConnector",
    "telegram": "connectors.telegram:TelegramConnector",
    "mastodon": "connectors.mastodon:MastodonConnector",
    "bluesky": "connectors.bluesky:BlueskyConnector",
    "weibo": "connectors.weibo:WeiboConnector",
    "threads": "connectors.threads:ThreadsConnector",
    "linkedin": "connectors.linkedin:LinkedInConnector",
    "wechat": "connectors.wechat:WeChatConnector",
    "sandbox": "connectors.sandbox:SandboxConnector",
}


class UnknownPlatformError(ConnectorError, ValueError):
    """A platform no connector is registered for."""


def connector_class(platform: str) -> type[Connector]:
    try:
        target = PLATFORMS[platform]
    except KeyError:
        known = ", ".join(sorted(PLATFORMS))
        raise UnknownPlatformError(f"unknown platform {platform!r} (known: {known})") from None
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    assert isinstance(cls, type) and issubclass(cls, Connector)
    return cls


def open_connector(
    settings: ChannelSettings,
    *,
    clock: Clock = system_clock,
    sessions: SessionStore | None = None,
) -> Connector:
    """A connector for ``settings``, keeping its logins in ``sessions`` (shared by every
    process when the database backs it); the client library is imported here, not at
    start-up."""
    return connector_class(settings.platform)(settings, clock=clock, sessions=sessions)
