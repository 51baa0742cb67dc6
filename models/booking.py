"""Bookings (a hold is a booking in status ``held``), their history, and the
constraint that makes double booking impossible."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB, TSTZRANGE, UUID, ExcludeConstraint, Range
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, created_at, updated_at, uuid_pk

STATUSES = ("held", "confirmed", "completed", "expired", "released", "cancelled")
LIVE_STATUSES = ("held", "confirmed")

# held -> confirmed -> completed; held -> expired | released; confirmed -> cancelled.
# expired -> confirmed is the late-payment re-claim (payment landed after the hold lapsed
# while the time was still free). Enforced again by a trigger (migration 0002).
TRANSITIONS: dict[str, frozenset[str]] = {
    "held": frozenset({"confirmed", "expired", "released"}),
    "confirmed": frozenset({"completed", "cancelled"}),
    "completed": frozenset(),
    "expired": frozenset({"confirmed"}),
    "released": frozenset(),
    "cancelled": frozenset(),
}


class Booking(Base):
    __tablename__ = "bookings"
    __table_args__ = (
        CheckConstraint("status IN ('held', 'confirmed', 'completed', 'expired', 'released', 'cancelled')",
                        name="status_valid"),
        CheckConstraint("end_at > start_at", name="time_order"),
        CheckConstraint("price_cents >= 0", name="price_non_negative"),
        CheckConstraint("status <> 'held' OR expires_at IS NOT NULL", name="held_has_expiry"),
        CheckConstraint("lower(guarded) = start_at AND upper(guarded) >= end_at", name="guard_covers_lesson"),
        # The invariant: no two live bookings of one tutor overlap, buffers included.
        ExcludeConstraint(
            ("tutor_id", "="),
            ("guarded", "&&"),
            name="ex_bookings_no_overlap",
            using="gist",
            where=text("status IN ('held', 'confirmed')"),
        ),
        Index("ix_bookings_student_status", "student_id", "status"),
        Index("ix_bookings_tutor_start", "tutor_id", "start_at"),
        Index("ix_bookings_held_expiry", "expires_at", postgresql_where=text("status = 'held'")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tutor_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id"), nullable=False)
    student_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id"), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    start_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    end_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # [start, end + tutor's buffer): the range the exclusion constraint guards.
    guarded: Mapped[Range[datetime]] = mapped_column(TSTZRANGE, nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    price_cents: Mapped[int] = mapped_column(Integer, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    join_url: Mapped[str | None] = mapped_column(Text)
    cancelled_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id"))
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    refund_cents: Mapped[int | None] = mapped_column(Integer)
    payment_provider: Mapped[str | None] = mapped_column(String(16))
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    payment_status: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class BookingEvent(Base):
    """Append-only history: who did what to a booking, and when."""

    __tablename__ = "booking_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    booking_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("bookings.id", ondelete="CASCADE"),
                                                  nullable=False, index=True)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict, server_default="{}")
    created_at: Mapped[datetime] = created_at()
