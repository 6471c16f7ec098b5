"""workspace identity; URLs that are not web addresses removed

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from campaigns.links import is_web_url

    workspace = op.create_table(
        "workspace",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspace")),
    )
    now = datetime.now(UTC)
    if op.get_bind().dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # the store's UTCDateTime convention on SQLite
    op.bulk_insert(workspace, [{"id": str(uuid.uuid4()), "created_at": now}])
    # Before 0004 any string a platform or an operator gave was stored as a post's URL; one that
    # is not a web address (javascript:, CR/LF) must not reach reports and calendars.
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, remote_url FROM delivery WHERE remote_url IS NOT NULL"))
    unsafe = [row.id for row in rows if not is_web_url(row.remote_url)]
    for delivery_id in unsafe:
        bind.execute(
            sa.text("UPDATE delivery SET remote_url = NULL WHERE id = :id"), {"id": delivery_id}
        )


def downgrade() -> None:
    op.drop_table("workspace")
