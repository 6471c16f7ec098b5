"""delivery_metric_summary: a write-time cache of each published delivery's snapshot row, kept
honest by the database

A report's longest step was finding, per published delivery, the few snapshots its figures need
(reports.seeks.snapshot_rows_query: about 0.14 s of SQLite CPU at 10,000 deliveries). The
summary holds that row over all of a delivery's snapshots, written by campaigns.bulk's
insert_snapshots in the transaction that adds them; a report reads it for the deliveries where
it is valid (this version of the query, the delivery's publication unchanged, every snapshot
collected by the report time) and runs the query for the rest.

It can never make a figure wrong whatever wrote the data: triggers delete a delivery's row on
any INSERT, UPDATE or DELETE of its snapshots and on an UPDATE of its id or published_at, so a
snapshot written by raw SQL, an import or a hand-built dataset makes the delivery fall back to
the query. On PostgreSQL the trigger functions take a transaction-level advisory lock per
delivery first, so a concurrent writer's row cannot outlive a later snapshot (read committed).
The rows are filled from the query here; downgrade drops the triggers and the table.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_COUNTERS = [
    "impressions",
    "likes",
    "reposts",
    "replies",
    "quotes",
    "bookmarks",
    "link_clicks",
    "followers",
]
_FIXED = [
    f"{side}_{age}_{name}"
    for age in ("24h", "7d")
    for side in ("lo", "hi")
    for name in ("age", "eng", "impressions")
]

# A delivery has a summary row only while it is published (rows are written for published
# deliveries, and unpublishing one deletes its row): a first publication (published_at NULL
# before) cannot remove one, so the trigger skips it and stays off the dispatcher's path.
_HAD_ROW = "(OLD.published_at IS NOT NULL OR OLD.id <> NEW.id)"

# (name, table, timing and event, the deliveries whose rows go: SQLite's expression)
_SQLITE_TRIGGERS = [
    ("trg_metric_snapshot_insert_summary", "metric_snapshot", "INSERT", "NEW.delivery_id"),
    (
        "trg_metric_snapshot_update_summary",
        "metric_snapshot",
        "UPDATE",
        "OLD.delivery_id, NEW.delivery_id",
    ),
    ("trg_metric_snapshot_delete_summary", "metric_snapshot", "DELETE", "OLD.delivery_id"),
    (
        "trg_delivery_publication_summary",
        "delivery",
        f"UPDATE OF id, published_at ON delivery FOR EACH ROW WHEN {_HAD_ROW}",
        "OLD.id, NEW.id",
    ),
]

_PG_LOCK = 0x656C7364  # "elsd": the advisory lock class of a delivery's summary (two-key space)
_PG_FUNCTIONS = {
    # Statement-level triggers with transition tables (COPY fires them too): one DELETE for a
    # batch of snapshots, not one per row.
    "delivery_metric_summary_forget_new": "new_rows",
    "delivery_metric_summary_forget_old": "old_rows",
}
_PG_TRIGGERS = [
    ("trg_metric_snapshot_insert_summary", "INSERT", "NEW TABLE AS new_rows", "new"),
    ("trg_metric_snapshot_update_old_summary", "UPDATE", "OLD TABLE AS old_rows", "old"),
    ("trg_metric_snapshot_update_new_summary", "UPDATE", "NEW TABLE AS new_rows", "new"),
    ("trg_metric_snapshot_delete_summary", "DELETE", "OLD TABLE AS old_rows", "old"),
]


def _columns() -> list[sa.Column]:  # type: ignore[type-arg]
    values: list[sa.Column] = [  # type: ignore[type-arg]
        sa.Column("last_age", sa.Float(), nullable=True),
        *(sa.Column(f"last_{c}", sa.BigInteger(), nullable=True) for c in _COUNTERS),
        sa.Column("last_deleted", sa.Boolean(), nullable=True),
        sa.Column("last_simulated", sa.Boolean(), nullable=True),
        sa.Column("first_followers", sa.BigInteger(), nullable=True),
        *(
            sa.Column(name, sa.Float() if name.endswith("_age") else sa.BigInteger(), nullable=True)
            for name in _FIXED
        ),
        sa.Column("cross_age", sa.Float(), nullable=True),
        sa.Column("cross_eng", sa.BigInteger(), nullable=True),
        sa.Column("prev_age", sa.Float(), nullable=True),
        sa.Column("prev_eng", sa.BigInteger(), nullable=True),
    ]
    return values


def upgrade() -> None:
    op.create_table(
        "delivery_metric_summary",
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("computed_for_published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_collected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("snapshots", sa.BigInteger(), nullable=False),
        *_columns(),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["delivery.id"],
            name=op.f("fk_delivery_metric_summary_delivery_id_delivery"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("delivery_id", name=op.f("pk_delivery_metric_summary")),
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_triggers()
    else:
        for name, table, event, ids in _SQLITE_TRIGGERS:
            on = event if " ON " in event else f"{event} ON {table} FOR EACH ROW"
            op.execute(
                f"CREATE TRIGGER {name} AFTER {on} BEGIN "
                f"DELETE FROM delivery_metric_summary WHERE delivery_id IN ({ids}); END"
            )
    # Filled from the report's own query (the rows a report would read).
    bind = op.get_bind()
    published = bind.execute(
        sa.text(
            "SELECT DISTINCT s.delivery_id FROM metric_snapshot s "
            "JOIN delivery d ON d.id = s.delivery_id WHERE d.published_at IS NOT NULL"
        )
    ).scalars()
    delivery_ids = list(published)
    if delivery_ids:
        # Imported only for a store with snapshots (a new one: no pandas at `elshi init`).
        from reports.seeks import store_summaries

        store_summaries(bind, delivery_ids)


def _postgresql_triggers() -> None:
    for function, rows in _PG_FUNCTIONS.items():
        op.execute(
            f"""CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock({_PG_LOCK}, (delivery_id % 2147483647)::int)
        FROM (SELECT DISTINCT delivery_id FROM {rows} ORDER BY delivery_id) AS changed;
    DELETE FROM delivery_metric_summary
        WHERE delivery_id IN (SELECT delivery_id FROM {rows});
    RETURN NULL;
END $$"""
        )
    for name, event, referencing, side in _PG_TRIGGERS:
        op.execute(
            f"CREATE TRIGGER {name} AFTER {event} ON metric_snapshot REFERENCING {referencing} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION delivery_metric_summary_forget_{side}()"
        )
    op.execute(
        f"""CREATE FUNCTION delivery_metric_summary_forget_delivery() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock({_PG_LOCK}, (OLD.id % 2147483647)::int);
    DELETE FROM delivery_metric_summary WHERE delivery_id IN (OLD.id, NEW.id);
    RETURN NULL;
END $$"""
    )
    op.execute(
        "CREATE TRIGGER trg_delivery_publication_summary AFTER UPDATE OF id, published_at "
        f"ON delivery FOR EACH ROW WHEN {_HAD_ROW} "
        "EXECUTE FUNCTION delivery_metric_summary_forget_delivery()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, *_ in _PG_TRIGGERS:
            op.execute(f"DROP TRIGGER {name} ON metric_snapshot")
        op.execute("DROP TRIGGER trg_delivery_publication_summary ON delivery")
        for function in (*_PG_FUNCTIONS, "delivery_metric_summary_forget_delivery"):
            op.execute(f"DROP FUNCTION {function}()")
    else:
        for name, *_ in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("delivery_metric_summary")
