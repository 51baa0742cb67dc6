"""Trial lessons: a tutor's one trial offer (``trial_minutes``, ``trial_price_cents``) and
``bookings.is_trial``, with ``uq_bookings_one_trial`` making "a student's trial with a tutor
is used once" a database fact under concurrency.

Revision ID: 0015b
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015b"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tutor_profiles", sa.Column("trial_minutes", sa.Integer(), nullable=True))
    op.add_column("tutor_profiles", sa.Column("trial_price_cents", sa.Integer(), nullable=True))
    op.create_check_constraint(op.f("ck_tutor_profiles_trial_complete"), "tutor_profiles",
                               "(trial_minutes IS NULL) = (trial_price_cents IS NULL)")
    op.create_check_constraint(op.f("ck_tutor_profiles_trial_minutes_positive"), "tutor_profiles",
                               "trial_minutes IS NULL OR trial_minutes > 0")
    op.create_check_constraint(op.f("ck_tutor_profiles_trial_price_non_negative"), "tutor_profiles",
                               "trial_price_cents IS NULL OR trial_price_cents >= 0")
    op.add_column("bookings", sa.Column("is_trial", sa.Boolean(), server_default="false", nullable=False))
    op.create_index("uq_bookings_one_trial", "bookings", ["student_id", "tutor_id"], unique=True,
                    postgresql_where=sa.text("is_trial AND status IN ('held', 'confirmed', 'completed')"))


def downgrade() -> None:
    op.drop_index("uq_bookings_one_trial", table_name="bookings")
    op.drop_column("bookings", "is_trial")
    op.drop_constraint(op.f("ck_tutor_profiles_trial_price_non_negative"), "tutor_profiles", type_="check")
    op.drop_constraint(op.f("ck_tutor_profiles_trial_minutes_positive"), "tutor_profiles", type_="check")
    op.drop_constraint(op.f("ck_tutor_profiles_trial_complete"), "tutor_profiles", type_="check")
    op.drop_column("tutor_profiles", "trial_price_cents")
    op.drop_column("tutor_profiles", "trial_minutes")
