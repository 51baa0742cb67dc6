"""Bookings (a hold is a booking in status ``held``), their history, and the
constraint that makes double booking impossible."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ColumnElement,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    and_,
    or_,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSTZRANGE, UUID, ExcludeConstraint, Range
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, created_at, updated_at, uuid_pk


class BookingStatus(enum.StrEnum):
    """Where a booking is in its life (a hold is a booking in status ``held``)."""

    HELD = "held"
    CONFIRMED = "confirmed"
    COMPLETED = "completed"
    EXPIRED = "expired"
    RELEASED = "released"
    CANCELLED = "cancelled"


class PaymentStatus(enum.StrEnum):
    """Where a booking's payment is (``None`` before checkout)."""

    REQUIRES_PAYMENT = "requires_payment"
    PAID = "paid"
    FREE = "free"
    FAILED = "failed"
    CANCELLED = "cancelled"  # the unpaid PaymentIntent was cancelled after the hold ended
    REFUND_PENDING = "refund_pending"
    REFUNDED = "refunded"
    REFUND_FAILED = "refund_failed"  # given up (Stripe refused, or REFUND_MAX_ATTEMPTS): an admin acts
    CREDIT = "credit"  # paid with a package credit (credit_purchase_id): no money moved for it


class PaymentProvider(enum.StrEnum):
    FREE = "free"
    TEST = "test"
    STRIPE = "stripe"
    CREDIT = "credit"  # a package credit (models/package.py)


# Statuses whose money has been received (a failure report after them is stale).
PAID_STATUSES = frozenset({PaymentStatus.PAID, PaymentStatus.REFUND_PENDING, PaymentStatus.REFUNDED,
                           PaymentStatus.REFUND_FAILED})

# Rows in these statuses are guarded by the exclusion constraint (a lapsed ``held`` row too,
# until something moves it to ``expired``: see LIVE_SQL for what blocks at a given time).
LIVE_STATUSES = (BookingStatus.HELD, BookingStatus.CONFIRMED)
# A trial booking in these statuses uses up the student's trial with that tutor.
TRIAL_USED_STATUSES = (BookingStatus.HELD, BookingStatus.CONFIRMED, BookingStatus.COMPLETED)

# held -> confirmed -> completed; held -> expired | released; confirmed -> cancelled.
# expired -> confirmed is the late-payment re-claim (payment landed after the hold lapsed
# while the time was still free). Enforced again by a trigger (migration 0002).
TRANSITIONS: dict[BookingStatus, frozenset[BookingStatus]] = {
    BookingStatus.HELD: frozenset({BookingStatus.CONFIRMED, BookingStatus.EXPIRED, BookingStatus.RELEASED}),
    BookingStatus.CONFIRMED: frozenset({BookingStatus.COMPLETED, BookingStatus.CANCELLED}),
    BookingStatus.COMPLETED: frozenset(),
    BookingStatus.EXPIRED: frozenset({BookingStatus.CONFIRMED}),
    BookingStatus.RELEASED: frozenset(),
    BookingStatus.CANCELLED: frozenset(),
}


def _sql_list(values: Any) -> str:
    return ", ".join(f"'{v}'" for v in values)


# "A booking is live at :now": confirmed, or held and not yet expired. Live bookings block
# their guarded range; a lapsed hold never does, whether or not a sweep has marked it expired.
# The one definition: LIVE_SQL for hand-written statements (``b`` is the bookings alias, ``:now``
# the instant), Booking.live_at() for ORM/Core queries, Booking.is_live() for loaded rows, and
# migration 0004's place_hold() (held to the same answers by its tests).
def live_sql(now: str = ":now", alias: str = "b") -> str:
    """The live rule as SQL over ``alias`` with the instant bound as ``now`` (``:now``, ``$4``…)."""
    return f"({alias}.status = 'confirmed' OR ({alias}.status = 'held' AND {alias}.expires_at > {now}))"


LIVE_SQL = live_sql()
# Its complement among held rows: a hold whose time ran out (expired in all but name).
LAPSED_SQL = "(b.status = 'held' AND b.expires_at <= :now)"


