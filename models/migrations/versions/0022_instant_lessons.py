"""Instant lessons: the tutor's "available now" toggle, students' instant requests and the
tutors each was offered to.

Revision ID: 0022_instant_lessons
Revises: 0020_notifications
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0022_instant_lessons"
down_revision = "0020_notifications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "instant_availability",
        sa.Column("tutor_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("available", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["tutor_id"], ["tutor_profiles.user_id"],
                                name=op.f("fk_instant_availability_tutor_id_tutor_profiles"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tutor_id", name=op.f("pk_instant_availability")),
    )
    op.create_table(
        "instant_requests",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("student_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tutor_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("booking_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('pending', 'accepted', 'expired', 'cancelled')",
                           name=op.f("ck_instant_requests_status_valid")),
        sa.CheckConstraint("minutes > 0", name=op.f("ck_instant_requests_minutes_positive")),
        sa.CheckConstraint("(status = 'accepted') = (tutor_id IS NOT NULL)",
                           name=op.f("ck_instant_requests_accepted_has_tutor")),
        sa.ForeignKeyConstraint(["student_id"], ["users.id"], name=op.f("fk_instant_requests_student_id_users"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tutor_id"], ["users.id"], name=op.f("fk_instant_requests_tutor_id_users")),
        sa.ForeignKeyConstraint(["booking_id"], ["bookings.id"], name=op.f("fk_instant_requests_booking_id_bookings"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instant_requests")),
    )
    op.create_index("uq_instant_requests_one_pending", "instant_requests", ["student_id"], unique=True,
                    postgresql_where=sa.text("status = 'pending'"))
    op.create_index("ix_instant_requests_pending_expiry", "instant_requests", ["expires_at"],
                    postgresql_where=sa.text("status = 'pending'"))
    op.create_table(
        "instant_offers",
        sa.Column("request_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("tutor_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("price_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["instant_requests.id"],
                                name=op.f("fk_instant_offers_request_id_instant_requests"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tutor_id"], ["users.id"], name=op.f("fk_instant_offers_tutor_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("request_id", "tutor_id", name=op.f("pk_instant_offers")),
    )
    op.create_index(op.f("ix_instant_offers_tutor_id"), "instant_offers", ["tutor_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_instant_offers_tutor_id"), table_name="instant_offers")
    op.drop_table("instant_offers")
    op.drop_index("ix_instant_requests_pending_expiry", table_name="instant_requests")
    op.drop_index("uq_instant_requests_one_pending", table_name="instant_requests")
    op.drop_table("instant_requests")
    op.drop_table("instant_availability")
