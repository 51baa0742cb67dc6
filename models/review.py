"""Reviews of completed lessons: one per booking, a tutor's single reply, admin removal."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, SmallInteger, Text, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, created_at, uuid_pk

MIN_RATING = 1
MAX_RATING = 5


class Review(Base):
    """A student's review of one completed booking.

    ``uq_reviews_booking_id`` makes "review once" a database fact: a second submission (even
    a concurrent one) fails there. A removed review keeps its row (who removed it and why) and
    still counts as the booking's one review, but is hidden and leaves the tutor's rating.
    """

    __tablename__ = "reviews"
    __table_args__ = (
        CheckConstraint(f"rating BETWEEN {MIN_RATING} AND {MAX_RATING}", name="rating_range"),
        CheckConstraint("(reply IS NULL) = (replied_at IS NULL)", name="reply_has_time"),
        CheckConstraint("(removed_at IS NULL) = (removed_by IS NULL)", name="removal_has_actor"),
        # The tutor page's listing: visible reviews of a tutor, newest first.
        Index("ix_reviews_tutor_visible", "tutor_id", "created_at", "id", postgresql_where=text("removed_at IS NULL")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    booking_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("bookings.id", ondelete="CASCADE"),
                                                  nullable=False, unique=True)
    tutor_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id"), nullable=False)
    student_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id"), nullable=False,
                                                  index=True)
    rating: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    comment: Mapped[str | None] = mapped_column(Text)
    reply: Mapped[str | None] = mapped_column(Text)
    replied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    removed_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id"))
    removed_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
