"""Tutor profiles and discovery: the rules, never the transport (SQL in :mod:`server.tutors.repository`)."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from typing import Any

from models.base import INT4_MAX
from models.tutor import TutorProfile
from server.db import Session
from server.outbox import slots_changed
from server.pagination import InvalidCursor, decode_cursor, encode_cursor
from server.payouts import service as payouts
from server.tutors import repository
from server.tutors.errors import ProfileNotFound, TutorNotFound
from server.tutors.repository import SLOT_FIELDS, TutorFilter
from server.tutors.schemas import (
    SubjectList,
    SubjectOut,
    TrialOut,
    TutorOut,
    TutorPage,
    TutorProfileIn,
    TutorQuery,
    TutorSort,
    slugify,
)

# Other domains raise these when a tutor they look up is missing.
__all__ = ["ProfileNotFound", "TutorNotFound", "get_profile", "list_subjects", "list_tutors", "upsert_profile"]


def _out(profile: TutorProfile, name: str, subjects: Sequence[str]) -> TutorOut:
    return TutorOut(
        id=profile.user_id, name=name, headline=profile.headline, bio=profile.bio, subjects=list(subjects),
        hourly_rate_cents=profile.hourly_rate_cents, currency=profile.currency, timezone=profile.timezone,
        lesson_minutes=sorted(profile.lesson_minutes), min_notice_minutes=profile.min_notice_minutes,
        buffer_minutes=profile.buffer_minutes, max_advance_days=profile.max_advance_days,
        rating=round(profile.rating_avg, 2), rating_count=profile.rating_count,
        trial=(TrialOut(minutes=profile.trial_minutes, price_cents=profile.trial_price_cents)
               if profile.trial_minutes is not None and profile.trial_price_cents is not None else None),
        has_avatar=profile.avatar_key is not None)


async def get_profile(session: Session, tutor_id: uuid.UUID, *, own: bool = False) -> TutorOut:
    """One profile: active ones for everybody; ``own`` also returns a deactivated one."""
    row = await repository.get_profile(session, tutor_id, active_only=not own)
    if row is None:
        raise ProfileNotFound() if own else TutorNotFound()
    profile, name = row
    subjects = await repository.subjects_of(session, [tutor_id])
    return _out(profile, name, subjects[tutor_id])


async def upsert_profile(session: Session, tutor_id: uuid.UUID, body: TutorProfileIn) -> TutorOut:
    """Create or replace the caller's profile and subjects.

    Creating it also creates the tutor's version row (version 0). Changing a field that
    shapes slots (time zone, lengths, notice, buffer, advance) bumps the version and
    records a ``slots.changed`` resync for live watchers.
    """
    if not await repository.is_tutor_account(session, tutor_id):
        raise TutorNotFound("Your account no longer exists or is not a tutor account.")
    await payouts.check_payable_currency(session, tutor_id, body.currency)
    previous = await repository.lock_slot_fields(session, tutor_id)
    values: dict[str, Any] = {
        "headline": body.headline, "bio": body.bio, "hourly_rate_cents": body.hourly_rate_cents,
        "currency": body.currency, "timezone": body.timezone, "lesson_minutes": body.lesson_minutes,
        "min_notice_minutes": body.min_notice_minutes, "buffer_minutes": body.buffer_minutes,
        "max_advance_days": body.max_advance_days,
        "trial_minutes": body.trial.minutes if body.trial else None,
        "trial_price_cents": body.trial.price_cents if body.trial else None,
    }
    await repository.upsert_profile(session, tutor_id, values)
    await repository.replace_subjects(session, tutor_id, body.subject_slugs)
    await repository.ensure_version(session, tutor_id)
    if previous is not None and previous != tuple(values[f] for f in SLOT_FIELDS):
        await slots_changed(session, tutor_id, [], resync=True)
    return await get_profile(session, tutor_id, own=True)


def _cursor_after(query: TutorQuery) -> tuple[float | int, uuid.UUID] | None:
    if query.cursor is None:
        return None
    sort, key, last_id = decode_cursor(query.cursor, 3)
    bad = InvalidCursor(details=[{"field": "query.cursor", "message": "not a cursor of this listing"}])
    if sort != query.sort or isinstance(key, bool) or not isinstance(key, int | float) or not isinstance(last_id, str):
        raise bad
    # A key no row can have (outside the column's range) is not one of ours, and must not reach the query.
    if query.sort == TutorSort.PRICE and not (isinstance(key, int) and 0 <= key <= INT4_MAX):
        raise bad
    try:
        if not math.isfinite(key):
            raise bad
    except OverflowError as exc:  # an integer too large for a double
        raise bad from exc
    try:
        return key, uuid.UUID(last_id)
    except ValueError as exc:
        raise bad from exc


async def list_tutors(session: Session, query: TutorQuery) -> TutorPage:
    """Active profiles filtered and sorted as asked, keyset-paginated (ties broken by id)."""
    rows = await repository.list_profiles(session, TutorFilter(
        sort=query.sort, limit=query.limit, subject_slug=slugify(query.subject) if query.subject else None,
        text=query.q or None, max_rate_cents=query.max_rate_cents, currency=query.currency,
        after=_cursor_after(query)))
    page = rows[:query.limit]
    subjects = await repository.subjects_of(session, [p.user_id for p, _ in page])
    items = [_out(p, name, subjects[p.user_id]) for p, name in page]
    next_cursor = None
    if len(rows) > query.limit:
        last = page[-1][0]
        next_cursor = encode_cursor([query.sort.value, repository.sort_key(last, query.sort), str(last.user_id)])
    return TutorPage(items=items, next_cursor=next_cursor)


async def list_subjects(session: Session) -> SubjectList:
    """The subjects active tutors teach, with how many teach each, sorted by name."""
    rows = await repository.active_subjects(session)
    return SubjectList(items=[SubjectOut(slug=slug, name=name, tutors=n) for slug, name, n in rows])
