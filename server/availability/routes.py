"""HTTP routes for a tutor's weekly hours, date overrides and bookable slots."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from server.availability import service
from server.availability.schemas import AvailabilityIn, AvailabilityOut, SlotQuery, SlotsOut
from server.db import Session
from server.http import TUTOR, Ctx, Router
from server.rendered import Rendered
from server.tutors.errors import TutorNotFound

router = Router("/api/v1", tags=["tutors"])


@router.put("/tutors/me/availability", auth=TUTOR, summary="Replace your weekly hours and date overrides",
            errors=[service.ProfileRequired])
async def put_my_availability(ctx: Ctx, session: Session, body: AvailabilityIn) -> AvailabilityOut:
    """Replaces every weekly rule and every date override at once, in the tutor's own time
    zone. Rules of one weekday must not overlap; an override date replaces that date's
    weekly hours, and an override without `start`/`end` makes the date a day off (it may
    then have no other entries). `end` may be `24:00`. Bumps the availability version and
    tells live watchers to re-fetch (`slots.changed` with `resync: true`). 409
    `profile_required` before `PUT /tutors/me`."""
    return await service.replace_availability(session, ctx.user.id, body)


@router.get("/tutors/me/availability", auth=TUTOR, summary="Your weekly hours and date overrides")
async def get_my_availability(ctx: Ctx, session: Session) -> AvailabilityOut:
    return await service.get_availability(session, ctx.user.id)


@router.get("/tutors/{tutor_id}/slots", summary="A tutor's bookable slots", errors=[TutorNotFound])
async def get_slots(ctx: Ctx, session: Session, tutor_id: uuid.UUID, query: SlotQuery) -> Rendered[SlotsOut]:
    """Slots of `minutes` starting in `[from, to)` (UTC). Weekly hours and overrides are
    read in the tutor's time zone; each availability window offers starts every `minutes`
    from its beginning (60-minute lessons in 09:00–12:00: 09:00, 10:00, 11:00). Starts
    honour the minimum notice and maximum advance. Time booked (with the tutor's buffer
    after each lesson) is absent; a slot whose lesson overlaps a live hold's lesson is `held`
    with `held_until`, and one kept out only by the buffer around a live hold is absent too.
    Across daylight-saving changes a boundary in a repeated hour means its first occurrence
    and one in a skipped hour moves to the end of the gap (02:30 → 03:00). 422 when
    `to <= from`, the window exceeds 31 days or `minutes` is not one of the tutor's lengths."""
    return await service.get_slots(session, ctx.settings, tutor_id, datetime.now(UTC),
                                   window_from=query.from_, window_to=query.to, minutes=query.minutes)
