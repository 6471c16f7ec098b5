"""Building the scheduler from the configuration: settings, the connector factory (channel name
→ connector, secrets read from the environment now), and each channel's posting rate. The one
place where configuration meets the scheduler."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from elshi.config import Config

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from connectors.base import Connector, SessionStore
    from notify.base import Notifier
    from scheduler.alerts import AlertService
    from scheduler.daemon import Dispatcher
    from scheduler.health import Thresholds
    from scheduler.policy import Settings
    from scheduler.sessions import DatabaseSessionStore

log = logging.getLogger(__name__)

SANDBOX_RATE_PER_MINUTE = 600.0


def settings_from(
    config: Config, *, worker_id: str | None = None, seed: int | None = None
) -> Settings:
    from scheduler.policy import Settings
    from scheduler.workers import new_worker_id

    d = config.daemon
    return Settings(
        worker_id=worker_id or new_worker_id(),
        lease_seconds=d.lease_seconds,
        max_attempts=d.max_attempts,
        backoff_seconds=d.backoff_seconds,
        backoff_max_seconds=d.backoff_max_seconds,
        poll_seconds=d.poll_seconds,
        sweep_every_seconds=d.sweep_every_seconds,
        collect_every_seconds=d.collect_every_seconds,
        workers=d.workers,
        late_after_seconds=d.late_after_seconds,
        reconcile_after_seconds=d.reconcile_after_seconds,
        max_delay_seconds=d.max_delay_seconds,
        heartbeat_seconds=d.heartbeat_seconds,
        name=d.name,
        metrics_schedule=config.metrics_schedule,
        followers_every_seconds=config.followers_every_seconds,
        seed=seed,
    )


def session_store(
    sessions: sessionmaker[Session], clock: Callable[[], datetime]
) -> DatabaseSessionStore:
    """Where every connector of this process keeps its logins: the database, shared by every
    daemon and command (encrypted when ``ELSHI_SECRET_KEY`` is set)."""
    from scheduler.sessions import DatabaseSessionStore

    return DatabaseSessionStore.from_environment(sessions, clock=clock)


def connector_factory(
    config: Config,
    clock: Callable[[], datetime],
    sessions: SessionStore | None = None,
) -> Callable[[str], Connector]:
    from connectors.registry import open_connector
    from scheduler.pool import UnknownChannelError

    def make(name: str) -> Connector:
        channel = config.channels.get(name)
        if channel is None:
            raise UnknownChannelError(
                f"channel {name!r} is not in {config.path or 'elshi.toml'} any more; add it back "
                f"or cancel its deliveries"
            )
        return open_connector(channel.settings(), clock=clock, sessions=sessions)

    return make


def permalink_reader(
    config: Config, clock: Callable[[], datetime], sessions: SessionStore | None = None
) -> Callable[[str, str], str]:
    """(channel name, permalink) → the post's remote id, read by the channel's connector (which
    may ask the platform); a URL that is not that platform's raises its `RejectedError`."""

    def read(channel: str, url: str) -> str:
        connector = connector_factory(config, clock, sessions)(channel)
        try:
            return connector.remote_id_from_url(url)
        finally:
            connector.close()

    return read


def rate_lookup(config: Config) -> Callable[[str, str], float]:
    from connectors.registry import connector_class

    cache: dict[str, float] = {}

    def rate(name: str, platform: str) -> float:
        if name not in cache:
            channel = config.channels.get(name)
            if channel is not None and channel.rate_per_minute:
                cache[name] = channel.rate_per_minute
            elif platform == "sandbox":
                cache[name] = SANDBOX_RATE_PER_MINUTE
            else:
                cache[name] = connector_class(platform).capabilities.default_rate_per_minute
        return cache[name]

    return rate


