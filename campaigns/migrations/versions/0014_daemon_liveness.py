"""daemon identity and liveness (worker.name, alive_until, stop_reason), the wake-up signal;
claims older daemons left in flight count as sent

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Claims made by daemons that never marked their sends: treat them as sent, so neither
    # recovery nor a pause hands them back to be sent again (they are reconciled instead).
    op.execute(
        "UPDATE delivery SET sending_at = COALESCE(claimed_at, updated_at) "
        "WHERE state = 'publishing' AND sending_at IS NULL"
    )
    with op.batch_alter_table("worker", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("alive_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("stop_reason", sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f("ix_worker_name"), ["name"], unique=False)
    op.create_table(
        "wakeup_signal",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("counter", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_wakeup_signal")),
    )


def downgrade() -> None:
    op.drop_table("wakeup_signal")
    with op.batch_alter_table("worker", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_worker_name"))
        batch_op.drop_column("stop_reason")
        batch_op.drop_column("alive_until")
        batch_op.drop_column("name")
