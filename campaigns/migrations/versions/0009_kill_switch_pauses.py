"""kill switch: pauses by scope; when a send began; sends chosen after a resume

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pause",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("paused_by", sa.String(length=200), nullable=False),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resumed_by", sa.String(length=200), nullable=True),
        sa.Column("resumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "scope IN ('all', 'campaign', 'country', 'channel')", name=op.f("ck_pause_scope_valid")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pause")),
    )
    with op.batch_alter_table("pause", schema=None) as batch_op:
        batch_op.create_index("ix_pause_active", ["resumed_at", "scope", "target"], unique=False)

    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sending_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("resumed_from_pause", sa.Integer(), nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE DROP COLUMN (SQLite 3.35+): rebuilding the table would lose the
    # expression indexes, which SQLite's reflection cannot see.
    with op.batch_alter_table("delivery", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("resumed_from_pause")
        batch_op.drop_column("sending_at")

    with op.batch_alter_table("pause", schema=None) as batch_op:
        batch_op.drop_index("ix_pause_active")

    op.drop_table("pause")