def build_dispatcher(
    config: Config,
    sessions: sessionmaker[Session],
    clock: Callable[[], datetime],
    *,
    real_time: bool,
    settings: Settings | None = None,
) -> Dispatcher:
    from scheduler.daemon import Dispatcher
    from scheduler.pool import ConnectorPool

    settings = settings or settings_from(config)
    return Dispatcher(
        sessions,
        ConnectorPool(connector_factory(config, clock, session_store(sessions, clock))),
        settings,
        clock,
        rate_lookup(config),
        real_time=real_time,
        alerts=build_alerts(config, sessions, clock, worker_id=settings.worker_id, in_daemon=True),
    )


def import_connectors(config: Config) -> None:
    """Import the connectors (and client libraries) of the configured platforms now, for a
    daemon that would otherwise spend the CPU (a second or more) while its first posts are due.
    A platform that cannot be imported is left to fail on its channel, as before."""
    from connectors.registry import connector_class

    for platform in sorted({channel.platform for channel in config.channels.values()}):
        try:
            connector_class(platform)
        except Exception:  # reported when the channel is used
            log.debug("connector of %s not imported ahead", platform, exc_info=True)


def notifier_factory(config: Config) -> Callable[[str], Notifier]:
    """Notifier name → notifier, its secrets read from the environment now."""
    import os

    from elshi.settings import NotifyConfig
    from notify.base import NotifierConfigError
    from notify.registry import open_notifier

    def make(name: str) -> Notifier:
        table = config.named(NotifyConfig).get(name)
        if table is None or table.kind is None:
            raise NotifierConfigError(f"no [notify.{name}] in {config.path or 'elshi.toml'}")
        envs = table.secret_envs
        missing = [var for var in envs.values() if not os.environ.get(var)]
        if missing:
            raise NotifierConfigError(
                f"notifier {name!r}: export {', '.join(missing)} (secrets come from the "
                "environment, never from elshi.toml)"
            )
        secrets = {key: os.environ[var] for key, var in envs.items()}
        return open_notifier(name, table.kind, table.options(), secrets)

    return make


def build_alerts(
    config: Config,
    sessions: sessionmaker[Session],
    clock: Callable[[], datetime],
    *,
    worker_id: str,
    in_daemon: bool = False,
) -> AlertService:
    """The alert outbox sender and report mailer of this configuration."""
    from elshi.settings import AlertsConfig, NotifyConfig, ReportMailConfig
    from scheduler.alerts import AlertService, AlertSettings, ReportSchedule, Route

    notifiers = config.named(NotifyConfig)
    reports = config.named(ReportMailConfig)
    return AlertService(
        sessions,
        AlertSettings(
            worker_id=worker_id,
            thresholds=thresholds(config),
            base_url=config.alert_links,
            poll_seconds=config.section(AlertsConfig).poll_seconds,
            detect_silence=not in_daemon,
        ),
        clock,
        routes=[
            Route(
                name,
                n.kind or "",
                n.events,
                n.campaigns,
                n.countries,
                n.digest_seconds,
                lease_seconds=3 * n.timeout + 5,
            )
            for name, n in notifiers.items()
        ],
        senders=notifier_factory(config),
        reports=[
            ReportSchedule(name, r.cron, r.timezone, r.via or "") for name, r in reports.items()
        ],
        build_report=_report_builder(config, sessions, clock),
    )


def thresholds(config: Config) -> Thresholds:
    from datetime import timedelta

    from elshi.settings import AlertsConfig
    from scheduler.health import Thresholds

    a = config.section(AlertsConfig)
    return Thresholds(
        heartbeat_timeout=timedelta(seconds=a.heartbeat_timeout_seconds),
        approval_lead=timedelta(seconds=a.approval_warning_seconds),
        collection_grace=timedelta(seconds=a.collection_failing_seconds),
        token_warning=timedelta(seconds=a.token_warning_seconds),
    )


def _report_builder(
    config: Config, sessions: sessionmaker[Session], clock: Callable[[], datetime]
) -> Callable[[str, datetime, str], Any]:
    def build(name: str, scheduled_for: datetime, key: str) -> Any:
        from elshi.reportmail import build_report_mail

        return build_report_mail(config, sessions, name, scheduled_for, key, now=clock())

    return build
