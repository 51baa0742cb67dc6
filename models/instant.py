"""Instant lessons: a tutor's "available now" toggle, a student's request for a lesson now, and
the tutors it was offered to.

Who is *online* is not stored here: that is the toggle (``instant_availability``) AND at least
one live ``/live`` connection, whose presence is kept in Redis (``server/instant/presence.py``).
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, created_at, updated_at, uuid_pk


class InstantStatus(enum.StrEnum):
    """Where an instant request is: ``pending`` until a tutor accepts it (``accepted``), its
    deadline passes (``expired``), its student withdraws it (``cancelled``) or every tutor it
    was offered to declines it (``declined``)."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    DECLINED = "declined"


def _sql_list(values: type[enum.StrEnum]) -> str:
    return ", ".join(f"'{v}'" for v in values)


# A pending request whose deadline has passed is expired in all but name (as a lapsed hold is):
# it can no longer be accepted, and reads as ``expired``; the sweep only marks it and tells.
LAPSED_REQUEST_SQL = "(r.status = 'pending' AND r.expires_at <= :now)"


class InstantAvailability(Base):
    """A tutor's "available now" toggle (no row: off)."""

    __tablename__ = "instant_availability"

    tutor_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True),
                                                ForeignKey("tutor_profiles.user_id", ondelete="CASCADE"),
                                                primary_key=True)
    available: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default="false")
    updated_at: Mapped[datetime] = updated_at()


class InstantRequest(Base):
    """A student's request for a lesson starting now, in one subject, of one length.

    ``uq_instant_requests_one_pending`` keeps a student to one pending request at a time (a
    lapsed one is marked expired before a new one is inserted). Accepting is a conditional
    update of ``status`` under the row lock, so exactly one tutor wins.
    """

    __tablename__ = "instant_requests"
    __table_args__ = (
        CheckConstraint(f"status IN ({_sql_list(InstantStatus)})", name="status_valid"),
        CheckConstraint("minutes > 0", name="minutes_positive"),
        # booking_id too, until housekeeping purges an old unpaid hold (ON DELETE SET NULL).
        CheckConstraint("(status = 'accepted') = (tutor_id IS NOT NULL)", name="accepted_has_tutor"),
        Index("uq_instant_requests_one_pending", "student_id", unique=True,
              postgresql_where=text("status = 'pending'")),
        Index("ix_instant_requests_pending_expiry", "expires_at", postgresql_where=text("status = 'pending'")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    student_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"),
                                                  nullable=False)
    subject: Mapped[str] = mapped_column(String(64), nullable=False)
    minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=InstantStatus.PENDING)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    tutor_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id"))
    booking_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("bookings.id",
                                                                                        ondelete="SET NULL"))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()

    def status_at(self, now: datetime) -> InstantStatus:
        """The status as the API shows it: a pending request past its deadline is expired."""
        if self.status == InstantStatus.PENDING and self.expires_at <= now:
            return InstantStatus.EXPIRED
        return InstantStatus(self.status)


class InstantOffer(Base):
    """One tutor a request was offered to (who may accept it until they decline it, and who
    hears how it ended). Offers are made when the request is created and, while it is pending,
    to each matching tutor who comes online later."""

    __tablename__ = "instant_offers"

    request_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True),
                                                  ForeignKey("instant_requests.id", ondelete="CASCADE"),
                                                  primary_key=True)
    tutor_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"),
                                                primary_key=True, index=True)
    price_cents: Mapped[int] = mapped_column(Integer, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    declined_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
