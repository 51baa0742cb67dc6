"""Reviews: one per completed booking (``uq_reviews_booking_id``), the tutor's reply, admin
removal; tutor ratings computed from them (``rating_sum``, the Bayesian ``rating_score`` that
search sorts by). The illustrative seed figures lose their meaning: existing totals are
recomputed from reviews (none yet, so every tutor becomes unrated). The integration sweep's
index also covers ``completed`` events (the review request e-mail).

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

PRIOR_MEAN = 4.0  # models.tutor.RATING_PRIOR_MEAN at this revision
PRIOR_WEIGHT = 5  # models.tutor.RATING_PRIOR_WEIGHT

OLD_SWEPT = "kind IN ('confirmed', 'rescheduled', 'cancelled', 'hold_expiring')"
NEW_SWEPT = "kind IN ('confirmed', 'rescheduled', 'cancelled', 'hold_expiring', 'completed')"


def upgrade() -> None:
    op.create_table(
        "reviews",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("booking_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("tutor_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("student_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_by", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("removed_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_reviews_rating_range")),
        sa.CheckConstraint("(reply IS NULL) = (replied_at IS NULL)", name=op.f("ck_reviews_reply_has_time")),
        sa.CheckConstraint("(removed_at IS NULL) = (removed_by IS NULL)", name=op.f("ck_reviews_removal_has_actor")),
        sa.ForeignKeyConstraint(["booking_id"], ["bookings.id"], name=op.f("fk_reviews_booking_id_bookings"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tutor_id"], ["users.id"], name=op.f("fk_reviews_tutor_id_users")),
        sa.ForeignKeyConstraint(["student_id"], ["users.id"], name=op.f("fk_reviews_student_id_users")),
        sa.ForeignKeyConstraint(["removed_by"], ["users.id"], name=op.f("fk_reviews_removed_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.UniqueConstraint("booking_id", name=op.f("uq_reviews_booking_id")),
    )
    op.create_index("ix_reviews_student_id", "reviews", ["student_id"])
    op.create_index("ix_reviews_tutor_visible", "reviews", ["tutor_id", "created_at", "id"],
                    postgresql_where=sa.text("removed_at IS NULL"))

    op.add_column("tutor_profiles", sa.Column("rating_sum", sa.Integer(), server_default="0", nullable=False))
    op.add_column("tutor_profiles", sa.Column("rating_score", sa.Float(), server_default=str(PRIOR_MEAN),
                                              nullable=False))
    # The seed's illustrative figures are not reviews: every tutor starts unrated.
    op.execute(f"UPDATE tutor_profiles SET rating_avg = 0, rating_count = 0, rating_sum = 0, "
               f"rating_score = {PRIOR_MEAN}")
    op.create_check_constraint(op.f("ck_tutor_profiles_rating_totals_valid"), "tutor_profiles",
                               "rating_count >= 0 AND rating_sum >= rating_count AND rating_sum <= 5 * rating_count")
    op.drop_index("ix_tutor_profiles_rating", table_name="tutor_profiles")
    op.create_index("ix_tutor_profiles_rating", "tutor_profiles", ["rating_score"])

    op.drop_index("ix_booking_events_integration_sweep", table_name="booking_events")
    op.create_index("ix_booking_events_integration_sweep", "booking_events", ["created_at"],
                    postgresql_where=sa.text(NEW_SWEPT))


def downgrade() -> None:
    op.drop_index("ix_booking_events_integration_sweep", table_name="booking_events")
    op.create_index("ix_booking_events_integration_sweep", "booking_events", ["created_at"],
                    postgresql_where=sa.text(OLD_SWEPT))
    op.drop_index("ix_tutor_profiles_rating", table_name="tutor_profiles")
    op.create_index("ix_tutor_profiles_rating", "tutor_profiles", ["rating_avg"])
    op.drop_constraint(op.f("ck_tutor_profiles_rating_totals_valid"), "tutor_profiles", type_="check")
    op.drop_column("tutor_profiles", "rating_score")
    op.drop_column("tutor_profiles", "rating_sum")
    op.drop_table("reviews")
