"""Admins can suspend an account: ``users.suspended_at`` (and why); a partial index for the set
of suspended accounts every API process keeps in memory.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("users", sa.Column("suspended_reason", sa.Text(), nullable=True))
    op.create_index("ix_users_suspended", "users", ["id"], postgresql_where=sa.text("suspended_at IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_users_suspended", table_name="users")
    op.drop_column("users", "suspended_reason")
    op.drop_column("users", "suspended_at")
