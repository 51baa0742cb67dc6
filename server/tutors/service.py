"""Tutor profiles and discovery: the rules, never the transport."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, delete, exists, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from models.tutor import Subject, TutorProfile, TutorSubject, TutorVersion
from models.user import User
from server.db import Session
from server.errors import NotFound
from server.outbox import slots_changed
from server.pagination import InvalidCursor, decode_cursor, encode_cursor
from server.tutors.schemas import TutorOut, TutorPage, TutorProfileIn, TutorQuery, slugify

# Fields whose change alters the tutor's slots: watchers must re-fetch.
SLOT_FIELDS = ("timezone", "lesson_minutes", "min_notice_minutes", "buffer_minutes", "max_advance_days")


class TutorNotFound(NotFound):
    message = "No such tutor."


class ProfileNotFound(NotFound):
    code = "profile_not_found"
    message = "You have no tutor profile yet; create it with PUT /api/v1/tutors/me."


def _out(profile: TutorProfile, name: str, subjects: Sequence[str]) -> TutorOut:
    return TutorOut(
        id=profile.user_id, name=name, headline=profile.headline, bio=profile.bio, subjects=list(subjects),
        hourly_rate_cents=profile.hourly_rate_cents, currency=profile.currency, timezone=profile.timezone,
        lesson_minutes=sorted(profile.lesson_minutes), min_notice_minutes=profile.min_notice_minutes,
        buffer_minutes=profile.buffer_minutes, max_advance_days=profile.max_advance_days,
        rating=round(profile.rating_avg, 2), rating_count=profile.rating_count)


async def _subjects_of(session: Session, tutor_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    if not tutor_ids:
        return {}
    rows = await session.execute(
        select(TutorSubject.tutor_id, Subject.slug).join(Subject, Subject.id == TutorSubject.subject_id)
        .where(TutorSubject.tutor_id.in_(tutor_ids)).order_by(TutorSubject.tutor_id, Subject.slug))
    out: dict[uuid.UUID, list[str]] = {tid: [] for tid in tutor_ids}
    for tutor_id, slug in rows:
        out[tutor_id].append(slug)
    return out


async def get_profile(session: Session, tutor_id: uuid.UUID, *, own: bool = False) -> TutorOut:
    """One profile: active ones for everybody; ``own`` also returns a deactivated one."""
    query = (select(TutorProfile, User.name).join(User, User.id == TutorProfile.user_id)
             .where(TutorProfile.user_id == tutor_id))
    if not own:
        query = query.where(TutorProfile.is_active.is_(True))
    row = (await session.execute(query)).first()
    if row is None:
        raise ProfileNotFound() if own else TutorNotFound()
    profile, name = row
    subjects = await _subjects_of(session, [tutor_id])
    return _out(profile, name, subjects[tutor_id])


async def _upsert_subjects(session: Session, names_by_slug: dict[str, str]) -> list[int]:
    """Ids of the subjects, creating missing ones; concurrent creators do not collide."""
    slugs = sorted(names_by_slug)  # one insertion order for everyone: no lock-order deadlocks
    await session.execute(pg_insert(Subject).values([{"slug": s, "name": names_by_slug[s]} for s in slugs])
                          .on_conflict_do_nothing(index_elements=[Subject.slug]))
    ids = await session.scalars(select(Subject.id).where(Subject.slug.in_(slugs)))
    return list(ids)


async def upsert_profile(session: Session, tutor_id: uuid.UUID, body: TutorProfileIn) -> TutorOut:
    """Create or replace the caller's profile and subjects.

    Creating it also creates the tutor's version row (version 0). Changing a field that
    shapes slots (time zone, lengths, notice, buffer, advance) bumps the version and
    records a ``slots.changed`` resync for live watchers.
    """
    user_exists = await session.scalar(select(exists().where(User.id == tutor_id, User.role == "tutor")))
    if not user_exists:
        raise TutorNotFound("Your account no longer exists or is not a tutor account.")
    previous = (await session.execute(
        select(*(getattr(TutorProfile, f) for f in SLOT_FIELDS)).where(TutorProfile.user_id == tutor_id)
        .with_for_update())).first()

    values: dict[str, Any] = {
        "headline": body.headline, "bio": body.bio, "hourly_rate_cents": body.hourly_rate_cents,
        "currency": body.currency, "timezone": body.timezone, "lesson_minutes": body.lesson_minutes,
        "min_notice_minutes": body.min_notice_minutes, "buffer_minutes": body.buffer_minutes,
        "max_advance_days": body.max_advance_days,
    }
    await session.execute(
        pg_insert(TutorProfile).values(user_id=tutor_id, **values)
        .on_conflict_do_update(index_elements=[TutorProfile.user_id], set_={**values, "updated_at": func.now()}))
    subject_ids = await _upsert_subjects(session, body.subject_slugs)
    await session.execute(delete(TutorSubject).where(TutorSubject.tutor_id == tutor_id))
    await session.execute(pg_insert(TutorSubject).values([{"tutor_id": tutor_id, "subject_id": sid}
                                                          for sid in subject_ids]))
    await session.execute(pg_insert(TutorVersion).values(tutor_id=tutor_id, version=0)
                          .on_conflict_do_nothing(index_elements=[TutorVersion.tutor_id]))
    if previous is not None and tuple(previous) != tuple(values[f] for f in SLOT_FIELDS):
        await slots_changed(session, tutor_id, [], resync=True)
    return await get_profile(session, tutor_id, own=True)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _cursor_after(query: TutorQuery) -> tuple[float | int, uuid.UUID] | None:
    if query.cursor is None:
        return None
    sort, key, last_id = decode_cursor(query.cursor, 3)
    bad = InvalidCursor(details=[{"field": "query.cursor", "message": "not a cursor of this listing"}])
    if sort != query.sort or isinstance(key, bool) or not isinstance(key, int | float) or not isinstance(last_id, str):
        raise bad
    if isinstance(key, float) and not math.isfinite(key):
        raise bad
    try:
        return key, uuid.UUID(last_id)
    except ValueError as exc:
        raise bad from exc


async def list_tutors(session: Session, query: TutorQuery) -> TutorPage:
    """Active profiles filtered and sorted as asked, keyset-paginated (ties broken by id)."""
    stmt = (select(TutorProfile, User.name).join(User, User.id == TutorProfile.user_id)
            .where(TutorProfile.is_active.is_(True)))
    if query.subject:
        stmt = stmt.where(exists().where(TutorSubject.tutor_id == TutorProfile.user_id,
                                         TutorSubject.subject_id == Subject.id,
                                         Subject.slug == slugify(query.subject)))
    if query.q:
        pattern = _like(query.q)
        stmt = stmt.where(or_(
            User.name.ilike(pattern, escape="\\"),
            TutorProfile.headline.ilike(pattern, escape="\\"),
            TutorProfile.bio.ilike(pattern, escape="\\"),
            exists().where(TutorSubject.tutor_id == TutorProfile.user_id, TutorSubject.subject_id == Subject.id,
                           or_(Subject.name.ilike(pattern, escape="\\"), Subject.slug.ilike(pattern, escape="\\"))),
        ))
    if query.max_rate_cents is not None:
        stmt = stmt.where(TutorProfile.hourly_rate_cents <= query.max_rate_cents)

    after = _cursor_after(query)
    key_col: Any = TutorProfile.rating_avg if query.sort == "rating" else TutorProfile.hourly_rate_cents
    if query.sort == "rating":
        stmt = stmt.order_by(key_col.desc(), TutorProfile.user_id.asc())
        if after is not None:
            stmt = stmt.where(or_(key_col < after[0], and_(key_col == after[0], TutorProfile.user_id > after[1])))
    else:
        stmt = stmt.order_by(key_col.asc(), TutorProfile.user_id.asc())
        if after is not None:
            stmt = stmt.where(or_(key_col > after[0], and_(key_col == after[0], TutorProfile.user_id > after[1])))

    rows = (await session.execute(stmt.limit(query.limit + 1))).all()
    page = rows[:query.limit]
    subjects = await _subjects_of(session, [p.user_id for p, _ in page])
    items = [_out(p, name, subjects[p.user_id]) for p, name in page]
    next_cursor = None
    if len(rows) > query.limit:
        last = page[-1][0]
        key = last.rating_avg if query.sort == "rating" else last.hourly_rate_cents
        next_cursor = encode_cursor([query.sort, key, str(last.user_id)])
    return TutorPage(items=items, next_cursor=next_cursor)
