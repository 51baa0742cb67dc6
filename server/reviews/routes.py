"""HTTP routes for reviews: parse, authorize, one service call, serialize."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from server.bookings.errors import BookingNotFound
from server.db import Session
from server.http import ADMIN, SIGNED_IN, STUDENT, TUTOR, Ctx, Router
from server.idempotency import IdempotencyKeyReused, Replayable, run_idempotent
from server.pagination import InvalidCursor
from server.reviews import service
from server.reviews.errors import NotReviewable, ReplyExists, ReviewExists, ReviewNotFound
from server.reviews.schemas import RemoveReviewIn, ReplyIn, ReviewIn, ReviewOut, ReviewPage, ReviewQuery
from server.tutors.errors import TutorNotFound

router = Router("/api/v1", tags=["reviews"])


@router.post("/bookings/{booking_id}/review", auth=STUDENT, status=201, summary="Review a completed lesson",
             errors=[BookingNotFound, NotReviewable, ReviewExists, IdempotencyKeyReused])
async def create_review(ctx: Ctx, session: Session, booking_id: uuid.UUID, body: ReviewIn) -> ReviewOut:
    """The booking's student, once it is `completed`, rates it 1–5 with an optional comment:
    409 `not_reviewable` before completion, 409 `review_exists` the second time (one review per
    booking, enforced by the database). The tutor's rating and count include it at once, and the
    tutor gets the live event `review.new` `{review}`."""
    async def action() -> ReviewOut:
        return await service.create_review(session, ctx.user.id, booking_id, body, datetime.now(UTC))

    return await run_idempotent(session, Replayable.of(ctx, body, 201), action)  # type: ignore[return-value]


@router.get("/bookings/{booking_id}/review", auth=SIGNED_IN, summary="A booking's review",
            errors=[BookingNotFound, ReviewNotFound])
async def get_booking_review(ctx: Ctx, session: Session, booking_id: uuid.UUID) -> ReviewOut:
    """For the booking's student and tutor: 404 `review_not_found` while it has none."""
    return await service.booking_review(session, ctx.user, booking_id)


@router.get("/tutors/{tutor_id}/reviews", summary="A tutor's reviews, newest first",
            errors=[TutorNotFound, InvalidCursor])
async def list_tutor_reviews(ctx: Ctx, session: Session, tutor_id: uuid.UUID, query: ReviewQuery) -> ReviewPage:
    """Visible reviews (removed ones are not listed), each with the tutor's reply when given;
    keyset-paginated: pass `next_cursor` back as `cursor`."""
    return await service.list_for_tutor(session, tutor_id, query.cursor, query.limit)


@router.post("/reviews/{review_id}/reply", auth=TUTOR, summary="Reply to a review of you (once)",
             errors=[ReviewNotFound, ReplyExists])
async def reply_to_review(ctx: Ctx, session: Session, review_id: uuid.UUID, body: ReplyIn) -> ReviewOut:
    """Only the reviewed tutor (404 `review_not_found` for anyone else); 409 `reply_exists` the second time."""
    return await service.reply(session, ctx.user.id, review_id, body.body, datetime.now(UTC))


@router.delete("/admin/reviews/{review_id}", auth=ADMIN, summary="Remove a review (admin)",
               errors=[ReviewNotFound])
async def remove_review(ctx: Ctx, session: Session, review_id: uuid.UUID, body: RemoveReviewIn) -> None:
    """204. The review is hidden from listings and leaves the tutor's rating; who removed it,
    when and the optional `reason` are kept. Removing it again changes nothing."""
    await service.remove(session, ctx.user.id, review_id, body.reason, datetime.now(UTC))
