"""The rows an e-mail is composed from (read only)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from models.booking import Booking, BookingEvent, LessonSeries
from models.message import Conversation, Message
from models.package import PackagePurchase
from models.review import Review
from models.tutor import TutorProfile
from models.user import User
from server.db import Session


async def get_user(session: Session, user_id: uuid.UUID) -> User | None:
    """The account."""
    return await session.get(User, user_id)


async def tutor_profile_timezone(session: Session, user_id: uuid.UUID) -> str | None:
    """The time zone on the tutor's profile."""
    return await session.scalar(select(TutorProfile.timezone).where(TutorProfile.user_id == user_id))


async def get_booking(session: Session, booking_id: uuid.UUID) -> Booking | None:
    """The booking the e-mail is about."""
    return await session.get(Booking, booking_id)


async def count_reschedules(session: Session, booking_id: uuid.UUID) -> int:
    """How often the booking was moved (the .ics SEQUENCE)."""
    count = await session.scalar(select(func.count()).select_from(BookingEvent).where(
        BookingEvent.booking_id == booking_id, BookingEvent.kind == "rescheduled"))
    return int(count or 0)


async def has_review(session: Session, booking_id: uuid.UUID) -> bool:
    """Whether the booking's student has reviewed it (a review request is then moot)."""
    return await session.scalar(select(Review.id).where(Review.booking_id == booking_id)) is not None


async def get_purchase(session: Session, purchase_id: uuid.UUID) -> PackagePurchase | None:
    """The package purchase whose credits an e-mail is about."""
    return await session.get(PackagePurchase, purchase_id)


async def series_with_occurrences(session: Session, series_id: uuid.UUID) -> tuple[LessonSeries | None, list[Booking]]:
    """A weekly series and its occurrences in time order."""
    series = await session.get(LessonSeries, series_id)
    rows = await session.scalars(select(Booking).where(Booking.series_id == series_id)
                                 .order_by(Booking.start_at, Booking.id))
    return series, list(rows.all())


async def unread_messages(session: Session, conversation_id: uuid.UUID, recipient_id: uuid.UUID,
                          limit: int) -> tuple[Conversation | None, int, list[Message]]:
    """The conversation, how many of its messages the recipient has not read, and the newest of those."""
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None or recipient_id not in (conversation.user_low_id, conversation.user_high_id):
        return None, 0, []
    unread = (Message.conversation_id == conversation_id, Message.recipient_id == recipient_id,
              Message.seq > conversation.read_seq_of(recipient_id))
    count = int(await session.scalar(select(func.count()).select_from(Message).where(*unread)) or 0)
    latest = list((await session.scalars(select(Message).where(*unread).order_by(Message.seq.desc())
                                         .limit(limit))).all())
    return conversation, count, latest[::-1]
