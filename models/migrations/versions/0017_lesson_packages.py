"""Lesson packages and credits: ``lesson_packages`` (a tutor's offers), ``package_purchases``
(a student's purchase and its credit balance, kept within ``0..lessons`` by a check, so the
last credit cannot be spent twice), ``credit_movements`` (one spend and at most one return per
booking) and ``bookings.credit_purchase_id``.

Revision ID: 0017_lesson_packages
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0017_lesson_packages"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lesson_packages",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("tutor_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("lessons", sa.Integer(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("price_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("lessons BETWEEN 2 AND 50", name=op.f("ck_lesson_packages_lessons_range")),
        sa.CheckConstraint("minutes > 0", name=op.f("ck_lesson_packages_minutes_positive")),
        sa.CheckConstraint("price_cents > 0", name=op.f("ck_lesson_packages_price_positive")),
        sa.ForeignKeyConstraint(["tutor_id"], ["users.id"], name=op.f("fk_lesson_packages_tutor_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lesson_packages")),
    )
    op.create_index(op.f("ix_lesson_packages_tutor_id"), "lesson_packages", ["tutor_id"])
    op.create_index("uq_lesson_packages_active_terms", "lesson_packages",
                    ["tutor_id", "lessons", "minutes", "price_cents"], unique=True,
                    postgresql_where=sa.text("active"))

    op.create_table(
        "package_purchases",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("package_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("student_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("tutor_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("lessons", sa.Integer(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("price_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("payment_provider", sa.String(16), nullable=True),
        sa.Column("payment_intent_id", sa.String(255), nullable=True),
        sa.Column("remaining", sa.Integer(), server_default="0", nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('pending', 'paid', 'failed')", name=op.f("ck_package_purchases_status_valid")),
        sa.CheckConstraint("remaining >= 0 AND remaining <= lessons",
                           name=op.f("ck_package_purchases_remaining_within_lessons")),
        sa.CheckConstraint("status = 'paid' OR remaining = 0", name=op.f("ck_package_purchases_credits_only_when_paid")),
        sa.CheckConstraint("status <> 'paid' OR (paid_at IS NOT NULL AND expires_at IS NOT NULL)",
                           name=op.f("ck_package_purchases_paid_has_expiry")),
        sa.ForeignKeyConstraint(["package_id"], ["lesson_packages.id"],
                                name=op.f("fk_package_purchases_package_id_lesson_packages")),
        sa.ForeignKeyConstraint(["student_id"], ["users.id"], name=op.f("fk_package_purchases_student_id_users"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tutor_id"], ["users.id"], name=op.f("fk_package_purchases_tutor_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_package_purchases")),
        sa.UniqueConstraint("payment_intent_id", name=op.f("uq_package_purchases_payment_intent_id")),
    )
    op.create_index(op.f("ix_package_purchases_package_id"), "package_purchases", ["package_id"])
    op.create_index("ix_package_purchases_credits", "package_purchases",
                    ["student_id", "tutor_id", "minutes", "expires_at"],
                    postgresql_where=sa.text("status = 'paid' AND remaining > 0"))
    op.create_index("ix_package_purchases_reminders", "package_purchases", ["expires_at"],
                    postgresql_where=sa.text("status = 'paid' AND remaining > 0 AND reminded_at IS NULL"))

    op.create_table(
        "credit_movements",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("purchase_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("booking_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("kind IN ('spend', 'return')", name=op.f("ck_credit_movements_kind_valid")),
        sa.ForeignKeyConstraint(["purchase_id"], ["package_purchases.id"],
                                name=op.f("fk_credit_movements_purchase_id_package_purchases")),
        sa.ForeignKeyConstraint(["booking_id"], ["bookings.id"], name=op.f("fk_credit_movements_booking_id_bookings"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_movements")),
    )
    op.create_index(op.f("ix_credit_movements_purchase_id"), "credit_movements", ["purchase_id"])
    op.create_index("uq_credit_movements_booking_kind", "credit_movements", ["booking_id", "kind"], unique=True)

    op.add_column("bookings", sa.Column("credit_purchase_id", postgresql.UUID(as_uuid=True), nullable=True))
    op.create_foreign_key(op.f("fk_bookings_credit_purchase_id_package_purchases"), "bookings", "package_purchases",
                          ["credit_purchase_id"], ["id"])


def downgrade() -> None:
    op.drop_constraint(op.f("fk_bookings_credit_purchase_id_package_purchases"), "bookings", type_="foreignkey")
    op.drop_column("bookings", "credit_purchase_id")
    op.drop_table("credit_movements")
    op.drop_table("package_purchases")
    op.drop_table("lesson_packages")
