"""The SQL store's tables as SQLAlchemy 2 typed models.

Every instant is stored in UTC and read back timezone-aware (`UTCDateTime`), on SQLite and on
PostgreSQL alike. The `Delivery` row carries the state machine that makes publishing exactly-once
(see docs/architecture.md); `MetricSnapshot` and `AuditEntry` are append-only. Changing a model
means adding an Alembic migration in ``campaigns/migrations/versions``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
    literal_column,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from campaigns.links import web_url

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out; naive values are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps aware UTC instants")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class DeliveryState(StrEnum):
    """States of one delivery (one post on one channel at one occurrence).

    draft → approved → publishing → published, with side exits. ``scheduled`` is an approved row
    waiting for a retry at ``next_attempt_at`` (after a transient error, a rate limit, or an
    operator's retry); ``failed``, ``missed``, ``needs_review`` and ``cancelled`` carry a reason.
    """

    draft = "draft"
    approved = "approved"
    scheduled = "scheduled"
    publishing = "publishing"
    published = "published"
    failed = "failed"
    missed = "missed"
    needs_review = "needs_review"
    cancelled = "cancelled"


WAITING_STATES = (DeliveryState.draft, DeliveryState.approved, DeliveryState.scheduled)
"""States a campaign apply may still rewrite or cancel."""
DUE_STATES = (DeliveryState.approved, DeliveryState.scheduled)
"""States the daemon may claim once due."""


def due_state(state: Any) -> Any:
    """``state IN ('approved', 'scheduled')`` (`DUE_STATES`) with the values written into the
    SQL, not bound: the predicate of the partial index ``ix_delivery_due_instant``, and the
    condition of every query that seeks due rows by state, so that the planner sees it implies
    the index's predicate. SQLite uses a partial index only when a term of the query's WHERE is
    the index's term as written (a bound value in an IN list does not match), and a generic
    plan of a PostgreSQL prepared statement cannot look into bound values either. ``state`` is
    ``Delivery.state`` or an alias's. The values are SQL literals of the compiled statement
    (as ``literal_execute`` parameters rendered the same text at each execution, a string
    substitution per execution of every claim query: the daemon's writer runs them many times
    a second)."""
    return state.in_(_DUE_LITERALS)


_DUE_LITERALS = tuple(literal_column(f"'{s.value}'", String) for s in DUE_STATES)


FINAL_STATES = (
    DeliveryState.published,
    DeliveryState.failed,
    DeliveryState.missed,
    DeliveryState.cancelled,
)


class Approval(StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"


def _states_check(column: str, enum: type[StrEnum]) -> CheckConstraint:
    values = ", ".join(f"'{m.value}'" for m in enum)
    return CheckConstraint(f"{column} IN ({values})", name=f"{column}_valid")


class Campaign(Base):
    __tablename__ = "campaign"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    market: Mapped[str | None] = mapped_column(String(100))
    narrative: Mapped[str] = mapped_column(String(64))
    narratives: Mapped[dict[str, Any]] = mapped_column(default=dict)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    timezone: Mapped[str] = mapped_column(String(64))
    hashtags: Mapped[list[Any]] = mapped_column(default=list)
    requires_approval: Mapped[bool] = mapped_column(Boolean, default=True)
    approval_steps: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    """The approval chain as written (`campaigns.definition.ApprovalStep` dicts); empty with
    ``requires_approval`` means the one step of ``approval: true``."""
    grace_minutes: Mapped[int] = mapped_column(Integer, default=15)
    source_path: Mapped[str | None] = mapped_column(Text)
    definition_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    audiences: Mapped[list[Audience]] = relationship(
        back_populates="campaign", cascade="all, delete-orphan"
    )
    posts: Mapped[list[Post]] = relationship(back_populates="campaign")


class Channel(Base):
    """A configured account. Rows follow elshi.toml; secrets never come here."""

    __tablename__ = "channel"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    platform: Mapped[str] = mapped_column(String(20))
    handle: Mapped[str | None] = mapped_column(String(200))
    rate_per_minute: Mapped[float | None] = mapped_column(Float)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_reason: Mapped[str | None] = mapped_column(Text)
    paused_at: Mapped[datetime | None]
    next_slot_at: Mapped[datetime | None]
    """Earliest time the next post may go out on this channel (its configured rate), shared by
    every daemon because it is claimed in the same transaction as the delivery."""
    blocked_until: Mapped[datetime | None]
    """Set when the platform asked us to wait (a rate limit, or a 502/503/504 that said when to
    come back): nothing goes to this channel before then. Kept after it; the channel's audit
    entry that recorded it says which (`campaigns.gate.channel_block`)."""
    collect_failing_since: Mapped[datetime | None]
    """When metric collection on this channel started failing (cleared by the next success)."""
    collect_error: Mapped[str | None] = mapped_column(Text)
    token_expires_at: Mapped[datetime | None]
    """When the channel's credentials stop working, where the platform says (its identity,
    read with the daily follower sample); alerts warn before."""
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AudienceChannel(Base):
    """Which channels reach an audience."""

    __tablename__ = "audience_channel"

    audience_id: Mapped[int] = mapped_column(
        ForeignKey("audience.id", ondelete="CASCADE"), primary_key=True
    )
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel.id"), primary_key=True)


class Audience(Base):
    __tablename__ = "audience"
    __table_args__ = (UniqueConstraint("campaign_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    group: Mapped[str] = mapped_column("audience_group", String(40))
    languages: Mapped[list[Any]] = mapped_column(default=list)
    timezone: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)

    campaign: Mapped[Campaign] = relationship(back_populates="audiences")
    channels: Mapped[list[Channel]] = relationship(secondary="audience_channel", viewonly=True)


class PostAudience(Base):
    """Which audiences a post targets."""

    __tablename__ = "post_audience"

    post_id: Mapped[int] = mapped_column(
        ForeignKey("post.id", ondelete="CASCADE"), primary_key=True
    )
    audience_id: Mapped[int] = mapped_column(
        ForeignKey("audience.id", ondelete="CASCADE"), primary_key=True
    )


class Post(Base):
    __tablename__ = "post"
    __table_args__ = (
        UniqueConstraint("campaign_id", "key"),
        _states_check("approval", Approval),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaign.id"))
    key: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(40))
    narrative: Mapped[str] = mapped_column(String(64))
    variant: Mapped[str | None] = mapped_column(String(32))
    reply_to_post_id: Mapped[int | None] = mapped_column(ForeignKey("post.id"))
    schedule: Mapped[dict[str, Any]] = mapped_column(default=dict)
    content: Mapped[dict[str, Any]] = mapped_column(default=dict)
    content_hash: Mapped[str] = mapped_column(String(64))
    approval: Mapped[str] = mapped_column(String(20), default=Approval.pending)
    approved_by: Mapped[str | None] = mapped_column(String(200))
    approved_at: Mapped[datetime | None]
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    """Goes up whenever what the post says (or the text any delivery publishes) changes: the
    approval decisions of an earlier revision no longer count."""
    approved_revision: Mapped[int | None] = mapped_column(Integer)
    """The revision whose approval chain is complete. The claim publishes a delivery only while
    this equals ``revision`` (`campaigns.gate`)."""
    authors: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    """Audit names (``user:NAME``) of everyone who uploaded or changed the post: none of them
    may approve it."""
    retired: Mapped[bool] = mapped_column(Boolean, default=False)
    """True once the post was removed from its campaign file (kept for its history)."""
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    campaign: Mapped[Campaign] = relationship(back_populates="posts")
    audiences: Mapped[list[Audience]] = relationship(secondary="post_audience", viewonly=True)
    deliveries: Mapped[list[Delivery]] = relationship(back_populates="post")


class Decision(StrEnum):
    approved = "approved"
    rejected = "rejected"


class PostDecision(Base):
    """One person's decision on one approval step of one revision of a post. A person decides
    a step once per revision (deciding again replaces it; the audit log keeps the history)."""

    __tablename__ = "post_decision"
    __table_args__ = (
        UniqueConstraint("post_id", "revision", "step", "actor", name="uq_post_decision_key"),
        _states_check("decision", Decision),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    step: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(200))
    """``user:NAME``."""
    decision: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]


class Delivery(Base):
    """One post on one channel at one occurrence: the unit that is published exactly once."""

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("post_id", "channel_id", "occurrence"),
        _states_check("state", DeliveryState),
        Index("ix_delivery_due", "state", "due_at"),
        # Only rows with metrics due: not the waiting ones, nor the finished history. A query
        # comparing next_collect_at implies IS NOT NULL on both databases.
        Index(
            "ix_delivery_next_collect_at",
            "next_collect_at",
            sqlite_where=text("next_collect_at IS NOT NULL"),
            postgresql_where=text("next_collect_at IS NOT NULL"),
        ),
        # Room on each page for the new version of a row: a lease or pre-send check changes
        # no indexed column, so its update can stay on the page and skip every index (HOT).
        {"postgresql_with": {"fillfactor": 90}},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel.id"))
    occurrence: Mapped[int] = mapped_column(Integer, default=0)
    audience_id: Mapped[int | None] = mapped_column(ForeignKey("audience.id"))
    """The audience whose language and time zone this delivery follows."""
    language: Mapped[str] = mapped_column(String(16))
    timezone: Mapped[str] = mapped_column(String(64))
    local_due: Mapped[str] = mapped_column(String(32))
    """The wall-clock time as written, e.g. ``2027-03-22T10:00`` (display and DST audits)."""
    due_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(20), default=DeliveryState.draft)
    text: Mapped[str] = mapped_column(Text)
    media: Mapped[list[Any]] = mapped_column(default=list)
    media_alt: Mapped[list[Any] | None] = mapped_column(JSON)
    """The alt text of each media item in the delivery's language ("" where none); NULL when
    no item has one."""
    article: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """On article platforms (WeChat): title, body, cover, author, source_url."""
    content_hash: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None]
    claimed_at: Mapped[datetime | None]
    remote_id: Mapped[str | None] = mapped_column(String(300))
    remote_url: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None]
    late_seconds: Mapped[float | None] = mapped_column(Float)
    """How long after ``due_at`` it went out, when that exceeded the punctuality threshold."""
    error_kind: Mapped[str | None] = mapped_column(String(20))
    last_error: Mapped[str | None] = mapped_column(Text)
    next_collect_at: Mapped[datetime | None]
    """When metrics are next due (the decaying schedule after publication); None when done."""
    reconcile_attempts: Mapped[int] = mapped_column(Integer, default=0)
    collect_step: Mapped[int] = mapped_column(Integer, default=0)
    collect_failures: Mapped[int] = mapped_column(Integer, default=0)
    remote_deleted_at: Mapped[datetime | None]
    """When a collection found the remote post deleted (it is then not counted as zero)."""
    sending_at: Mapped[datetime | None]
    """Set in the short transaction just before the connector is called (after the fencing and
    pause checks), cleared when the claim is released: a pause reports such a claim as in
    flight, and hands back claims that have not reached it."""
    resumed_from_pause: Mapped[int | None] = mapped_column(Integer)
    """The id of the kill-switch pause after which an operator chose to send this overdue
    delivery (so a publication after a resume can be told apart and alerted on). No foreign
    key: adding one would make SQLite rebuild the table and lose its expression indexes."""
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    post: Mapped[Post] = relationship(back_populates="deliveries")
    channel: Mapped[Channel] = relationship()
    audience: Mapped[Audience | None] = relationship()

    @validates("remote_url")
    def _web_url(self, _key: str, value: str | None) -> str | None:
        """Only http(s) addresses are stored (`campaigns.links.web_url` raises `UnsafeUrl`),
        whoever offers one: a platform's answer or an operator's ``resolve --published``."""
        return None if value is None else web_url(value)


SNAPSHOT_COUNTERS: tuple[str, ...] = (
    "impressions",
    "likes",
    "reposts",
    "replies",
    "quotes",
    "bookmarks",
    "link_clicks",
    "followers",
)
"""The counter columns of `MetricSnapshot` (the same names as connectors.base.METRIC_FIELDS)."""


class MetricSnapshot(Base):
    """Counters of one delivery at one moment; append-only. NULL = not given by the platform."""

    __tablename__ = "metric_snapshot"
    # The id (the seeks' tie-break, after the time) and the engagement counters ride in the
    # index: a report's seeks and half-life scan read the index alone, in its order
    # (reports.seeks.snapshot_rows_query; migration 0015).
    __table_args__ = (
        Index(
            "ix_metric_snapshot_delivery_time_engagements",
            "delivery_id",
            "collected_at",
            "id",
            "likes",
            "reposts",
            "replies",
            "quotes",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("delivery.id"))
    collected_at: Mapped[datetime]
    impressions: Mapped[int | None] = mapped_column(BigInteger)
    likes: Mapped[int | None] = mapped_column(BigInteger)
    reposts: Mapped[int | None] = mapped_column(BigInteger)
    replies: Mapped[int | None] = mapped_column(BigInteger)
    quotes: Mapped[int | None] = mapped_column(BigInteger)
    bookmarks: Mapped[int | None] = mapped_column(BigInteger)
    link_clicks: Mapped[int | None] = mapped_column(BigInteger)
    followers: Mapped[int | None] = mapped_column(BigInteger)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    simulated: Mapped[bool] = mapped_column(Boolean, default=False)


class DeliveryMetricSummary(Base):
    """A cache of one published delivery's `reports.seeks.snapshot_rows_query` row over all of its
    snapshots (the columns after ``snapshots`` are that query's, by name), written by
    `campaigns.bulk.insert_snapshots` in the transaction that adds snapshots. It can never make a
    figure wrong: the database deletes a delivery's row whenever any of its snapshots is inserted,
    updated or deleted, or its publication time changes (triggers of migration 0016), and a
    report uses a row only for its ``version`` of the query, the delivery's current
    ``published_at`` and a report time at or after ``last_collected_at``; any other delivery is
    read by the query itself."""

    __tablename__ = "delivery_metric_summary"

    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("delivery.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int]
    computed_for_published_at: Mapped[datetime]
    last_collected_at: Mapped[datetime]
    snapshots: Mapped[int] = mapped_column(BigInteger)
    last_age: Mapped[float | None] = mapped_column(Float)
    last_impressions: Mapped[int | None] = mapped_column(BigInteger)
    last_likes: Mapped[int | None] = mapped_column(BigInteger)
    last_reposts: Mapped[int | None] = mapped_column(BigInteger)
    last_replies: Mapped[int | None] = mapped_column(BigInteger)
    last_quotes: Mapped[int | None] = mapped_column(BigInteger)
    last_bookmarks: Mapped[int | None] = mapped_column(BigInteger)
    last_link_clicks: Mapped[int | None] = mapped_column(BigInteger)
    last_followers: Mapped[int | None] = mapped_column(BigInteger)
    last_deleted: Mapped[bool | None]
    last_simulated: Mapped[bool | None]
    first_followers: Mapped[int | None] = mapped_column(BigInteger)
    lo_24h_age: Mapped[float | None] = mapped_column(Float)
    lo_24h_eng: Mapped[int | None] = mapped_column(BigInteger)
    lo_24h_impressions: Mapped[int | None] = mapped_column(BigInteger)
    hi_24h_age: Mapped[float | None] = mapped_column(Float)
    hi_24h_eng: Mapped[int | None] = mapped_column(BigInteger)
    hi_24h_impressions: Mapped[int | None] = mapped_column(BigInteger)
    lo_7d_age: Mapped[float | None] = mapped_column(Float)
    lo_7d_eng: Mapped[int | None] = mapped_column(BigInteger)
    lo_7d_impressions: Mapped[int | None] = mapped_column(BigInteger)
    hi_7d_age: Mapped[float | None] = mapped_column(Float)
    hi_7d_eng: Mapped[int | None] = mapped_column(BigInteger)
    hi_7d_impressions: Mapped[int | None] = mapped_column(BigInteger)
    cross_age: Mapped[float | None] = mapped_column(Float)
    cross_eng: Mapped[int | None] = mapped_column(BigInteger)
    prev_age: Mapped[float | None] = mapped_column(Float)
    prev_eng: Mapped[int | None] = mapped_column(BigInteger)


class FollowerSample(Base):
    """An account's follower count at one moment (sampled daily per channel); append-only."""

    __tablename__ = "follower_sample"
    __table_args__ = (Index("ix_follower_sample_channel_time", "channel_id", "sampled_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel.id"))
    sampled_at: Mapped[datetime]
    followers: Mapped[int] = mapped_column(BigInteger)
    simulated: Mapped[bool] = mapped_column(Boolean, default=False)


class Worker(Base):
    """One run of a daemon (``id`` is what its claims carry as ``lease_owner``). Its heartbeat
    shows it is alive; once ``alive_until`` passes without a new heartbeat (three heartbeat
    intervals), or another run of the same ``name`` started, other daemons take over its
    claims. ``stopped_at`` is set by a normal stop, or when it was declared dead
    (``stop_reason`` says which)."""

    __tablename__ = "worker"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200), index=True)
    """The daemon's stable identity across restarts (``[daemon] name``, default the host
    name, with ``#2``, ``#3``... for further daemons of that name running at once)."""
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]
    alive_until: Mapped[datetime | None]
    """``heartbeat_at`` plus three of this daemon's heartbeat intervals; None for runs of
    daemons older than this column (their claims are only ever reconciled)."""
    stopped_at: Mapped[datetime | None]
    stop_reason: Mapped[str | None] = mapped_column(Text)
    """``stopped`` after a normal stop; why it was declared dead otherwise."""