class Booking(Base):
    __tablename__ = "bookings"
    __table_args__ = (
        CheckConstraint(f"status IN ({_sql_list(BookingStatus)})", name="status_valid"),
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
            where=text(f"status IN ({_sql_list(LIVE_STATUSES)})"),
        ),
        Index("ix_bookings_student_status", "student_id", "status"),
        Index("ix_bookings_tutor_start", "tutor_id", "start_at"),
        Index("ix_bookings_held_expiry", "expires_at", postgresql_where=text("status = 'held'")),
        # The per-student hold limit on the hold path (migration 0004).
        Index("ix_bookings_student_held", "student_id", "expires_at", postgresql_where=text("status = 'held'")),
        # The per-tutor hold limit (migration 0006's hold_hoarding_refusal()).
        Index("ix_bookings_tutor_held", "tutor_id", "expires_at", postgresql_where=text("status = 'held'")),
        # A student's trial with a tutor is used once: at most one trial booking per pair that
        # is held, confirmed or completed (a released, expired or cancelled one gives it back).
        # A lapsed trial hold still counts until it is marked expired (server/bookings/trials.py
        # does that first, under the student's lock).
        Index("uq_bookings_one_trial", "student_id", "tutor_id", unique=True,
              postgresql_where=text(f"is_trial AND status IN ({_sql_list(TRIAL_USED_STATUSES)})")),
        Index("uq_bookings_payment_intent_id", "payment_intent_id", unique=True,
              postgresql_where=text("series_id IS NULL")),
        Index("ix_bookings_series", "series_id", postgresql_where=text("series_id IS NOT NULL")),
        Index("ix_bookings_refund_failed", "updated_at", postgresql_where=text("payment_status = 'refund_failed'")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tutor_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id"), nullable=False)
    student_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id"), nullable=False)
    status: Mapped[BookingStatus] = mapped_column(String(16), nullable=False)
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
    # The last moment a student's cancellation is refunded in full (None: the policy's lead
    # before start_at). Rescheduling may move it earlier, never later (migration 0005).
    refund_deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    refund_attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0", default=0)
    is_trial: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default="false")
    payment_provider: Mapped[PaymentProvider | None] = mapped_column(String(16))
    # One PaymentIntent per booking, except a weekly series' occurrences, which share the
    # series' one (uq_bookings_payment_intent_id is partial: WHERE series_id IS NULL).
    payment_intent_id: Mapped[str | None] = mapped_column(String(255))
    payment_status: Mapped[PaymentStatus | None] = mapped_column(String(32))
    # The package purchase whose credit paid for the lesson (payment_provider ``credit``).
    credit_purchase_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True),
                                                                ForeignKey("package_purchases.id"))
    # The weekly series the booking is an occurrence of (``lesson_series``), if any.
    series_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("lesson_series.id"))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

    @classmethod
    def live_at(cls, now: datetime) -> ColumnElement[bool]:
        """LIVE_SQL as a clause: confirmed, or held and not yet expired at ``now``."""
        return or_(cls.status == BookingStatus.CONFIRMED,
                   and_(cls.status == BookingStatus.HELD, cls.expires_at > now))

    @classmethod
    def lapsed_at(cls, now: datetime) -> ColumnElement[bool]:
        """LAPSED_SQL as a clause: held, but its time ran out by ``now``."""
        return and_(cls.status == BookingStatus.HELD, cls.expires_at <= now)

    def is_live(self, now: datetime) -> bool:
        """LIVE_SQL for a loaded row."""
        return self.status == BookingStatus.CONFIRMED or (
            self.status == BookingStatus.HELD and self.expires_at is not None and self.expires_at > now)

    def status_at(self, now: datetime) -> BookingStatus:
        """The status as callers see it at ``now``: a lapsed hold reads as ``expired``."""
        if self.status == BookingStatus.HELD and not self.is_live(now):
            return BookingStatus.EXPIRED
        return self.status


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


class LessonSeries(Base):
    """A student's weekly lessons with a tutor: the same wall-clock time in the tutor's zone
    every week, held, paid and cancelled together (each occurrence is a booking with
    ``series_id``). The student's zone is kept to tell which occurrences move on their clock."""

    __tablename__ = "lesson_series"
    __table_args__ = (
        CheckConstraint("weeks BETWEEN 2 AND 26", name="weeks_range"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    student_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id"), nullable=False,
                                                  index=True)
    tutor_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id"), nullable=False)
    # The first occurrence (the others follow at its wall-clock time in the tutor's zone).
    first_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    weeks: Mapped[int] = mapped_column(Integer, nullable=False)
    tutor_timezone: Mapped[str] = mapped_column(String(64), nullable=False)
    student_timezone: Mapped[str] = mapped_column(String(64), nullable=False)
    # The one Stripe PaymentIntent that pays every occurrence (set by checkout).
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = created_at()
