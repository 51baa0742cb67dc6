"""HTTP routes for tutor profiles and discovery (weekly hours and slots: server/availability/routes.py).

``/tutors/me`` and ``/tutors/subjects`` are declared before ``/tutors/{tutor_id}`` so neither is read as an id.
"""

from __future__ import annotations

import uuid

from server.db import Session
from server.http import TUTOR, Ctx, Router
from server.tutors import service
from server.tutors.errors import ProfileNotFound, TutorNotFound
from server.tutors.schemas import SubjectList, TutorOut, TutorPage, TutorProfileIn, TutorQuery

router = Router("/api/v1", tags=["tutors"])


@router.put("/tutors/me", auth=TUTOR, summary="Create or replace your tutor profile", errors=[TutorNotFound])
async def put_my_profile(ctx: Ctx, session: Session, body: TutorProfileIn) -> TutorOut:
    """Creates or replaces the caller's public profile. Subjects are stored as slugs
    (`Computer Science` → `computer-science`); `lesson_minutes` is stored sorted. Changing
    the time zone, lesson lengths, notice, buffer or advance window bumps the tutor's
    availability version (a `slots.changed` resync for live watchers)."""
    return await service.upsert_profile(session, ctx.user.id, body)


@router.get("/tutors/me", auth=TUTOR, summary="Your tutor profile", errors=[ProfileNotFound])
async def get_my_profile(ctx: Ctx, session: Session) -> TutorOut:
    """404 `profile_not_found` until you have created it with `PUT /tutors/me`."""
    return await service.get_profile(session, ctx.user.id, own=True)


@router.get("/tutors", summary="Find tutors")
async def list_tutors(ctx: Ctx, session: Session, query: TutorQuery) -> TutorPage:
    """Active tutors, filtered by subject slug, text (`q` in name, headline, bio or subject
    names), currency and maximum hourly rate; sorted by rating (best first) or price (cheapest first),
    ties by id. Keyset-paginated: pass `next_cursor` back as `cursor`; a cursor from another
    sort order or a malformed one is 422 `invalid_cursor`.

    Prices are never converted: `currency` keeps only tutors who charge in that currency, and
    `max_rate_cents` (minor units of `currency`) needs it; `max_rate_cents` without `currency`
    is 422 `invalid_request`."""
    return await service.list_tutors(session, query)


@router.get("/tutors/subjects", summary="Subjects taught")
async def list_subjects(ctx: Ctx, session: Session) -> SubjectList:
    """Every subject at least one active tutor teaches, with the number of such tutors,
    sorted by name; pass its `slug` as `subject` to `GET /tutors`."""
    return await service.list_subjects(session)


@router.get("/tutors/{tutor_id}", summary="A tutor's public profile", errors=[TutorNotFound])
async def get_tutor(ctx: Ctx, session: Session, tutor_id: uuid.UUID) -> TutorOut:
    return await service.get_profile(session, tutor_id)
