"""Weekly lesson series: ``lesson_series`` and ``bookings.series_id``; a series' occurrences
share one PaymentIntent, so ``uq_bookings_payment_intent_id`` becomes a partial unique index
over bookings outside a series.

Revision ID: 0019_lesson_series
Revises: 0018_payout_reconciliation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0019_lesson_series"
down_revision = "0018_payout_reconciliation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lesson_series",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("student_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("tutor_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("first_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("weeks", sa.Integer(), nullable=False),
        sa.Column("tutor_timezone", sa.String(length=64), nullable=False),
        sa.Column("student_timezone", sa.String(length=64), nullable=False),
        sa.Column("payment_intent_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("weeks BETWEEN 2 AND 26", name=op.f("ck_lesson_series_weeks_range")),
        sa.ForeignKeyConstraint(["student_id"], ["users.id"], name=op.f("fk_lesson_series_student_id_users")),
        sa.ForeignKeyConstraint(["tutor_id"], ["users.id"], name=op.f("fk_lesson_series_tutor_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lesson_series")),
        sa.UniqueConstraint("payment_intent_id", name=op.f("uq_lesson_series_payment_intent_id")),
    )
    op.create_index(op.f("ix_lesson_series_student_id"), "lesson_series", ["student_id"])
    op.add_column("bookings", sa.Column("series_id", postgresql.UUID(as_uuid=True), nullable=True))
    op.create_foreign_key(op.f("fk_bookings_series_id_lesson_series"), "bookings", "lesson_series",
                          ["series_id"], ["id"])
    op.create_index("ix_bookings_series", "bookings", ["series_id"], postgresql_where=sa.text("series_id IS NOT NULL"))
    op.drop_constraint("uq_bookings_payment_intent_id", "bookings", type_="unique")
    op.create_index("uq_bookings_payment_intent_id", "bookings", ["payment_intent_id"], unique=True,
                    postgresql_where=sa.text("series_id IS NULL"))


def downgrade() -> None:
    op.drop_index("uq_bookings_payment_intent_id", table_name="bookings")
    op.execute("UPDATE bookings SET payment_intent_id = NULL WHERE series_id IS NOT NULL")
    op.create_unique_constraint("uq_bookings_payment_intent_id", "bookings", ["payment_intent_id"])
    op.drop_index("ix_bookings_series", table_name="bookings")
    op.drop_constraint(op.f("fk_bookings_series_id_lesson_series"), "bookings", type_="foreignkey")
    op.drop_column("bookings", "series_id")
    op.drop_index(op.f("ix_lesson_series_student_id"), table_name="lesson_series")
    op.drop_table("lesson_series")
