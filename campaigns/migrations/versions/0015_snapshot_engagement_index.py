"""metric_snapshot's (delivery_id, collected_at) index also holds the id and the engagement
counters

A report finds, for each published delivery, the first snapshot whose engagements reached half
of the last value (the half-life). On SQLite that scan read the table's row for every index
entry it passed; with the counters in the index it reads the index alone, and with the id
right after the time the seeks' order (time, then id) is the index's own, with no sort. At
10,000 deliveries and 1,000,000 snapshots the report's reading took about 0.09 s less wall
time (0.60 -> 0.51 s, medians of five alternated runs); each snapshot written stores five more
integers in the index.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_COUNTERS = ["likes", "reposts", "replies", "quotes"]


def upgrade() -> None:
    # Plain index statements: no copy of the table (the largest one) on SQLite.
    op.create_index(
        "ix_metric_snapshot_delivery_time_engagements",
        "metric_snapshot",
        ["delivery_id", "collected_at", "id", *_COUNTERS],
    )
    op.drop_index("ix_metric_snapshot_delivery_time", table_name="metric_snapshot")


def downgrade() -> None:
    op.create_index(
        "ix_metric_snapshot_delivery_time", "metric_snapshot", ["delivery_id", "collected_at"]
    )
    op.drop_index("ix_metric_snapshot_delivery_time_engagements", table_name="metric_snapshot")
