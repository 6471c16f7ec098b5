"""``elshi status --format prometheus``: the state of the system in the Prometheus text
exposition format (for node_exporter's textfile collector, or any scraper): deliveries per
campaign, channel and state, overdue work and lateness per channel, paused channels, the last
daemon heartbeat, queued alerts, and the problems ``elshi status --check`` fails on."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.schema import (
    AlertOutbox,
    Campaign,
    Channel,
    Delivery,
    OutboxState,
    Post,
    Worker,
    due_state,
)
from campaigns.schema import DeliveryState as S
from scheduler.health import Problem, last_heartbeat

LATENESS_WINDOW = timedelta(hours=24)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


class _Out:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def metric(
        self, name: str, kind: str, help_text: str, samples: Iterable[tuple[dict[str, str], float]]
    ) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            self.lines.append(f"{name}{_labels(**labels)} {_number(value)}")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render(session: Session, now: datetime, problems: Sequence[Problem]) -> str:
    out = _Out()
    counts = session.execute(
        select(Campaign.id, Channel.name, Delivery.state, func.count())
        .select_from(Delivery)
        .join(Post, Delivery.post_id == Post.id)
        .join(Campaign, Post.campaign_id == Campaign.id)
        .join(Channel, Delivery.channel_id == Channel.id)
        .group_by(Campaign.id, Channel.name, Delivery.state)
        .order_by(Campaign.id, Channel.name, Delivery.state)
    ).all()
    out.metric(
        "elshi_deliveries",
        "gauge",
        "Deliveries by campaign, channel and state.",
        (({"campaign": c, "channel": ch, "state": st}, n) for c, ch, st, n in counts),
    )
    channels = list(session.scalars(select(Channel).order_by(Channel.name)))
    out.metric(
        "elshi_channel_paused",
        "gauge",
        "1 when the channel is paused (credentials refused) until elshi channels resume.",
        (({"channel": c.name}, 1 if c.paused else 0) for c in channels),
    )
    due = func.coalesce(Delivery.next_attempt_at, Delivery.due_at)
    overdue = dict.fromkeys((c.name for c in channels), (0, 0.0))
    for name, n, oldest in session.execute(
        select(Channel.name, func.count(), func.min(due))
        .select_from(Delivery)
        .join(Channel, Delivery.channel_id == Channel.id)
        .where(due_state(Delivery.state), due < now)
        .group_by(Channel.name)
    ):
        overdue[name] = (n, (now - oldest).total_seconds() if oldest else 0.0)
    out.metric(
        "elshi_overdue_deliveries",
        "gauge",
        "Deliveries past their time and still waiting to be published.",
        (({"channel": name}, v[0]) for name, v in overdue.items()),
    )
    out.metric(
        "elshi_overdue_seconds",
        "gauge",
        "How long the oldest waiting delivery of the channel is past its time.",
        (({"channel": name}, v[1]) for name, v in overdue.items()),
    )
    late: dict[str, list[float]] = defaultdict(list)
    for name, published, due_at in session.execute(
        select(Channel.name, Delivery.published_at, Delivery.due_at)
        .join(Channel, Delivery.channel_id == Channel.id)
        .where(
            Delivery.state == S.published.value,
            Delivery.published_at >= now - LATENESS_WINDOW,
        )
    ):
        if published is not None:
            late[name].append(max(0.0, (published - due_at).total_seconds()))
    quantiles = []
    for name in sorted(late):
        values = sorted(late[name])
        for q in (0.5, 0.9, 0.99, 1.0):
            index = min(len(values) - 1, int(q * len(values)))
            quantiles.append(({"channel": name, "quantile": f"{q:g}"}, values[index]))
    out.metric(
        "elshi_publish_lateness_seconds",
        "gauge",
        "Seconds between a post's time and its publication, over the last 24 h (quantiles).",
        quantiles,
    )
    last = last_heartbeat(session)
    out.metric(
        "elshi_daemon_last_heartbeat_timestamp_seconds",
        "gauge",
        "Unix time of the last daemon heartbeat (0: never).",
        [({}, last.timestamp() if last else 0)],
    )
    alive = session.scalar(
        select(func.count())
        .select_from(Worker)
        .where(Worker.stopped_at.is_(None), Worker.heartbeat_at >= now - timedelta(minutes=3))
    )
    out.metric(
        "elshi_daemons_alive", "gauge", "Daemons with a recent heartbeat.", [({}, alive or 0)]
    )
    pending = session.execute(
        select(AlertOutbox.notifier, func.count())
        .where(AlertOutbox.state == OutboxState.pending.value)
        .group_by(AlertOutbox.notifier)
    ).all()
    out.metric(
        "elshi_alerts_pending",
        "gauge",
        "Alerts queued for a notifier and not sent yet.",
        (({"notifier": n}, c) for n, c in pending),
    )
    kinds = Counter(p.kind for p in problems)
    out.metric(
        "elshi_check_problems",
        "gauge",
        "Problems elshi status --check fails on, by kind.",
        (({"kind": k}, n) for k, n in sorted(kinds.items())),
    )
    out.metric(
        "elshi_check_ok",
        "gauge",
        "1 when elshi status --check passes.",
        [({}, 0 if problems else 1)],
    )
    out.metric(
        "elshi_status_timestamp_seconds",
        "gauge",
        "Unix time these figures were read.",
        [({}, now.timestamp())],
    )
    return "\n".join(out.lines) + "\n"
