"""The waitlist: students in line for one exact taken slot (``waitlist_entries``).

Revision ID: 0025_waitlist
Revises: 0024_messages
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0025_waitlist"
down_revision = "0024_messages"
branch_labels = None
depends_on = None

_ACTIVE = "status IN ('waiting', 'offered')"


def upgrade() -> None:
    op.create_table(
        "waitlist_entries",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("tutor_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("student_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("booking_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('waiting', 'offered', 'fulfilled', 'lapsed', 'left')",
                           name=op.f("ck_waitlist_entries_status_valid")),
        sa.CheckConstraint("end_at > start_at", name=op.f("ck_waitlist_entries_time_order")),
        sa.CheckConstraint("status <> 'offered' OR booking_id IS NOT NULL",
                           name=op.f("ck_waitlist_entries_offer_has_booking")),
        sa.ForeignKeyConstraint(["tutor_id"], ["users.id"], name=op.f("fk_waitlist_entries_tutor_id_users"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["student_id"], ["users.id"], name=op.f("fk_waitlist_entries_student_id_users"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["booking_id"], ["bookings.id"], name=op.f("fk_waitlist_entries_booking_id_bookings"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waitlist_entries")),
        sa.UniqueConstraint("seq", name=op.f("uq_waitlist_entries_seq")),
    )
    op.create_index(op.f("ix_waitlist_entries_student_id"), "waitlist_entries", ["student_id"])
    op.create_index("uq_waitlist_one_active", "waitlist_entries", ["student_id", "tutor_id", "start_at", "end_at"],
                    unique=True, postgresql_where=sa.text(_ACTIVE))
    op.create_index("ix_waitlist_line", "waitlist_entries", ["tutor_id", "start_at", "seq"],
                    postgresql_where=sa.text(_ACTIVE))
    op.create_index("ix_waitlist_booking", "waitlist_entries", ["booking_id"],
                    postgresql_where=sa.text("booking_id IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_waitlist_booking", table_name="waitlist_entries")
    op.drop_index("ix_waitlist_line", table_name="waitlist_entries")
    op.drop_index("uq_waitlist_one_active", table_name="waitlist_entries")
    op.drop_index(op.f("ix_waitlist_entries_student_id"), table_name="waitlist_entries")
    op.drop_table("waitlist_entries")
