"""fewer delivery index entries for each state change of a post

Each update of a delivery that changes an indexed column writes an entry into every index of
the table on PostgreSQL (a claim, a publication: eight each before this). Now:

* ``ix_delivery_channel_state`` (channel_id, state) is gone: it is the prefix of
  ``ix_delivery_channel_due_instant`` (channel_id, state, due instant), which serves its lookups.
* ``ix_delivery_due_instant`` holds only the rows a daemon may claim (``state IN ('approved',
  'scheduled')``, `campaigns.schema.due_state`, which the queries seeking them write in the same
  words): a claim and a publication add no entry to it, and it no longer grows with history.
* ``ix_delivery_next_collect_at`` holds only rows with metrics due (not NULL): a claim adds none.
* PostgreSQL: fillfactor 90 on the table, so that an update changing no indexed column (the
  lease renewals, the pre-send check) finds room on its page and stays there (HOT), writing
  no index entry. It applies to pages written from now on.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

DUE_INSTANT = sa.text("coalesce(next_attempt_at, due_at)")
DUE = sa.text("state IN ('approved', 'scheduled')")
COLLECTING = sa.text("next_collect_at IS NOT NULL")


def upgrade() -> None:
    # Plain index statements: no copy of the table on SQLite (a batch copy would lose the
    # expression indexes).
    op.drop_index("ix_delivery_channel_state", table_name="delivery")
    op.drop_index("ix_delivery_due_instant", table_name="delivery")
    op.create_index(
        "ix_delivery_due_instant",
        "delivery",
        ["state", DUE_INSTANT],
        sqlite_where=DUE,
        postgresql_where=DUE,
    )
    op.drop_index("ix_delivery_next_collect_at", table_name="delivery")
    op.create_index(
        "ix_delivery_next_collect_at",
        "delivery",
        ["next_collect_at"],
        sqlite_where=COLLECTING,
        postgresql_where=COLLECTING,
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE delivery SET (fillfactor = 90)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE delivery RESET (fillfactor)")
    op.drop_index("ix_delivery_next_collect_at", table_name="delivery")
    op.create_index("ix_delivery_next_collect_at", "delivery", ["next_collect_at"])
    op.drop_index("ix_delivery_due_instant", table_name="delivery")
    op.create_index("ix_delivery_due_instant", "delivery", ["state", DUE_INSTANT])
    op.create_index("ix_delivery_channel_state", "delivery", ["channel_id", "state"])
