"""Edge schemas for holds and bookings."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from models.booking import Booking, BookingEvent, BookingStatus, PaymentProvider, PaymentStatus
from server.timestamps import Timestamp


class HoldCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tutor_id: uuid.UUID
    start: Timestamp = Field(description="Lesson start, ISO 8601 with offset.")
    minutes: int = Field(ge=5, le=480, description="Lesson length; one of the tutor's lesson_minutes "
                                                  "(for a trial: the trial's length).")
    trial: bool = Field(default=False, description="Use the tutor's trial offer (`trial` on the profile): the "
                                                   "student's first lesson with the tutor, once, at the trial's "
                                                   "length and price; 409 `trial_used` afterwards.")


class BookingOut(BaseModel):
    id: uuid.UUID
    status: BookingStatus = Field(description="A hold whose expires_at has passed reads as `expired`.")
    tutor_id: uuid.UUID
    student_id: uuid.UUID
    tutor_name: str | None = None
    student_name: str | None = None
    start: datetime
    end: datetime
    minutes: int
    expires_at: datetime | None = None
    price_cents: int
    currency: str
    join_url: str | None = None
    cancelled_by: uuid.UUID | None = None
    cancel_reason: str | None = None
    refund_cents: int | None = None
    payment_status: PaymentStatus | None = None
    trial: bool = Field(default=False, description="A trial lesson (at the tutor's trial terms).")
    paid_with_credit: bool = Field(default=False, description="Confirmed by spending a package credit "
                                                              "(`payment_status: credit`): no money moved for it.")
    series_id: uuid.UUID | None = Field(default=None, description="The weekly series (`POST /series`) this lesson "
                                                                  "is an occurrence of; its checkout pays them all.")
    created_at: datetime

    @classmethod
    def of(cls, booking: Booking, now: datetime | None = None,
           names: Mapping[uuid.UUID, str] | None = None) -> BookingOut:
        now = now or datetime.now(UTC)
        return cls(id=booking.id, status=booking.status_at(now),
                   tutor_id=booking.tutor_id, student_id=booking.student_id,
                   tutor_name=(names or {}).get(booking.tutor_id), student_name=(names or {}).get(booking.student_id),
                   start=booking.start_at, end=booking.end_at,
                   minutes=int((booking.end_at - booking.start_at).total_seconds() // 60),
                   expires_at=booking.expires_at if booking.status == BookingStatus.HELD else None,
                   price_cents=booking.price_cents, currency=booking.currency, join_url=booking.join_url,
                   cancelled_by=booking.cancelled_by, cancel_reason=booking.cancel_reason,
                   refund_cents=booking.refund_cents, payment_status=booking.payment_status,
                   trial=bool(booking.is_trial), paid_with_credit=booking.credit_purchase_id is not None,
                   series_id=booking.series_id, created_at=booking.created_at)


class BookingPage(BaseModel):
    items: list[BookingOut]
    next_cursor: str | None = None


class BookingQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: BookingStatus | None = None
    cursor: str | None = None
    limit: int = Field(default=20, ge=1, le=100)


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=500)


class RescheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: Timestamp


class PaymentOut(BaseModel):
    provider: PaymentProvider
    client_secret: str | None = None
    publishable_key: str | None = None


class CheckoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    use_credit: StrictBool = Field(default=False, description="Confirm at once by spending one of your package credits "
                                                        "with this tutor for a lesson of this length (the soonest "
                                                        "to expire); 409 `no_credit` when you have none.")


class CheckoutOut(BaseModel):
    booking: BookingOut
    payment: PaymentOut


class TestPaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    booking_id: uuid.UUID


class BookingEventOut(BaseModel):
    """One row of a booking's history (``booking_events``), oldest first."""

    kind: str = Field(description="What happened: `held`, `confirmed`, `cancelled`, `rescheduled`, `expired`, "
                                  "`released`, `completed`, `payment_refused`, or a note such as `hold_expiring`.")
    from_status: BookingStatus | None = None
    to_status: BookingStatus | None = None
    at: datetime
    by: Literal["student", "tutor", "other"] | None = Field(
        None, description="Who did it: the booking's student or tutor, `other` (an admin), or null (the system).")
    data: dict[str, Any] = Field(default_factory=dict, description="Details of the event (reason, refund, times...).")

    @classmethod
    def of(cls, event: BookingEvent, booking: Booking) -> BookingEventOut:
        by: Literal["student", "tutor", "other"] | None = (
            None if event.actor_id is None else "student" if event.actor_id == booking.student_id
            else "tutor" if event.actor_id == booking.tutor_id else "other")
        return cls(kind=event.kind,
                   from_status=BookingStatus(event.from_status) if event.from_status else None,
                   to_status=BookingStatus(event.to_status) if event.to_status else None,
                   at=event.created_at, by=by, data=dict(event.data or {}))


