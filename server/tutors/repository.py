"""Tutors' SQL: profiles, their subjects and the version row, and the discovery listing."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, and_, delete, exists, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from models.tutor import Subject, TutorProfile, TutorSubject, TutorVersion
from models.user import User
from server.db import Session
from server.tutors.schemas import TutorSort

# Fields whose change alters the tutor's slots: watchers must re-fetch.
SLOT_FIELDS = ("timezone", "lesson_minutes", "min_notice_minutes", "buffer_minutes", "max_advance_days")


@dataclass(frozen=True, slots=True)
class TutorFilter:
    """What a discovery listing asks for; ``after`` is the keyset position (sort key, id)."""

    sort: TutorSort
    limit: int
    subject_slug: str | None = None
    text: str | None = None
    max_rate_cents: int | None = None
    currency: str | None = None
    after: tuple[float | int, uuid.UUID] | None = None


def sort_key(profile: TutorProfile, sort: TutorSort) -> float | int:
    """The value a listing in ``sort`` order is keyed on."""
    return profile.rating_score if sort == TutorSort.RATING else profile.hourly_rate_cents


async def subjects_of(session: Session, tutor_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    """Each tutor's subject slugs, sorted."""
    if not tutor_ids:
        return {}
    rows = await session.execute(
        select(TutorSubject.tutor_id, Subject.slug).join(Subject, Subject.id == TutorSubject.subject_id)
        .where(TutorSubject.tutor_id.in_(tutor_ids)).order_by(TutorSubject.tutor_id, Subject.slug))
    out: dict[uuid.UUID, list[str]] = {tid: [] for tid in tutor_ids}
    for tutor_id, slug in rows:
        out[tutor_id].append(slug)
    return out


async def get_profile(session: Session, tutor_id: uuid.UUID, *,
                      active_only: bool) -> Row[TutorProfile, str] | None:
    """The profile and the tutor's name; ``active_only`` hides a deactivated profile."""
    query = (select(TutorProfile, User.name).join(User, User.id == TutorProfile.user_id)
             .where(TutorProfile.user_id == tutor_id))
    if active_only:
        query = query.where(TutorProfile.is_active.is_(True))
    return (await session.execute(query)).first()


async def profile_exists(session: Session, tutor_id: uuid.UUID) -> bool:
    """Whether the user has a tutor profile (active or not)."""
    found = await session.scalar(select(TutorProfile.user_id).where(TutorProfile.user_id == tutor_id))
    return found is not None


async def is_tutor_account(session: Session, user_id: uuid.UUID) -> bool:
    """Whether the account exists and has the tutor role."""
    return bool(await session.scalar(select(exists().where(User.id == user_id, User.role == "tutor"))))


async def lock_slot_fields(session: Session, tutor_id: uuid.UUID) -> tuple[Any, ...] | None:
    """The profile's :data:`SLOT_FIELDS`, locked for update; None before the profile exists."""
    row = (await session.execute(
        select(*(getattr(TutorProfile, f) for f in SLOT_FIELDS)).where(TutorProfile.user_id == tutor_id)
        .with_for_update())).first()
    return None if row is None else tuple(row)


async def upsert_profile(session: Session, tutor_id: uuid.UUID, values: dict[str, Any]) -> None:
    """Create or replace the profile's columns."""
    await session.execute(
        pg_insert(TutorProfile).values(user_id=tutor_id, **values)
        .on_conflict_do_update(index_elements=[TutorProfile.user_id], set_={**values, "updated_at": func.now()}))


async def replace_subjects(session: Session, tutor_id: uuid.UUID, names_by_slug: dict[str, str]) -> None:
    """The tutor teaches exactly these subjects (``slug -> name``); missing subjects are created."""
    slugs = sorted(names_by_slug)  # one insertion order for everyone: no lock-order deadlocks
    await session.execute(pg_insert(Subject).values([{"slug": s, "name": names_by_slug[s]} for s in slugs])
                          .on_conflict_do_nothing(index_elements=[Subject.slug]))
    subject_ids = list(await session.scalars(select(Subject.id).where(Subject.slug.in_(slugs))))
    await session.execute(delete(TutorSubject).where(TutorSubject.tutor_id == tutor_id))
    await session.execute(pg_insert(TutorSubject).values([{"tutor_id": tutor_id, "subject_id": sid}
                                                          for sid in subject_ids]))


async def ensure_version(session: Session, tutor_id: uuid.UUID) -> None:
    """The tutor's version row (version 0) exists."""
    await session.execute(pg_insert(TutorVersion).values(tutor_id=tutor_id, version=0)
                          .on_conflict_do_nothing(index_elements=[TutorVersion.tutor_id]))


async def active_subjects(session: Session) -> Sequence[Row[str, str, int]]:
    """``(slug, name, tutor count)`` of every subject an active tutor teaches, by name then slug."""
    count = func.count(TutorSubject.tutor_id)
    return (await session.execute(
        select(Subject.slug, Subject.name, count)
        .join(TutorSubject, TutorSubject.subject_id == Subject.id)
        .join(TutorProfile, TutorProfile.user_id == TutorSubject.tutor_id)
        .where(TutorProfile.is_active.is_(True))
        .group_by(Subject.id, Subject.slug, Subject.name)
        .order_by(func.lower(Subject.name), Subject.slug))).all()


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_profiles(session: Session, wanted: TutorFilter) -> Sequence[Row[TutorProfile, str]]:
    """Active profiles and names as ``wanted`` asks, up to ``limit + 1`` rows (the extra one says
    another page exists); ties broken by id."""
    stmt = (select(TutorProfile, User.name).join(User, User.id == TutorProfile.user_id)
            .where(TutorProfile.is_active.is_(True)))
    if wanted.subject_slug:
        stmt = stmt.where(exists().where(TutorSubject.tutor_id == TutorProfile.user_id,
                                         TutorSubject.subject_id == Subject.id,
                                         Subject.slug == wanted.subject_slug))
    if wanted.text:
        pattern = _like(wanted.text)
        stmt = stmt.where(or_(
            User.name.ilike(pattern, escape="\\"),
            TutorProfile.headline.ilike(pattern, escape="\\"),
            TutorProfile.bio.ilike(pattern, escape="\\"),
            exists().where(TutorSubject.tutor_id == TutorProfile.user_id, TutorSubject.subject_id == Subject.id,
                           or_(Subject.name.ilike(pattern, escape="\\"), Subject.slug.ilike(pattern, escape="\\"))),
        ))
    if wanted.currency is not None:
        stmt = stmt.where(TutorProfile.currency == wanted.currency)
    if wanted.max_rate_cents is not None:
        stmt = stmt.where(TutorProfile.hourly_rate_cents <= wanted.max_rate_cents)

    after = wanted.after
    key_col: Any = TutorProfile.rating_score if wanted.sort == TutorSort.RATING else TutorProfile.hourly_rate_cents
    if wanted.sort == TutorSort.RATING:
        stmt = stmt.order_by(key_col.desc(), TutorProfile.user_id.asc())
        if after is not None:
            stmt = stmt.where(or_(key_col < after[0], and_(key_col == after[0], TutorProfile.user_id > after[1])))
    else:
        stmt = stmt.order_by(key_col.asc(), TutorProfile.user_id.asc())
        if after is not None:
            stmt = stmt.where(or_(key_col > after[0], and_(key_col == after[0], TutorProfile.user_id > after[1])))
    return (await session.execute(stmt.limit(wanted.limit + 1))).all()
