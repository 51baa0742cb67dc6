"""HTTP routes for the waitlist: parse, authorize, one service call, serialize."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from server.availability.slots import SlotNotOffered
from server.db import Session
from server.http import SIGNED_IN, STUDENT, Ctx, Router
from server.tutors.errors import TutorNotFound
from server.waitlist import service
from server.waitlist.errors import AlreadyInLine, EntryNotFound, NotWaiting, SlotOpen, YoursAlready
from server.waitlist.schemas import LinesOut, LinesQuery, WaitlistCreate, WaitlistOut, WaitlistPage

router = Router("/api/v1", tags=["waitlist"])


def _now() -> datetime:
    return datetime.now(UTC)


@router.post("/waitlist", auth=STUDENT, status=201, summary="Join the line for a taken slot",
             errors=[SlotOpen, YoursAlready, AlreadyInLine, SlotNotOffered, TutorNotFound])
async def join_waitlist(ctx: Ctx, session: Session, body: WaitlistCreate) -> WaitlistOut:
    """Line up behind the live hold or booking on exactly `[start, start + minutes)`. When it
    ends (released, lapsed, cancelled, moved) the first student in line who may hold it gets
    a hold on it at once (entry `offered`, live `waitlist.offer`) with WAITLIST_OFFER_SECONDS
    to pay; unpaid, it goes to the next. 409 `slot_open` when the slot can simply be held
    (`POST /holds`); 409 `slot_yours` when the hold or booking on it is your own; 409
    `already_in_line`; 422 `slot_not_offered` as for holds."""
    return await service.join(session, ctx.user.id, body, _now())


@router.get("/waitlist", auth=STUDENT, summary="Your waitlist entries, newest first")
async def list_waitlist(ctx: Ctx, session: Session) -> WaitlistPage:
    """Waiting entries carry their `position` (1: next in line); live as `waitlist.updated`."""
    return await service.entries(session, ctx.user.id)


@router.delete("/waitlist/{entry_id}", auth=STUDENT, status=200, summary="Leave the line",
               errors=[EntryNotFound, NotWaiting])
async def leave_waitlist(ctx: Ctx, session: Session, entry_id: uuid.UUID) -> WaitlistOut:
    """A waiting entry becomes `left` (idempotent); 409 `not_waiting` once it was offered or
    ended (release an offered hold with `DELETE /holds/{booking_id}`); 404 for others' entries."""
    return await service.leave(session, ctx.user.id, entry_id, _now())


@router.get("/tutors/{tutor_id}/waitlist", auth=SIGNED_IN, summary="A tutor's slots with a line")
async def tutor_lines(ctx: Ctx, session: Session, tutor_id: uuid.UUID, query: LinesQuery) -> LinesOut:
    """For each slot starting in `[from, from + days)` with students waiting: how many."""
    return await service.lines(session, tutor_id, query, _now())
