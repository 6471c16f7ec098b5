"""PostgreSQL: the summary triggers lock one of 1,024 buckets of deliveries, not each delivery

Migration 0016's trigger functions took a transaction-level advisory lock for every delivery
whose snapshots a statement wrote, held to the end of the transaction. PostgreSQL keeps those
locks in its shared lock table (max_locks_per_transaction x max_connections slots: 6,400 on a
default server), so one transaction writing snapshots of more than a few thousand deliveries (an
import, bench/reports_build.py's 50,000-delivery history) failed with "out of shared memory"
and wrote no snapshot at all. Now a delivery's lock is that of its bucket (``delivery_id %
1024``), taken in bucket order: a transaction holds at most 1,024 of them however many
deliveries it writes. Two writers of deliveries in one bucket wait for each other as two
writers of one delivery did; what the lock guarantees is unchanged (a snapshot committed after
a summary row's writer removes that row). SQLite takes no such lock.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_PG_LOCK = 0x656C7364  # "elsd", as in 0016: the advisory lock class of the summaries (two keys)
BUCKETS = 1024

# The statement-level functions of 0016 (transition table of each).
_STATEMENT_FUNCTIONS = {
    "delivery_metric_summary_forget_new": "new_rows",
    "delivery_metric_summary_forget_old": "old_rows",
}


def _replace(bucketed: bool) -> None:
    key = f"(delivery_id % {BUCKETS})" if bucketed else "(delivery_id % 2147483647)"
    for function, rows in _STATEMENT_FUNCTIONS.items():
        op.execute(
            f"""CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock({_PG_LOCK}, key::int)
        FROM (SELECT DISTINCT {key} AS key FROM {rows} ORDER BY 1) AS changed;
    DELETE FROM delivery_metric_summary
        WHERE delivery_id IN (SELECT delivery_id FROM {rows});
    RETURN NULL;
END $$"""
        )
    row_key = f"(OLD.id % {BUCKETS})" if bucketed else "(OLD.id % 2147483647)"
    op.execute(
        f"""CREATE OR REPLACE FUNCTION delivery_metric_summary_forget_delivery() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock({_PG_LOCK}, {row_key}::int);
    DELETE FROM delivery_metric_summary WHERE delivery_id IN (OLD.id, NEW.id);
    RETURN NULL;
END $$"""
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _replace(bucketed=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _replace(bucketed=False)
