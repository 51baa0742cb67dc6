"""HTTP routes for tutors: profiles, discovery, weekly availability and slots.

``/tutors/me…`` paths are declared before ``/tutors/{tutor_id}…`` so ``me`` is never read as an id.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from server.availability import service as availability
from server.availability.schemas import AvailabilityIn, AvailabilityOut, SlotQuery, SlotsOut
from server.db import Session
from server.http import TUTOR, Ctx, Router
from server.tutors import service
from server.tutors.schemas import TutorOut, TutorPage, TutorProfileIn, TutorQuery

router = Router("/api/v1", tags=["tutors"])


@router.put("/tutors/me", auth=TUTOR, summary="Create or replace your tutor profile",
            errors=[service.TutorNotFound])
async def put_my_profile(ctx: Ctx, session: Session, body: TutorProfileIn) -> TutorOut:
    """Creates or replaces the caller's public profile. Subjects are stored as slugs
    (`Computer Science` → `computer-science`); `lesson_minutes` is stored sorted. Changing
    the time zone, lesson lengths, notice, buffer or advance window bumps the tutor's
    availability version (a `slots.changed` resync for live watchers)."""
    return await service.upsert_profile(session, ctx.user.id, body)


@router.get("/tutors/me", auth=TUTOR, summary="Your tutor profile", errors=[service.ProfileNotFound])
async def get_my_profile(ctx: Ctx, session: Session) -> TutorOut:
    """404 `profile_not_found` until you have created it with `PUT /tutors/me`."""
    return await service.get_profile(session, ctx.user.id, own=True)


@router.put("/tutors/me/availability", auth=TUTOR, summary="Replace your weekly hours and date overrides",
            errors=[availability.ProfileRequired])
async def put_my_availability(ctx: Ctx, session: Session, body: AvailabilityIn) -> AvailabilityOut:
    """Replaces every weekly rule and every date override at once, in the tutor's own time
    zone. Rules of one weekday must not overlap; an override date replaces that date's
    weekly hours, and an override without `start`/`end` makes the date a day off (it may
    then have no other entries). `end` may be `24:00`. Bumps the availability version and
    tells live watchers to re-fetch (`slots.changed` with `resync: true`). 409
    `profile_required` before `PUT /tutors/me`."""
    return await availability.replace_availability(session, ctx.user.id, body)


@router.get("/tutors/me/availability", auth=TUTOR, summary="Your weekly hours and date overrides")
async def get_my_availability(ctx: Ctx, session: Session) -> AvailabilityOut:
    return await availability.get_availability(session, ctx.user.id)


@router.get("/tutors", summary="Find tutors")
async def list_tutors(ctx: Ctx, session: Session, query: TutorQuery) -> TutorPage:
    """Active tutors, filtered by subject slug, text (`q` in name, headline, bio or subject
    names) and maximum hourly rate; sorted by rating (best first) or price (cheapest first),
    ties by id. Keyset-paginated: pass `next_cursor` back as `cursor`; a cursor from another
    sort order or a malformed one is 422 `invalid_cursor`."""
    return await service.list_tutors(session, query)


@router.get("/tutors/{tutor_id}", summary="A tutor's public profile", errors=[service.TutorNotFound])
async def get_tutor(ctx: Ctx, session: Session, tutor_id: uuid.UUID) -> TutorOut:
    return await service.get_profile(session, tutor_id)


@router.get("/tutors/{tutor_id}/slots", summary="A tutor's bookable slots", errors=[service.TutorNotFound])
async def get_slots(ctx: Ctx, session: Session, tutor_id: uuid.UUID, query: SlotQuery) -> SlotsOut:
    """Slots of `minutes` starting in `[from, to)` (UTC). Weekly hours and overrides are
    read in the tutor's time zone; each availability window offers starts every `minutes`
    from its beginning (60-minute lessons in 09:00–12:00: 09:00, 10:00, 11:00). Starts
    honour the minimum notice and maximum advance. Time booked (with the tutor's buffer
    after each lesson) is absent; time covered by a live hold is `held` with `held_until`.
    Across daylight-saving changes a boundary in a repeated hour means its first occurrence
    and one in a skipped hour moves to the end of the gap (02:30 → 03:00). 422 when
    `to <= from`, the window exceeds 31 days or `minutes` is not one of the tutor's lengths."""
    return await availability.get_slots(session, ctx.settings, tutor_id, datetime.now(UTC),
                                        window_from=query.from_, window_to=query.to, minutes=query.minutes)
