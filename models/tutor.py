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
        Index("ix_tutor_profiles_rating", "rating_avg"),
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
    rating_avg: Mapped[float] = mapped_column(Float, nullable=False, default=0.0, server_default="0")
    rating_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
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
