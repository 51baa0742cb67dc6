"""The line behind a taken slot: students waiting for one exact slot of one tutor.

When the hold or booking in front of the line ends, the first eligible student in line gets a
hold on that slot in the same transaction (``server/bookings/handoff.py``, the one place the
hand-off lives). ``seq`` is the line's order (an identity: first come, first served);
``uq_waitlist_one_active`` keeps a student to one active entry per slot.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Identity, Index, String, Text, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, created_at, updated_at, uuid_pk


class WaitlistStatus(enum.StrEnum):
    """Where an entry is: ``waiting`` in line; ``offered`` a hold (``booking_id``) to pay within
    ``WAITLIST_OFFER_SECONDS``; then ``fulfilled`` (paid), ``lapsed`` (the offer ran out, or the
    student was skipped as ineligible: see ``reason``) or ``left`` (the student left the line)."""

    WAITING = "waiting"
    OFFERED = "offered"
    FULFILLED = "fulfilled"
    LAPSED = "lapsed"
    LEFT = "left"


ACTIVE_WAITLIST_STATUSES = (WaitlistStatus.WAITING, WaitlistStatus.OFFERED)


class SkipReason(enum.StrEnum):
    """Why a waiting student was passed over at a hand-off (their entry becomes ``lapsed``)."""

    HOLD_LIMIT = "hold_limit"  # they hold MAX_ACTIVE_HOLDS slots (or HOLD_LIMIT_PER_TUTOR with this tutor)
    SUSPENDED = "suspended"  # their account is suspended
    OFFER_LAPSED = "offer_lapsed"  # not a skip: they were offered the slot and did not pay in time


def _sql_list(values: type[enum.StrEnum] | tuple[enum.StrEnum, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def held_for_line_sql(alias: str = "b") -> str:
    """A hold that has lapsed but has students waiting for a slot its lesson meets: the slot
    still reads as held (``held_until`` already past) until the hand-off, due at the sweep's
    next pass or the next hold or reschedule that touches it, gives it to the first in line.
    Slot listings and watchers' changes OR this onto the live rule (``models.booking.live_sql``),
    so a lapse in front of a line never shows the slot open; nothing else blocks on it (the
    hand-off itself moves the lapsed hold aside)."""
    return (f"({alias}.status = 'held' AND EXISTS (SELECT 1 FROM waitlist_entries w "
            f"WHERE w.tutor_id = {alias}.tutor_id AND w.status = 'waiting' "
            f"AND w.start_at < {alias}.end_at AND w.end_at > {alias}.start_at))")


class WaitlistEntry(Base):
    __tablename__ = "waitlist_entries"
    __table_args__ = (
        CheckConstraint(f"status IN ({_sql_list(WaitlistStatus)})", name="status_valid"),
        CheckConstraint("end_at > start_at", name="time_order"),
        CheckConstraint("status <> 'offered' OR booking_id IS NOT NULL", name="offer_has_booking"),
        Index("uq_waitlist_one_active", "student_id", "tutor_id", "start_at", "end_at", unique=True,
              postgresql_where=text(f"status IN ({_sql_list(ACTIVE_WAITLIST_STATUSES)})")),
        # The line of one slot, in order (the hand-off reads it under the tutor's lock).
        Index("ix_waitlist_line", "tutor_id", "start_at", "seq",
              postgresql_where=text(f"status IN ({_sql_list(ACTIVE_WAITLIST_STATUSES)})")),
        Index("ix_waitlist_booking", "booking_id", postgresql_where=text("booking_id IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), nullable=False, unique=True)
    tutor_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"),
                                                nullable=False)
    student_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"),
                                                  nullable=False, index=True)
    start_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    end_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    status: Mapped[WaitlistStatus] = mapped_column(String(16), nullable=False)
    # The hold offered (set with ``offered``; kept after it is fulfilled or lapsed).
    booking_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True),
                                                         ForeignKey("bookings.id", ondelete="SET NULL"))
    # Why a ``lapsed`` entry lapsed (SkipReason).
    reason: Mapped[str | None] = mapped_column(Text)
    offered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
