"""Reviews: the rules (who may write, reply to and remove one) and the tutor's rating totals,
kept in step in the review's own transaction. SQL in :mod:`server.reviews.repository`.

A tutor's ``rating`` is the mean of visible reviews and ``rating_count`` their number; search
sorts by the Bayesian average ``models.tutor.rating_score`` (see RATING_PRIOR_* there).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from models.booking import BookingStatus
from models.user import Role
from server.bookings.errors import BookingNotFound
from server.db import Session
from server.identity import Principal
from server.outbox import emit, user_room
from server.pagination import InvalidCursor, decode_cursor, encode_cursor
from server.reviews import repository
from server.reviews.errors import NotReviewable, ReplyExists, ReviewExists, ReviewNotFound
from server.reviews.schemas import ReviewIn, ReviewOut, ReviewPage
from server.tutors.errors import TutorNotFound


async def create_review(session: Session, student_id: uuid.UUID, booking_id: uuid.UUID, body: ReviewIn,
                        now: datetime) -> ReviewOut:
    """The booking's student reviews it once it is ``completed``: 404 for anyone else's
    booking, 409 ``not_reviewable`` before completion, 409 ``review_exists`` the second time
    (decided by ``uq_reviews_booking_id``, so concurrent submissions get one 201)."""
    booking = await repository.get_booking(session, booking_id)
    if booking is None or booking.student_id != student_id:
        raise BookingNotFound()
    if booking.status != BookingStatus.COMPLETED:
        raise NotReviewable(f"This lesson is {booking.status}; it can be reviewed once it is completed.",
                            details={"status": booking.status})
    review = await repository.insert(session, booking, body.rating, body.comment or None, now)
    if review is None:
        raise ReviewExists()
    await repository.adjust_totals(session, booking.tutor_id, 1, review.rating)
    out = ReviewOut.of(review, await repository.user_name(session, student_id))
    await emit(session, [("review.new", user_room(booking.tutor_id), {"review": out.model_dump(mode="json")})])
    return out


async def booking_review(session: Session, principal: Principal, booking_id: uuid.UUID) -> ReviewOut:
    """The review of a booking the principal is a party to (404 ``review_not_found`` when there
    is none, or it was removed)."""
    booking = await repository.get_booking(session, booking_id)
    if booking is None or (principal.role != Role.ADMIN
                           and principal.id not in (booking.student_id, booking.tutor_id)):
        raise BookingNotFound()
    row = await repository.for_booking(session, booking_id)
    if row is None or row[0].removed_at is not None:
        raise ReviewNotFound()
    return ReviewOut.of(row[0], row[1])


async def reply(session: Session, tutor_id: uuid.UUID, review_id: uuid.UUID, body: str,
                now: datetime) -> ReviewOut:
    """The reviewed tutor replies once: 404 for another tutor's (or a removed) review, 409
    ``reply_exists`` the second time."""
    review = await repository.set_reply(session, review_id, tutor_id, body, now)
    if review is None:
        existing = await repository.get(session, review_id)
        if existing is None or existing.tutor_id != tutor_id or existing.removed_at is not None:
            raise ReviewNotFound()
        raise ReplyExists()
    return ReviewOut.of(review, await repository.user_name(session, review.student_id))


async def remove(session: Session, admin_id: uuid.UUID, review_id: uuid.UUID, reason: str | None,
                 now: datetime) -> None:
    """An admin hides a review (who and why are kept); it leaves the tutor's rating. Removing
    a removed review changes nothing."""
    review = await repository.mark_removed(session, review_id, admin_id, reason, now)
    if review is None:
        if await repository.get(session, review_id) is None:
            raise ReviewNotFound()
        return
    await repository.adjust_totals(session, review.tutor_id, -1, -review.rating)


def _after(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if cursor is None:
        return None
    created, last_id = decode_cursor(cursor, 2)
    try:
        return datetime.fromisoformat(created), uuid.UUID(last_id)
    except (TypeError, ValueError) as exc:
        raise InvalidCursor() from exc


async def list_for_tutor(session: Session, tutor_id: uuid.UUID, cursor: str | None, limit: int) -> ReviewPage:
    """A tutor's visible reviews, newest first, keyset-paginated."""
    if not await repository.tutor_exists(session, tutor_id):
        raise TutorNotFound()
    rows = await repository.page(session, tutor_id, _after(cursor), limit + 1)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1][0]
        next_cursor = encode_cursor([last.created_at.isoformat(), str(last.id)])
    return ReviewPage(items=[ReviewOut.of(r, name) for r, name in rows], next_cursor=next_cursor)
