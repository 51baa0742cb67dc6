"""Edge schemas for reviews."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from models.review import MAX_RATING, MIN_RATING, Review

MAX_COMMENT = 2000
MAX_REPLY = 2000


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    rating: int = Field(ge=MIN_RATING, le=MAX_RATING, description="1 (poor) to 5 (excellent).")
    comment: str | None = Field(default=None, max_length=MAX_COMMENT,
                                description="Optional words for the tutor and future students.")


class ReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    body: str = Field(min_length=1, max_length=MAX_REPLY, description="The tutor's one public reply.")


class RemoveReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str | None = Field(default=None, max_length=500, description="Why it was removed (kept on record).")


class ReplyOut(BaseModel):
    body: str
    created_at: datetime


class ReviewOut(BaseModel):
    """A review of one completed lesson (the booking's student wrote it)."""

    id: uuid.UUID
    booking_id: uuid.UUID
    tutor_id: uuid.UUID
    student_name: str | None = Field(default=None, description="The reviewer's first name.")
    rating: int
    comment: str | None = None
    created_at: datetime
    reply: ReplyOut | None = Field(default=None, description="The tutor's reply, once given.")

    @classmethod
    def of(cls, review: Review, student_name: str | None = None) -> ReviewOut:
        reply = (ReplyOut(body=review.reply, created_at=review.replied_at)
                 if review.reply is not None and review.replied_at is not None else None)
        first = student_name.split()[0] if student_name and student_name.split() else student_name
        return cls(id=review.id, booking_id=review.booking_id, tutor_id=review.tutor_id, student_name=first,
                   rating=review.rating, comment=review.comment, created_at=review.created_at, reply=reply)


class ReviewPage(BaseModel):
    items: list[ReviewOut] = Field(description="Newest first; removed reviews are not listed.")
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page; null at the end.")


class ReviewQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cursor: str | None = Field(default=None, max_length=500)
    limit: int = Field(default=20, ge=1, le=100)
