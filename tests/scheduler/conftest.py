"""A rig for scheduler tests: a real database (SQLite and PostgreSQL), platform emulators on
127.0.0.1 with the real client libraries, a campaign applied from YAML, and a dispatcher on a
fake clock (no sleeping: `run` advances nothing by itself)."""

from __future__ import annotations

import json
import random
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import FakeClock

MASTODON_TOKEN_ENV = "ELSHI_TEST_MASTODON_TOKEN"
TELEGRAM_TOKEN_ENV = "ELSHI_TEST_TELEGRAM_TOKEN"
X_ENVS = {
    "consumer_key_env": "ELSHI_TEST_X_CK",
    "consumer_secret_env": "ELSHI_TEST_X_CS",
    "access_token_env": "ELSHI_TEST_X_AT",
    "access_token_secret_env": "ELSHI_TEST_X_ATS",
}

CAMPAIGN = """\
campaign:
  id: de-test
  title: Test campaign
  country: DE
  narrative: gateway-to-eurasia
  starts: 2027-01-01
  ends: 2027-12-31
  timezone: Europe/Berlin
  approval: false
  grace: 15m
audiences:
  - id: public
    name: Allgemeine Öffentlichkeit
    group: general_public
    languages: [de]
    channels: [{channels}]
posts:
{posts}
"""


def post_yaml(key: str, when: str, text: str, **extra: str) -> str:
    """One post of the test campaign (``when`` local Berlin time, e.g. ``2027-03-01 10:00``)."""
    lines = [
        f"  - id: {key}",
        "    category: cultural_event",
        "    audiences: [public]",
        f'    when: "{when}"',
        f"    text: {json.dumps(text, ensure_ascii=False)}",
    ]
    lines += [f"    {k}: {v}" for k, v in extra.items()]
    return "\n".join(lines)


@dataclass
class Rig:
    root: Path
    db_url: str
    clock: FakeClock
    channels: dict[str, dict[str, Any]]
    settings_overrides: dict[str, Any] = field(default_factory=dict)
    _dispatcher: Any = None
    _daemons: list[Any] = field(default_factory=list)

    def write_config(self) -> Path:
        lines = [
            "[database]",
            f'url = "{self.db_url}"',
            "",
            "[daemon]",
            'lease = "5m"',
            "max_attempts = 4",
            'backoff = "30s"',
            'backoff_max = "10m"',
            "",
        ]
        for name, table in self.channels.items():
            lines.append(f"[channels.{name}]")
            for key, value in table.items():
                lines.append(f"{key} = {value!r}".replace("'", '"'))
            lines.append("")
        path = self.root / "elshi.toml"
        path.write_text("\n".join(lines), encoding="utf-8")
        return path

    @property
    def config(self) -> Any:
        from elshi.config import load_config

        return load_config(self.write_config())

    @property
    def sessions(self) -> Any:
        from campaigns.store import make_engine, session_factory, upgrade

        if not hasattr(self, "_sessions"):
            engine = make_engine(self.db_url)
            upgrade(engine)
            self._engine = engine
            self._sessions = session_factory(engine)
        return self._sessions

    def apply(
        self, posts: list[str], *, channels: list[str] | None = None, extra: str = ""
    ) -> None:
        from campaigns.planning import apply_campaign
        from campaigns.validation import load_campaign

        text = (
            CAMPAIGN.format(
                channels=", ".join(channels or list(self.channels)), posts="\n".join(posts)
            )
            + extra
        )
        path = self.root / "campaign.yaml"
        path.write_text(text, encoding="utf-8")
        loaded = load_campaign(path, channels=self.config.channel_platforms)
        assert loaded.desired is not None, [str(p) for p in loaded.problems]
        with self.sessions() as session:
            apply_campaign(
                session,
                loaded.desired,
                platforms=self.config.channel_platforms,
                actor="user:test",
                now=self.clock(),
            )
            session.commit()

    def dispatcher(self, **overrides: Any) -> Any:
        from elshi.runtime import build_dispatcher, settings_from

        if self._dispatcher is None or overrides:
            if self._dispatcher is not None:
                self._dispatcher.close()
            config = self.config
            base = settings_from(
                config, worker_id=overrides.pop("worker_id", "test-worker"), seed=7
            )
            from dataclasses import replace

            settings = replace(base, **{**self.settings_overrides, **overrides})
            self._dispatcher = build_dispatcher(
                config, self.sessions, self.clock, real_time=False, settings=settings
            )
        return self._dispatcher

    def daemon(self, worker_id: str, **overrides: Any) -> Any:
        """Another daemon on the same database (its own id, pool and writer), beside the one
        `dispatcher` gives; closed with the rig."""
        from dataclasses import replace

        from elshi.runtime import build_dispatcher, settings_from

        config = self.config
        settings = replace(
            settings_from(config, worker_id=worker_id, seed=7),
            **{**self.settings_overrides, **overrides},
        )
        daemon = build_dispatcher(
            config, self.sessions, self.clock, real_time=False, settings=settings
        )
        self._daemons.append(daemon)
        return daemon

    def run(self, *, collect: bool = False) -> Any:
        stats, _ = self.dispatcher().run_once(collect=collect)
        return stats

    def run_until(self, moment: datetime) -> None:
        """Step the clock from wake-up to wake-up (as the demo does) up to ``moment``."""
        for _ in range(10_000):
            self.run()
            nxt = self.dispatcher().next_wakeup()
            if nxt is None or nxt > moment:
                break
            self.clock.set(max(nxt, self.clock() + timedelta(milliseconds=100)))
        self.clock.set(max(self.clock(), moment))
        self.run()

    def deliveries(self) -> list[Any]:
        from campaigns.schema import Delivery

        with self.sessions() as session:
            return list(session.scalars(select(Delivery).order_by(Delivery.id)))

    def delivery(self, delivery_id: int = 1) -> Any:
        from campaigns.schema import Delivery

        with self.sessions() as session:
            return session.get(Delivery, delivery_id)

    def states(self) -> list[str]:
        return [d.state for d in self.deliveries()]

    def audit(self, delivery_id: int) -> list[tuple[str | None, str | None, str | None]]:
        from campaigns.schema import AuditEntry

        with self.sessions() as session:
            return [
                (a.from_state, a.to_state, a.reason)
                for a in session.scalars(
                    select(AuditEntry)
                    .where(
                        AuditEntry.entity == "delivery", AuditEntry.entity_id == str(delivery_id)
                    )
                    .order_by(AuditEntry.id)
                )
            ]

    def close(self) -> None:
        for daemon in self._daemons:
            daemon.close()
        if self._dispatcher is not None:
            self._dispatcher.close()
        if hasattr(self, "_engine"):
            self._engine.dispose()


