"""Every (connector, emulator) pair as the contract suite sees it: how to start the platform,
open a connector on it, inject a fault into its publishing or reading call, and look at what it
stored. A new platform joins the contract suite by adding one `Case` to `CASES`."""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.base import ChannelSettings, Connector, MemorySessionStore
from connectors.registry import connector_class
from connectors.testing.server import Emulator, Fault, StoredPost
from tests.conftest import FakeClock

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
CLOCK = FakeClock(NOW)
"""The time of every emulator and connector of the contract suite (reset to NOW per test)."""


def epoch() -> float:
    return CLOCK().timestamp()


@dataclass
class World:
    """One running platform (an emulator, or the sandbox's outbox) and the connectors opened
    on it during a test."""

    case: Case
    emulator: Emulator | None
    root: Path
    opened: list[Connector] = field(default_factory=list)
    sessions: MemorySessionStore = field(default_factory=MemorySessionStore)

    @property
    def platform(self) -> str:
        return self.case.platform

    def connect(self, **options: Any) -> Connector:
        settings = self.case.settings(self, **{"timeout": 5, **options})
        connector = connector_class(self.case.platform)(
            settings, clock=CLOCK, sessions=self.sessions
        )
        self.opened.append(connector)
        return connector

    def unreachable(self) -> Connector:
        """A connector whose platform refuses connections (nothing listens on its port)."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        settings = self.case.settings(self, timeout=2)
        settings = ChannelSettings(
            name=settings.name,
            platform=settings.platform,
            api_base_url=f"http://127.0.0.1:{port}",
            options=settings.options,
            secrets=settings.secrets,
        )
        connector = connector_class(self.case.platform)(settings, clock=CLOCK)
        self.opened.append(connector)
        return connector

    def inject(self, kind: str, *, on: str = "publish", **options: Any) -> Fault:
        assert self.emulator is not None
        path, method = self.case.calls[on]
        return self.emulator.inject(kind, path=path, method=method, **options)

    def stored(self) -> list[StoredPost]:
        if self.emulator is not None:
            return self.emulator.stored()
        from connectors.sandbox import read_outbox

        return [
            StoredPost(
                id=record["remote_id"],
                text=record["text"],
                alt=tuple(record.get("alt") or [""] * len(record["media"])),
                reply_to=record["reply_to"],
                deleted=bool(record.get("deleted")),
            )
            for record in read_outbox(self.root / "outbox", "contract")
        ]

    def live(self) -> list[StoredPost]:
        return [post for post in self.stored() if not post.deleted]

    def set_metrics(self, remote_id: str, **counters: int) -> None:
        if self.emulator is not None:
            self.emulator.set_metrics(remote_id, **counters)

    def delete(self, remote_id: str) -> None:
        if self.emulator is not None:
            self.emulator.delete_post(remote_id)
        else:
            from connectors.sandbox import mark_deleted

            mark_deleted(self.root / "outbox", "contract", remote_id)

    def secrets(self) -> list[str]:
        """Every secret value in play: the configured ones and the tokens the platform issued."""
        values = list(self.case.settings(self).secrets.values())
        if self.emulator is not None:
            values += [str(t) for t in getattr(self.emulator, "issued_tokens", [])]
        return [v for v in values if v]

    def reset(self) -> None:
        for connector in self.opened:
            connector.close()
        self.opened.clear()
        self.sessions = MemorySessionStore()
        CLOCK.set(NOW)
        if self.emulator is not None:
            self.emulator.settle()
            self.case.reset(self.emulator)
        else:
            self.root = Path(tempfile.mkdtemp(dir=self.root.parent))


Settings = Callable[..., ChannelSettings]


@dataclass(frozen=True)
class Case:
    platform: str
    start: Callable[[], Emulator] | None
    """A new emulator (not started); None for the sandbox."""
    options: Callable[[World], dict[str, Any]]
    secrets: Callable[[World], dict[str, str]]
    calls: Mapping[str, tuple[str, str | None]] = field(default_factory=dict)
    """``publish`` and ``read``: the path pattern and method of the call a fault goes to."""
    threads: bool = True
    media: bool = True
    deletion_visible: bool = True
    reset: Callable[[Emulator], None] = lambda emulator: emulator.reset()
    revoke: Callable[[Emulator], None] = lambda emulator: emulator.expire_token()
    """The configured credentials stop working for good (no renewal can help)."""
    link: str = ""
    """A link every text must carry on this platform (Weibo: one to the app's safe domain)."""
    alt: bool = True
    """The platform takes a description of each image."""
    permalink: bool = True
    """A published post has a web address (the sandbox's outbox page is a file: none)."""
    cover: bool = False
    """Every post needs an image (a WeChat article's cover)."""
    metrics_delay: timedelta = timedelta(0)
    """How long after publication the platform has counters (WeChat's data cube: a day)."""
    unsure_faults: frozenset[str] = frozenset()
    """Faults on a publish that leave it unknown whether the post went out, where the platform
    cannot be asked afterwards (Telegram: a 500 may come after the message was sent)."""

    def settings(self, world: World, **options: Any) -> ChannelSettings:
        return ChannelSettings(
            name="contract",
            platform=self.platform,
            api_base_url=world.emulator.url if world.emulator is not None else None,
            options={**self.options(world), **options},
            secrets=self.secrets(world),
        )

    @contextmanager
    def running(self, root: Path) -> Iterator[World]:
        if self.start is None:
            root.mkdir(parents=True, exist_ok=True)
            yield World(self, None, Path(tempfile.mkdtemp(dir=root)))
            return
        emulator = self.start()
        with emulator:
            yield World(self, emulator, root)


def _x() -> Case:
    from connectors.testing.x import XEmulator

    return Case(
        platform="x",
        start=lambda: XEmulator(clock=epoch),
        options=lambda w: {
            "consumer_key_env": "ELSHI_X_CONSUMER_KEY",
            "consumer_secret_env": "ELSHI_X_CONSUMER_SECRET",
            "access_token_env": "ELSHI_X_ACCESS_TOKEN",
            "access_token_secret_env": "ELSHI_X_ACCESS_TOKEN_SECRET",
        },
        secrets=lambda w: {
            "consumer_key": getattr(w.emulator, "consumer_key", ""),
            "consumer_secret": "consumer-secret-kRt93xQpLm20vB7yHs",
            "access_token": getattr(w.emulator, "access_token", ""),
            "access_token_secret": "access-secret-Zw81nPq3cVb5XeRt7u",
        },
        calls={"publish": (r"/2/tweets$", "POST"), "read": (r"/2/tweets$", "GET")},
    )


def _telegram() -> Case:
    from connectors.testing.telegram import DEFAULT_TOKEN, TelegramEmulator

    return Case(
        platform="telegram",
        start=lambda: TelegramEmulator(clock=epoch),
        options=lambda w: {"chat_id": "@elshi_press", "token_env": "ELSHI_TELEGRAM_TOKEN"},
        secrets=lambda w: {"token": getattr(w.emulator, "token", DEFAULT_TOKEN)},
        calls={"publish": (r"/send", "POST"), "read": (r"/getChatMemberCount$", None)},
        deletion_visible=False,
        alt=False,
        unsure_faults=frozenset({"server_error"}),
        # A new bot per test: the update queue (and the connector's reaction ledger) is per token.
        reset=lambda emulator: emulator.reset(token=_bot_token()),  # type: ignore[call-arg]
    )


def _bot_token() -> str:
    import secrets

    return f"{secrets.randbelow(10**9) + 10**8}:AAH{secrets.token_urlsafe(24)[:32]}"


def _mastodon() -> Case:
    from connectors.testing.mastodon import DEFAULT_TOKEN, MastodonEmulator

    return Case(
        platform="mastodon",
        start=lambda: MastodonEmulator(clock=CLOCK, version="4.5.0"),
        options=lambda w: {"token_env": "ELSHI_MASTODON_TOKEN"},
        secrets=lambda w: {"token": DEFAULT_TOKEN},
        calls={
            "publish": (r"/api/v1/statuses$", "POST"),
            "read": (r"/api/v1/statuses$", "GET"),
        },
    )


def _bluesky() -> Case:
    from connectors.testing.bluesky import BlueskyEmulator

    return Case(
        platform="bluesky",
        start=lambda: BlueskyEmulator(clock=epoch),
        options=lambda w: {
            "handle": getattr(w.emulator, "handle", ""),
            "password_env": "ELSHI_BSKY_PASSWORD",
        },
        secrets=lambda w: {"password": getattr(w.emulator, "password", None) or ""},
        calls={
            "publish": (r"createRecord$", "POST"),
            "read": (r"app\.bsky\.feed\.getPosts$", "GET"),
        },
        # The PDS keeps access tokens good until they expire: revoked, and the token ran out.
        revoke=lambda emulator: (emulator.revoke_app_password(), emulator.expire_token()),  # type: ignore[attr-defined]
    )


def _weibo() -> Case:
    from connectors.testing.weibo import DEFAULT_TOKEN, WeiboEmulator

    return Case(
        platform="weibo",
        start=lambda: WeiboEmulator(clock=epoch),
        options=lambda w: {
            "access_token_env": "ELSHI_WEIBO_TOKEN",
            "safe_domain": "kz-embassy.cn",
            "user_ip": "203.0.113.7",
        },
        secrets=lambda w: {"access_token": DEFAULT_TOKEN},
        calls={
            "publish": (r"/2/statuses/share\.json$", "POST"),
            "read": (r"/2/statuses/count\.json$", "GET"),
        },
        threads=False,
        alt=False,
        link="https://www.kz-embassy.cn/zh/news",
    )


def _threads() -> Case:
    from connectors.testing.threads import DEFAULT_TOKEN, ThreadsEmulator

    return Case(
        platform="threads",
        start=lambda: ThreadsEmulator(clock=epoch),
        options=lambda w: {
            "access_token_env": "ELSHI_THREADS_TOKEN",
            "media_base_url": "https://media.kz-embassy.de/elshi",
        },
        secrets=lambda w: {"access_token": DEFAULT_TOKEN},
        calls={
            "publish": (r"/threads_publish$", "POST"),
            "read": (r"/insights$", "GET"),
        },
    )


def _linkedin() -> Case:
    from connectors.testing.linkedin import LinkedInEmulator

    def secrets(world: World) -> dict[str, str]:
        emulator = world.emulator
        assert isinstance(emulator, LinkedInEmulator) or emulator is None
        if emulator is None:
            return {}
        return {
            "access_token": emulator.access_token,
            "refresh_token": emulator.refresh_token,
            "client_id": emulator.client_id,
            "client_secret": emulator.client_secret,
        }

    return Case(
        platform="linkedin",
        start=lambda: LinkedInEmulator(clock=epoch),
        options=lambda w: {
            "organization": str(getattr(w.emulator, "organization", "")),
            "access_token_env": "ELSHI_LINKEDIN_TOKEN",
            "refresh_token_env": "ELSHI_LINKEDIN_REFRESH",
            "client_id_env": "ELSHI_LINKEDIN_CLIENT_ID",
            "client_secret_env": "ELSHI_LINKEDIN_CLIENT_SECRET",
        },
        secrets=secrets,
        calls={
            "publish": (r"/rest/posts$", "POST"),
            "read": (r"/rest/organizationalEntityShareStatistics$", "GET"),
        },
        threads=False,
        revoke=lambda emulator: emulator.revoke_all(),  # type: ignore[attr-defined]
    )


def _wechat() -> Case:
    from connectors.testing.wechat import WeChatEmulator

    return Case(
        platform="wechat",
        start=lambda: WeChatEmulator(clock=epoch, publish_polls=0),
        options=lambda w: {
            "appid": getattr(w.emulator, "appid", ""),
            "appsecret_env": "ELSHI_WECHAT_SECRET",
        },
        secrets=lambda w: {"appsecret": getattr(w.emulator, "secret", "")},
        calls={
            "publish": (r"/cgi-bin/freepublish/submit$", "POST"),
            "read": (r"/cgi-bin/freepublish/batchget$", "POST"),
        },
        threads=False,
        revoke=lambda emulator: emulator.revoke_secret(),  # type: ignore[attr-defined]
        cover=True,
        metrics_delay=timedelta(days=1),
    )


def _sandbox() -> Case:
    return Case(
        platform="sandbox",
        start=None,
        options=lambda w: {"outbox": str(w.root / "outbox"), "mimic": "mastodon"},
        secrets=lambda w: {},
        permalink=False,
    )


CASES: tuple[Case, ...] = (
    _x(),
    _telegram(),
    _mastodon(),
    _bluesky(),
    _weibo(),
    _threads(),
    _linkedin(),
    _wechat(),
    _sandbox(),
)


def running(case: Case, root: Path) -> AbstractContextManager[World]:
    return case.running(root)