class ConnectorSession(Base):
    """A platform login a connector keeps between processes (Bluesky's JWTs, WeChat's access
    token, LinkedIn's tokens), shared by every daemon and command so none logs in anew.
    ``payload`` is encrypted when a key is configured (see ``scheduler.sessions``); it is never
    logged and never leaves this table."""

    __tablename__ = "connector_session"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    """The connector's name for the login, e.g. ``bluesky/de-bluesky``."""
    payload: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime | None]
    """When the login stops being usable (a refresh token's end), if known."""
    updated_at: Mapped[datetime]


class Workspace(Base):
    """This database's identity: one row, a random UUID made when the schema was created, so
    that what Elshi exports (calendar UIDs) cannot collide with another office's exports."""

    __tablename__ = "workspace"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    created_at: Mapped[datetime]


class MediaBlob(Base):
    """One media file's bytes, stored once by SHA-256 (``campaigns.media``): deliveries refer to
    it as ``<sha256>/<name>``, so what is published is what was applied and approved."""

    __tablename__ = "media_blob"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(40))
    """Its MIME type, recognised from its content."""
    created_at: Mapped[datetime]


class MediaChunk(Base):
    """The bytes of a `MediaBlob`, in pieces of at most 1 MiB, in order."""

    __tablename__ = "media_chunk"

    sha256: Mapped[str] = mapped_column(
        ForeignKey("media_blob.sha256", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class WakeupSignal(Base):
    """A counter bumped in every transaction that makes deliveries claimable (approve, apply,
    retry, hand back, channel resume): on SQLite, running daemons notice a change of it within
    a second; on PostgreSQL the same transactions also send ``NOTIFY elshi_wakeup``."""

    __tablename__ = "wakeup_signal"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    counter: Mapped[int] = mapped_column(BigInteger, default=0)


class AuditEntry(Base):
    """Who or what changed which row from which state to which, when and why. Append-only."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    entity: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[str] = mapped_column(String(80))
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class User(Base):
    """A person who works in Elshi (web workspace or CLI). Only an Argon2id hash of the password
    is stored; ``roles`` is a list of `campaigns.people.Role` values. Rows are never deleted
    (the audit log names them): a person who leaves is disabled."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    roles: Mapped[list[Any]] = mapped_column(default=list)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    password_hash: Mapped[str | None] = mapped_column(Text)
    password_changed_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")


class ApiToken(Base):
    """A per-user API token. Only its SHA-256 is stored (the plain token is shown once); a token
    acts with its user's roles, and stops working when revoked or when the user is disabled."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))
    """The first characters of the token, to tell tokens apart in lists (not a secret)."""
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(back_populates="tokens")


class Pause(Base):
    """A kill-switch pause: nothing it covers starts publishing while ``resumed_at`` is NULL.
    ``scope`` is ``all`` (``target`` empty), ``campaign`` (its id), ``country`` (ISO code) or
    ``channel`` (its name). Rows are kept after resuming, as the record of who paused and why."""

    __tablename__ = "pause"
    __table_args__ = (
        CheckConstraint("scope IN ('all', 'campaign', 'country', 'channel')", name="scope_valid"),
        Index("ix_pause_active", "resumed_at", "scope", "target"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(20))
    target: Mapped[str] = mapped_column(String(64), default="")
    reason: Mapped[str] = mapped_column(Text)
    paused_by: Mapped[str] = mapped_column(String(200))
    paused_at: Mapped[datetime]
    resumed_by: Mapped[str | None] = mapped_column(String(200))
    resumed_at: Mapped[datetime | None]


class Outcome(Base):
    """A result measured off the platforms (AMEC "outcomes": event registrations, scholarship
    applications, survey awareness...), imported from a CSV by ``elshi outcomes import``.
    ``audience_id`` is None for a campaign-wide figure. One value per (campaign, audience, day,
    metric, source): importing the same row again replaces its value."""

    __tablename__ = "outcome"
    __table_args__ = (
        UniqueConstraint(
            "campaign_id", "audience_id", "on_date", "metric", "source", name="uq_outcome_key"
        ),
        Index("ix_outcome_campaign_date", "campaign_id", "on_date"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    audience_id: Mapped[int | None] = mapped_column(ForeignKey("audience.id", ondelete="CASCADE"))
    on_date: Mapped[date] = mapped_column(Date)
    metric: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(200))
    imported_from: Mapped[str | None] = mapped_column(Text)
    imported_at: Mapped[datetime]


class CampaignUpload(Base):
    """A campaign file as it was uploaded through the web workspace or the API, kept byte for
    byte: ``planned`` once it validated (waiting for someone to apply it), ``applied`` with its
    campaign's version number once applied. Earlier versions stay, so any of them can be
    downloaded again."""

    __tablename__ = "campaign_upload"
    __table_args__ = (
        UniqueConstraint("campaign_id", "version"),
        Index("ix_campaign_upload_campaign", "campaign_id", "uploaded_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int | None] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    """The campaign file (YAML, or the spreadsheet it was imported from)."""
    campaign_yaml: Mapped[bytes] = mapped_column(LargeBinary)
    """The YAML that was validated and applied (the file itself, or the spreadsheet's import)."""
    sha256: Mapped[str] = mapped_column(String(64))
    media: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """Media files uploaded with it: path as written in the file → their SHA-256 in the store."""
    status: Mapped[str] = mapped_column(String(20))
    uploaded_by: Mapped[str] = mapped_column(String(200))
    uploaded_at: Mapped[datetime]
    applied_by: Mapped[str | None] = mapped_column(String(200))
    applied_at: Mapped[datetime | None]


class LoginThrottle(Base):
    """Failed log-ins counted per user name (``user:NAME``) and per address (``address:IP``),
    in the database so that every web process sees the same count."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime]
    blocked_until: Mapped[datetime | None]


class OutboxState(StrEnum):
    """States of an alert or report e-mail waiting to be sent: ``pending`` until a notifier
    accepted it (a claim is a lease on a pending row, so a crashed sender's row is taken over
    with the same message id), then ``sent``; ``dropped`` when its notifier left the
    configuration."""

    pending = "pending"
    sent = "sent"
    dropped = "dropped"


class Notifier(Base):
    """The routing half of an ``[notify.NAME]`` table (which events, campaigns and countries, the
    digest window), copied from elshi.toml by the daemon so that the transaction recording an
    event can queue it for each notifier at once. Addresses and secrets stay in the file."""

    __tablename__ = "notifier"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    events: Mapped[list[Any]] = mapped_column(default=list)
    """Event kinds it wants; empty = all."""
    campaigns: Mapped[list[Any]] = mapped_column(default=list)
    """Campaign ids it covers; empty = all."""
    countries: Mapped[list[Any]] = mapped_column(default=list)
    """Campaign countries it covers; empty = all."""
    digest_seconds: Mapped[float] = mapped_column(Float, default=60.0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    """False once the notifier left the configuration (its queued alerts are dropped)."""
    updated_at: Mapped[datetime]


class AlertEvent(Base):
    """Something a person must hear about (a delivery failed, a channel paused, no daemon...),
    recorded once, in the transaction of the change that caused it. Append-only."""

    __tablename__ = "alert_event"
    __table_args__ = (Index("ix_alert_event_at", "at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime]
    key: Mapped[str | None] = mapped_column(String(200), unique=True)
    """For conditions found by looking (no heartbeat, collection failing...): the same
    condition found again, by any process, is not a new event."""
    campaign_id: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(64))
    post_id: Mapped[int | None] = mapped_column(Integer)
    delivery_id: Mapped[int | None] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    """What happened, in one line."""
    action: Mapped[str] = mapped_column(Text)
    """What to do about it."""
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class AlertOutbox(Base):
    """One event for one notifier: queued with the event, sent (alone or in a digest) by a
    daemon holding its lease. ``message_key`` names the message that carries it, fixed before
    the first try, so a message re-sent after a crash carries the same id (e-mail Message-ID,
    webhook Idempotency-Key) and receivers can tell it is the same."""

    __tablename__ = "alert_outbox"
    __table_args__ = (
        UniqueConstraint("event_id", "notifier"),
        Index("ix_alert_outbox_notifier_state", "notifier", "state"),
        _states_check("state", OutboxState),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("alert_event.id"))
    notifier: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(20), default=OutboxState.pending)
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None]
    message_key: Mapped[str | None] = mapped_column(String(80), index=True)
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)

    event: Mapped[AlertEvent] = relationship()


class ReportRun(Base):
    """One scheduled report e-mail (``[reports.NAME]`` at one scheduled instant): the row is the
    claim, so several daemons send it once."""

    __tablename__ = "report_run"
    __table_args__ = (
        UniqueConstraint("report", "scheduled_for"),
        _states_check("state", OutboxState),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report: Mapped[str] = mapped_column(String(64))
    scheduled_for: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(20), default=OutboxState.pending)
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None]
    message_key: Mapped[str | None] = mapped_column(String(80))
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


# The dispatcher looks for the earliest claimable instant (a retry time, else the due time),
# overall and per channel; without these every wake-up would scan all waiting rows. The overall
# one holds only the rows a daemon may claim (`due_state`): a claim or a publication writes no
# entry into it, and it does not grow with the history. The per-channel one holds every row:
# its (channel_id, state) prefix serves the per-channel lookups of other states.
Index(
    "ix_delivery_due_instant",
    Delivery.state,
    func.coalesce(Delivery.next_attempt_at, Delivery.due_at),
    sqlite_where=due_state(Delivery.state),
    postgresql_where=due_state(Delivery.state),
)
Index(
    "ix_delivery_channel_due_instant",
    Delivery.channel_id,
    Delivery.state,
    func.coalesce(Delivery.next_attempt_at, Delivery.due_at),
)