def send_now(rig: Any, sender: Any, claim: Any, *, turn: Any = None) -> Any:
    """Send ``claim`` as ``sender`` (a daemon or dispatcher of the rig: its connector pool and
    settings) without waiting for its slot, and wait for its recorded outcome: the
    `scheduler.dispatch.send_claim` a lane would make, one at a time. ``turn``: its place among
    the channel's sends (`scheduler.dispatch.Turn`), None for none."""
    from scheduler.dispatch import send_claim

    return send_claim(
        rig.sessions,
        sender.pool,
        claim,
        sender.settings,
        rig.clock,
        wait_until=lambda _: True,
        stopping=threading.Event(),
        rng=random.Random(1),
        turn=turn,
    ).result()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    """The rig's clock, shared with the emulators (so platform timestamps agree)."""
    return FakeClock(at("2027-03-01T08:00:00"))


@pytest.fixture
def mastodon(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> Iterator[Any]:
    from connectors.testing.mastodon import DEFAULT_TOKEN, MastodonEmulator

    monkeypatch.setenv(MASTODON_TOKEN_ENV, DEFAULT_TOKEN)
    with MastodonEmulator(clock=clock) as emulator:
        yield emulator


@pytest.fixture
def rig_factory(db_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Any]:
    rigs: list[Rig] = []

    def make(channels: dict[str, dict[str, Any]], **overrides: Any) -> Rig:
        rig = Rig(tmp_path, db_url, clock, channels, overrides)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.close()


def mastodon_channel(emulator: Any, **extra: Any) -> dict[str, Any]:
    return {
        "platform": "mastodon",
        "api_base_url": emulator.url,
        "token_env": MASTODON_TOKEN_ENV,
        "timeout": 2,
        "rate": "60/m",
        **extra,
    }


@pytest.fixture
def telegram(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from connectors.testing.telegram import DEFAULT_TOKEN, TelegramEmulator

    monkeypatch.setenv(TELEGRAM_TOKEN_ENV, DEFAULT_TOKEN)
    with TelegramEmulator() as emulator:
        yield emulator


@pytest.fixture
def xemu(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> Iterator[Any]:
    from connectors.testing.x import XEmulator

    emulator = XEmulator(clock=lambda: clock().timestamp())
    monkeypatch.setenv(X_ENVS["consumer_key_env"], emulator.consumer_key)
    monkeypatch.setenv(X_ENVS["consumer_secret_env"], "consumer-secret-for-tests")
    monkeypatch.setenv(X_ENVS["access_token_env"], emulator.access_token)
    monkeypatch.setenv(X_ENVS["access_token_secret_env"], "access-secret-for-tests")
    with emulator:
        yield emulator


def telegram_channel(emulator: Any) -> dict[str, Any]:
    return {
        "platform": "telegram",
        "api_base_url": emulator.url,
        "token_env": TELEGRAM_TOKEN_ENV,
        "chat_id": str(emulator.chat_id),
        "timeout": 1,
        "rate": "60/m",
    }


def x_channel(emulator: Any) -> dict[str, Any]:
    return {"platform": "x", "api_base_url": emulator.url, "timeout": 1, "rate": "60/m", **X_ENVS}


def dedent(text: str) -> str:
    return textwrap.dedent(text)


ONE_MINUTE = timedelta(minutes=1)
