"""Tutor profiles, subjects, weekly availability and date overrides."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, created_at, updated_at

# Search sorts by a Bayesian average: every tutor starts with RATING_PRIOR_WEIGHT imaginary
# reviews of RATING_PRIOR_MEAN, so one 5-star review does not outrank fifty 4.8s, and an
# unrated tutor sits at the prior mean. Stored in ``rating_score`` (maintained with the
# review counts in the review's transaction); changing these needs a migration recomputing it.
RATING_PRIOR_MEAN = 4.0
RATING_PRIOR_WEIGHT = 5


def rating_score_sql(rating_sum: str, rating_count: str) -> str:
    """The Bayesian average as SQL over the given sum and count expressions."""
    return (f"(({RATING_PRIOR_WEIGHT} * {RATING_PRIOR_MEAN} + ({rating_sum}))::float8"
            f" / ({RATING_PRIOR_WEIGHT} + ({rating_count})))")


def rating_score(rating_sum: int, rating_count: int) -> float:
    """:func:`rating_score_sql` for values in hand."""
    return (RATING_PRIOR_WEIGHT * RATING_PRIOR_MEAN + rating_sum) / (RATING_PRIOR_WEIGHT + rating_count)


class Subject(Base):
    __tablename__ = "subjects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)


class TutorSubject(Base):
    __tablename__ = "tutor_subjects"

    tutor_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True),
                                                ForeignKey("tutor_profiles.user_id", ondelete="CASCADE"),
                                                primary_key=True)
    subject_id: Mapped[int] = mapped_column(Integer, ForeignKey("subjects.id", ondelete="CASCADE"),
                                            primary_key=True, index=True)


class TutorProfile(Base):
    __tablename__ = "tutor_profiles"
    __table_args__ = (
        CheckConstraint("hourly_rate_cents >= 0", name="rate_non_negative"),
        CheckConstraint("min_notice_minutes >= 0", name="min_notice_non_negative"),
        CheckConstraint("buffer_minutes >= 0", name="buffer_non_negative"),
        CheckConstraint("max_advance_days >= 1", name="max_advance_positive"),
        CheckConstraint("cardinality(lesson_minutes) >= 1", name="lesson_minutes_present"),
        Index("ix_tutor_profiles_rate", "hourly_rate_cents"),
        Index("ix_tutor_profiles_rating", "rating_score"),
        CheckConstraint("rating_count >= 0 AND rating_sum >= rating_count AND rating_sum <= 5 * rating_count",
                        name="rating_totals_valid"),
        CheckConstraint("(trial_minutes IS NULL) = (trial_price_cents IS NULL)", name="trial_complete"),
        CheckConstraint("trial_minutes IS NULL OR trial_minutes > 0", name="trial_minutes_positive"),
        CheckConstraint("trial_price_cents IS NULL OR trial_price_cents >= 0", name="trial_price_non_negative"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"),
                                               primary_key=True)
    headline: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    bio: Mapped[str] = mapped_column(Text, nullable=False, default="")
    hourly_rate_cents: Mapped[int] = mapped_column(Integer, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="USD")
    timezone: Mapped[str] = mapped_column(String(64), nullable=False)
    lesson_minutes: Mapped[list[int]] = mapped_column(ARRAY(Integer), nullable=False)
    min_notice_minutes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    buffer_minutes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_advance_days: Mapped[int] = mapped_column(Integer, nullable=False, default=60)
    # Computed from visible reviews only (server/reviews keeps them in step in the review's
    # transaction): the mean, the count, their sum, and the Bayesian score search sorts by.
    rating_avg: Mapped[float] = mapped_column(Float, nullable=False, default=0.0, server_default="0")
    rating_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    rating_sum: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    rating_score: Mapped[float] = mapped_column(Float, nullable=False, default=RATING_PRIOR_MEAN,
                                                server_default=str(RATING_PRIOR_MEAN))
    # The one trial lesson the tutor offers (both null: none); see bookings.is_trial.
    trial_minutes: Mapped[int | None] = mapped_column(Integer)
    trial_price_cents: Mapped[int | None] = mapped_column(Integer)
    avatar_key: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default="true")
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

    subjects: Mapped[list[Subject]] = relationship(secondary="tutor_subjects", lazy="raise", order_by=Subject.slug)


class AvailabilityRule(Base):
    """Weekly hours in the tutor's own time zone: minutes after local midnight."""

    __tablename__ = "availability_rules"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_valid"),
        CheckConstraint("start_minute >= 0 AND end_minute <= 1440 AND start_minute < end_minute", name="window_valid"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    tutor_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True),
                                                ForeignKey("tutor_profiles.user_id", ondelete="CASCADE"),
                                                nullable=False, index=True)
    weekday: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    start_minute: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    end_minute: Mapped[int] = mapped_column(SmallInteger, nullable=False)


class AvailabilityOverride(Base):
    """A date whose hours replace the weekly rules; no window means a day off."""

    __tablename__ = "availability_overrides"
    __table_args__ = (
        CheckConstraint(
            "(start_minute IS NULL AND end_minute IS NULL) OR "
            "(start_minute >= 0 AND end_minute <= 1440 AND start_minute < end_minute)",
            name="window_valid",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    tutor_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True),
                                                ForeignKey("tutor_profiles.user_id", ondelete="CASCADE"),
                                                nullable=False, index=True)
    date: Mapped[date] = mapped_column(Date, nullable=False)
    start_minute: Mapped[int | None] = mapped_column(SmallInteger)
    end_minute: Mapped[int | None] = mapped_column(SmallInteger)


class TutorVersion(Base):
    """The per-tutor availability version: rises by exactly one per published change."""

    __tablename__ = "tutor_versions"

    tutor_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"),
                                                primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