class BookingEventPage(BaseModel):
    items: list[BookingEventOut]


class CancelQuoteOut(BaseModel):
    """What cancelling the booking now would do, by the policy `POST /bookings/{id}/cancel` applies."""

    cancellable: bool = Field(description="Whether you can cancel it now (a started or ended booking cannot).")
    action: Literal["release", "cancel"] | None = Field(
        None, description="`release` for your own unpaid hold, `cancel` for a confirmed booking.")
    refund_cents: int = Field(description="What would be refunded if you cancelled now.")
    currency: str
    full_refund_until: datetime | None = Field(
        None, description="The last moment a student's cancellation is refunded in full (null for the tutor, "
                          "whose cancellation always refunds in full).")
    full_refund_hours: int = Field(description="CANCEL_FULL_REFUND_HOURS: full refund up to this long before the "
                                               "start; a reschedule never moves the deadline later.")
    credit_returned: bool = Field(default=False, description="For a lesson paid with a package credit: whether "
                                                             "cancelling now would give the credit back (the same "
                                                             "policy as a refund; `refund_cents` is then 0).")


class SeriesCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tutor_id: uuid.UUID
    start: Timestamp = Field(description="The first lesson's start, ISO 8601 with offset: one of the tutor's "
                                         "slots. The others follow weekly at the same wall-clock time in the "
                                         "tutor's time zone.")
    minutes: int = Field(ge=5, le=480, description="Lesson length; one of the tutor's lesson_minutes.")
    weeks: int = Field(ge=2, le=26, description="How many weekly lessons, the first included.")
    timezone: str | None = Field(default=None, max_length=64,
                                 description="Your IANA time zone, to flag lessons that move on your clock "
                                             "(default: your profile's).")
    hold_id: uuid.UUID | None = Field(default=None,
                                      description="Your live hold of the first lesson (same tutor, start and length), "
                                                  "turned into the series' first occurrence in the same transaction: "
                                                  "the slot is never free in between.")


class OccurrenceOut(BaseModel):
    booking_id: uuid.UUID
    start: datetime
    end: datetime
    status: BookingStatus
    student_start: datetime = Field(description="The start on the student's clock (their zone's offset).")
    clock_change: bool = Field(
        default=False, description="True when this lesson is at another time on the student's clock than the first "
                                   "(one of the two zones changed its clocks and the other did not).")


class SeriesOut(BaseModel):
    id: uuid.UUID
    tutor_id: uuid.UUID
    student_id: uuid.UUID
    minutes: int
    weeks: int
    tutor_timezone: str
    student_timezone: str
    price_cents: int = Field(description="What the occurrences still held cost together (what checkout charges).")
    currency: str
    occurrences: list[OccurrenceOut]


class SeriesCancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: Timestamp | None = Field(default=None, alias="from",
                                    description="Cancel the occurrences starting at or after this moment "
                                                "(default: every one that has not started).")
    reason: str | None = Field(default=None, max_length=500)
