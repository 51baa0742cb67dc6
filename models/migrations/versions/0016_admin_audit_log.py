"""The admin audit log: ``admin_actions``, one row per admin action (who, what, on what, why),
written in the action's own transaction.

Revision ID: 0016
Revises: 0015b
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0016"
down_revision = "0015b"
branch_labels = None
depends_on = None

ACTIONS = ("user_suspended", "user_reinstated", "booking_refunded", "booking_cancelled", "dead_letter_retried")
TARGETS = ("user", "booking", "dead_letter")


def upgrade() -> None:
    op.create_table(
        "admin_actions",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("admin_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target_type", sa.String(16), nullable=False),
        sa.Column("target_id", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("details", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(f"action IN ({', '.join(repr(a) for a in ACTIONS)})",
                           name=op.f("ck_admin_actions_action_valid")),
        sa.CheckConstraint(f"target_type IN ({', '.join(repr(t) for t in TARGETS)})",
                           name=op.f("ck_admin_actions_target_valid")),
        sa.ForeignKeyConstraint(["admin_id"], ["users.id"], name=op.f("fk_admin_actions_admin_id_users"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_actions")),
    )
    op.create_index(op.f("ix_admin_actions_admin_id"), "admin_actions", ["admin_id"])
    op.create_index("ix_admin_actions_target", "admin_actions", ["target_type", "target_id"])


def downgrade() -> None:
    op.drop_index("ix_admin_actions_target", table_name="admin_actions")
    op.drop_index(op.f("ix_admin_actions_admin_id"), table_name="admin_actions")
    op.drop_table("admin_actions")
