"""media store: files by SHA-256, in 1 MiB chunks

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29

Deliveries made before keep their media as absolute paths; the daemon still publishes those
while the files exist, and the next ``elshi campaign apply`` of their campaign stores the files
and turns the paths into references.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "media_blob",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_media_blob")),
    )
    op.create_table(
        "media_chunk",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sha256"],
            ["media_blob.sha256"],
            name=op.f("fk_media_chunk_sha256_media_blob"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("sha256", "seq", name=op.f("pk_media_chunk")),
    )


def downgrade() -> None:
    op.drop_table("media_chunk")
    op.drop_table("media_blob")
