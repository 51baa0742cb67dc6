"""Edge schemas for instant lessons."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from models.instant import InstantOffer, InstantRequest, InstantStatus
from server.bookings.schemas import BookingOut
from server.tutors.schemas import slugify

MIN_MINUTES = 15
MAX_MINUTES = 240


class AvailabilityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    available: bool = Field(description="true: offer me instant lessons while I am connected; false: stop.")


class InstantOfferOut(BaseModel):
    """A request as an offered tutor sees it (the live `instant.request` payload)."""

    id: uuid.UUID = Field(description="The request's id (accept it with `POST /instant-requests/{id}/accept`).")
    subject: str
    minutes: int
    expires_at: datetime = Field(description="The accept deadline (`INSTANT_ACCEPT_SECONDS` after the request).")
    student_name: str | None = Field(default=None, description="The student's first name.")
    price_cents: int = Field(description="What the lesson costs at your rate.")
    currency: str

    @classmethod
    def of(cls, request: InstantRequest, offer: InstantOffer, student_name: str | None) -> InstantOfferOut:
        first = student_name.split()[0] if student_name and student_name.split() else student_name
        return cls(id=request.id, subject=request.subject, minutes=request.minutes, expires_at=request.expires_at,
                   student_name=first, price_cents=offer.price_cents, currency=offer.currency)


class InstantStateOut(BaseModel):
    """A tutor's instant-lesson state."""

    available: bool = Field(description="The \"available now\" toggle.")
    connected: bool = Field(description="Whether at least one of your /live connections is up (any API process).")
    online: bool = Field(description="`available` and `connected`: whether new instant requests reach you.")
    offers: list[InstantOfferOut] = Field(default_factory=list,
                                          description="Requests offered to you that are still open, soonest deadline "
                                                      "first.")


class InstantRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    subject: str = Field(min_length=1, max_length=64, description="A subject name or slug (`mathematics`).")
    minutes: int = Field(ge=MIN_MINUTES, le=MAX_MINUTES,
                         description="Lesson length; only tutors who teach lessons of this length are asked.")

    @field_validator("subject")
    @classmethod
    def _slug(cls, value: str) -> str:
        slug = slugify(value)
        if not slug:
            raise ValueError("must contain letters or digits")
        return slug


class InstantRequestOut(BaseModel):
    """A student's request for a lesson now."""

    id: uuid.UUID
    status: InstantStatus = Field(description="`pending` → `accepted` | `expired` | `cancelled` | `declined` "
                                              "(every tutor asked said no); a pending request past its "
                                              "deadline reads `expired`.")
    student_id: uuid.UUID
    subject: str
    minutes: int
    created_at: datetime
    expires_at: datetime = Field(description="The accept deadline.")
    offered_to: int = Field(description="How many tutors were asked (tutors who come online while it is pending "
                                        "are asked too).")
    tutor_id: uuid.UUID | None = Field(default=None, description="The tutor who accepted.")
    booking_id: uuid.UUID | None = Field(default=None, description="The booking made when a tutor accepted.")
    booking: BookingOut | None = Field(default=None, description="That booking (status `held` until paid).")
    resolved_at: datetime | None = None

    @classmethod
    def of(cls, request: InstantRequest, now: datetime, offered_to: int,
           booking: BookingOut | None = None) -> InstantRequestOut:
        return cls(id=request.id, status=request.status_at(now), student_id=request.student_id,
                   subject=request.subject, minutes=request.minutes, created_at=request.created_at,
                   expires_at=request.expires_at, offered_to=offered_to, tutor_id=request.tutor_id,
                   booking_id=request.booking_id, booking=booking, resolved_at=request.resolved_at)


class AcceptOut(BaseModel):
    request: InstantRequestOut
    booking: BookingOut = Field(description="Your new lesson, starting now: `held` until the student pays "
                                            "(free lessons and credits confirm at once).")


class AvailableTutorOut(BaseModel):
    id: uuid.UUID
    name: str
    headline: str
    subjects: list[str]
    hourly_rate_cents: int
    currency: str
    lesson_minutes: list[int]
    rating: float
    rating_count: int


class AvailableTutorsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str | None = Field(default=None, max_length=64, description="Only tutors teaching this subject.")
    minutes: int | None = Field(default=None, ge=MIN_MINUTES, le=MAX_MINUTES,
                                description="Only tutors teaching lessons of this length.")
    limit: int = Field(default=20, ge=1, le=100)


class AvailableTutorsOut(BaseModel):
    items: list[AvailableTutorOut] = Field(description="Tutors online for instant lessons now, best rated first.")
