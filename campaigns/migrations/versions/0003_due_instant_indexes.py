"""indexes on the claimable instant (coalesce(next_attempt_at, due_at))

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

DUE_INSTANT = sa.text("coalesce(next_attempt_at, due_at)")


def upgrade() -> None:
    op.create_index("ix_delivery_due_instant", "delivery", ["state", DUE_INSTANT])
    op.create_index(
        "ix_delivery_channel_due_instant", "delivery", ["channel_id", "state", DUE_INSTANT]
    )


def downgrade() -> None:
    op.drop_index("ix_delivery_channel_due_instant", table_name="delivery")
    op.drop_index("ix_delivery_due_instant", table_name="delivery")
