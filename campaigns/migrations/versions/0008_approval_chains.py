"""approval chains: campaign steps, post revisions and authors, per-step decisions

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "post_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "decision IN ('approved', 'rejected')", name=op.f("ck_post_decision_decision_valid")
        ),
        sa.ForeignKeyConstraint(
            ["post_id"], ["post.id"], name=op.f("fk_post_decision_post_id_post"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_decision")),
        sa.UniqueConstraint("post_id", "revision", "step", "actor", name="uq_post_decision_key"),
    )
    with op.batch_alter_table("post_decision", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_post_decision_post_id"), ["post_id"], unique=False)

    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("approval_steps", sa.JSON(), server_default="[]", nullable=False)
        )

    with op.batch_alter_table("post", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revision", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("approved_revision", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("authors", sa.JSON(), server_default="[]", nullable=False))

    # Posts approved before chains existed keep their approval (their revision is 1).
    op.execute("UPDATE post SET approved_revision = 1 WHERE approval = 'approved'")


def downgrade() -> None:
    with op.batch_alter_table("post", schema=None) as batch_op:
        batch_op.drop_column("authors")
        batch_op.drop_column("approved_revision")
        batch_op.drop_column("revision")

    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.drop_column("approval_steps")

    with op.batch_alter_table("post_decision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_post_decision_post_id"))

    op.drop_table("post_decision")
