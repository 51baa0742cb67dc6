"""Refunds that end and deadlines that hold: ``bookings.refund_deadline`` (the last moment a
student's cancellation is refunded in full; rescheduling may move it earlier, never later) and
``bookings.refund_attempts`` (a refund given up after ``REFUND_MAX_ATTEMPTS`` becomes
``refund_failed`` instead of being retried forever).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("bookings", sa.Column("refund_deadline", sa.DateTime(timezone=True), nullable=True))
    op.add_column("bookings", sa.Column("refund_attempts", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_bookings_refund_failed", "bookings", ["updated_at"],
                    postgresql_where=sa.text("payment_status = 'refund_failed'"))


def downgrade() -> None:
    op.drop_index("ix_bookings_refund_failed", table_name="bookings")
    op.drop_column("bookings", "refund_attempts")
    op.drop_column("bookings", "refund_deadline")
