"""Reviews' SQL: writing one, replying, removing, listing, and the tutor's rating totals."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Row, and_, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from models.booking import Booking
from models.review import Review
from models.tutor import TutorProfile, rating_score_sql
from models.user import User
from server.db import Session


async def get_booking(session: Session, booking_id: uuid.UUID) -> Booking | None:
    return await session.get(Booking, booking_id)


async def get(session: Session, review_id: uuid.UUID) -> Review | None:
    return await session.get(Review, review_id)


async def for_booking(session: Session, booking_id: uuid.UUID) -> Row[Review, str] | None:
    """The booking's review (removed or not) and its author's name."""
    return (await session.execute(select(Review, User.name).join(User, User.id == Review.student_id)
                                  .where(Review.booking_id == booking_id))).first()


async def insert(session: Session, booking: Booking, rating: int, comment: str | None,
                 now: datetime) -> Review | None:
    """The booking's review, or None when it already has one (``uq_reviews_booking_id``: a
    concurrent second insert waits for the first and then does nothing)."""
    row = (await session.execute(
        pg_insert(Review).values(id=uuid.uuid4(), booking_id=booking.id, tutor_id=booking.tutor_id,
                                 student_id=booking.student_id, rating=rating, comment=comment, created_at=now)
        .on_conflict_do_nothing(index_elements=[Review.booking_id])
        .returning(Review))).scalar_one_or_none()
    return row


async def set_reply(session: Session, review_id: uuid.UUID, tutor_id: uuid.UUID, body: str,
                    now: datetime) -> Review | None:
    """Add the tutor's reply to a visible review of theirs that has none; None otherwise
    (the row lock makes a concurrent second reply see the first)."""
    return (await session.execute(
        update(Review).where(Review.id == review_id, Review.tutor_id == tutor_id, Review.removed_at.is_(None),
                             Review.reply.is_(None))
        .values(reply=body, replied_at=now).returning(Review)
        .execution_options(synchronize_session=False))).scalar_one_or_none()


async def mark_removed(session: Session, review_id: uuid.UUID, admin_id: uuid.UUID, reason: str | None,
                       now: datetime) -> Review | None:
    """Hide a visible review, recording who and why; None when missing or already removed."""
    return (await session.execute(
        update(Review).where(Review.id == review_id, Review.removed_at.is_(None))
        .values(removed_at=now, removed_by=admin_id, removed_reason=reason).returning(Review)
        .execution_options(synchronize_session=False))).scalar_one_or_none()


_ADJUST_TOTALS = text(f"""
UPDATE tutor_profiles SET
    rating_count = rating_count + :d_count,
    rating_sum = rating_sum + :d_sum,
    rating_avg = CASE WHEN rating_count + :d_count > 0
                      THEN (rating_sum + :d_sum)::float8 / (rating_count + :d_count) ELSE 0 END,
    rating_score = {rating_score_sql("rating_sum + :d_sum", "rating_count + :d_count")}
WHERE user_id = :tutor_id
""")


async def adjust_totals(session: Session, tutor_id: uuid.UUID, d_count: int, d_sum: int) -> None:
    """Add a review to (or take one from) the tutor's totals. Relative to the row's latest
    version, so concurrent reviews of one tutor each count (the row lock queues them); every
    column is computed from the same old values in one statement."""
    await session.execute(_ADJUST_TOTALS, {"tutor_id": tutor_id, "d_count": d_count, "d_sum": d_sum})


async def tutor_exists(session: Session, tutor_id: uuid.UUID) -> bool:
    found = await session.scalar(select(TutorProfile.user_id).where(TutorProfile.user_id == tutor_id,
                                                                    TutorProfile.is_active.is_(True)))
    return found is not None


async def page(session: Session, tutor_id: uuid.UUID, after: tuple[datetime, uuid.UUID] | None,
               limit: int) -> Sequence[Row[Review, str]]:
    """Visible reviews of the tutor with their authors' names, newest first (ties by id),
    after the keyset position ``after``; up to ``limit`` rows."""
    stmt = (select(Review, User.name).join(User, User.id == Review.student_id)
            .where(Review.tutor_id == tutor_id, Review.removed_at.is_(None))
            .order_by(Review.created_at.desc(), Review.id.desc()).limit(limit))
    if after is not None:
        stmt = stmt.where(or_(Review.created_at < after[0],
                              and_(Review.created_at == after[0], Review.id < after[1])))
    return (await session.execute(stmt)).all()


async def user_name(session: Session, user_id: uuid.UUID) -> str | None:
    return await session.scalar(select(User.name).where(User.id == user_id))
