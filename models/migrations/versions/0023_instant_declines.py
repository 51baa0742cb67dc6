"""Instant lessons: a tutor can decline an offer; a request every tutor declined ends ``declined``.

Revision ID: 0023_instant_declines
Revises: 0022_instant_lessons
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023_instant_declines"
down_revision = "0022_instant_lessons"
branch_labels = None
depends_on = None

_BEFORE = "'pending', 'accepted', 'expired', 'cancelled'"


def upgrade() -> None:
    op.add_column("instant_offers", sa.Column("declined_at", sa.DateTime(timezone=True), nullable=True))
    op.drop_constraint(op.f("ck_instant_requests_status_valid"), "instant_requests", type_="check")
    op.create_check_constraint(op.f("ck_instant_requests_status_valid"), "instant_requests",
                               f"status IN ({_BEFORE}, 'declined')")


def downgrade() -> None:
    # A declined request reads as what it would have become: nobody took it before the deadline.
    op.execute("UPDATE instant_requests SET status = 'expired' WHERE status = 'declined'")
    op.drop_constraint(op.f("ck_instant_requests_status_valid"), "instant_requests", type_="check")
    op.create_check_constraint(op.f("ck_instant_requests_status_valid"), "instant_requests", f"status IN ({_BEFORE})")
    op.drop_column("instant_offers", "declined_at")
