"""Edge schemas for the waitlist."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from models.waitlist import WaitlistEntry, WaitlistStatus
from server.timestamps import Timestamp


class WaitlistCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tutor_id: uuid.UUID
    start: Timestamp = Field(description="The slot's start, ISO 8601 with offset (as for `POST /holds`).")
    minutes: int = Field(ge=5, le=480, description="The lesson length; one of the tutor's lesson_minutes.")


class WaitlistOut(BaseModel):
    """A student's place in the line for one slot."""

    id: uuid.UUID
    tutor_id: uuid.UUID
    start: datetime
    end: datetime
    minutes: int
    status: WaitlistStatus = Field(description="`waiting` in line → `offered` (a hold, `booking_id`, to pay within "
                                               "WAITLIST_OFFER_SECONDS) → `fulfilled` (paid) | `lapsed` (the offer "
                                               "ran out, or you were skipped: see `reason`); `left` when you left.")
    position: int | None = Field(default=None, description="While `waiting`: your place in line (1: next).")
    booking_id: uuid.UUID | None = Field(default=None, description="The hold offered to you (from `offered` on).")
    reason: str | None = Field(default=None, description="Why it lapsed: `offer_lapsed`, `hold_limit` or "
                                                         "`suspended` (skipped), `released`.")
    created_at: datetime

    @classmethod
    def of(cls, entry: WaitlistEntry, position: int | None = None) -> WaitlistOut:
        return cls(id=entry.id, tutor_id=entry.tutor_id, start=entry.start_at, end=entry.end_at,
                   minutes=int((entry.end_at - entry.start_at).total_seconds() // 60), status=entry.status,
                   position=position if entry.status == WaitlistStatus.WAITING else None,
                   booking_id=entry.booking_id, reason=entry.reason, created_at=entry.created_at)


class WaitlistPage(BaseModel):
    items: list[WaitlistOut]


class LinesQuery(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: Timestamp | None = Field(default=None, alias="from", description="Slots starting from (default now).")
    days: int = Field(default=14, ge=1, le=62, description="How many days from `from`.")


class LineOut(BaseModel):
    start: datetime
    end: datetime
    waiting: int = Field(description="Students in line (joining now you would be `waiting + 1`).")


class LinesOut(BaseModel):
    tutor_id: uuid.UUID
    lines: list[LineOut]
