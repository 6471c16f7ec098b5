"""delivery.media_alt (alt texts) and delivery.article (WeChat articles)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("delivery", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("media_alt", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("article", sa.JSON(), nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE DROP COLUMN (SQLite 3.35+): rebuilding the table would lose the
    # expression indexes, which SQLite's reflection cannot see.
    with op.batch_alter_table("delivery", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("article")
        batch_op.drop_column("media_alt")
