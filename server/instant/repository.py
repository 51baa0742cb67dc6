"""Instant lessons' SQL: the toggle, the tutors to ask, requests and their offers."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from models.booking import LIVE_SQL, Booking, BookingStatus
from models.instant import LAPSED_REQUEST_SQL, InstantAvailability, InstantOffer, InstantRequest, InstantStatus
from models.tutor import Subject, TutorProfile, TutorSubject
from models.user import User
from server.db import Session

# --- the toggle -------------------------------------------------------------------------------


async def has_profile(session: Session, tutor_id: uuid.UUID) -> bool:
    return await session.scalar(select(TutorProfile.user_id).where(TutorProfile.user_id == tutor_id)) is not None


async def set_available(session: Session, tutor_id: uuid.UUID, available: bool) -> None:
    await session.execute(pg_insert(InstantAvailability).values(tutor_id=tutor_id, available=available)
                          .on_conflict_do_update(index_elements=[InstantAvailability.tutor_id],
                                                 set_={"available": available, "updated_at": func.now()}))


async def is_available(session: Session, tutor_id: uuid.UUID) -> bool:
    return bool(await session.scalar(select(InstantAvailability.available)
                                     .where(InstantAvailability.tutor_id == tutor_id)))


# --- who to ask -------------------------------------------------------------------------------

# Active tutors among the online ones who switched "available now" on, teach the subject and the
# length, and whose time from now to the lesson's end plus their buffer (``w.g``, the range a
# hold would guard) holds no live booking (LIVE_SQL, the rule every hold obeys) and no busy
# calendar time (as CALENDAR_CONFLICT_SQL, per tutor). Best rated first. The hold placed on
# accept checks all of it again under the tutor's lock.
_CANDIDATES = text(f"""
SELECT p.user_id AS tutor_id, p.hourly_rate_cents, p.currency
FROM tutor_profiles p
JOIN instant_availability ia ON ia.tutor_id = p.user_id AND ia.available
JOIN users u ON u.id = p.user_id
CROSS JOIN LATERAL (SELECT tstzrange(CAST(:now AS timestamptz), CAST(:now AS timestamptz)
                              + make_interval(mins => CAST(:minutes AS int) + p.buffer_minutes), '[)') AS g) w
WHERE p.user_id = ANY(CAST(:online AS uuid[])) AND p.is_active AND u.suspended_at IS NULL
  AND p.user_id <> :student
  AND CAST(:minutes AS int) = ANY(p.lesson_minutes)
  AND EXISTS (SELECT 1 FROM tutor_subjects ts JOIN subjects s ON s.id = ts.subject_id
              WHERE ts.tutor_id = p.user_id AND s.slug = :subject)
  AND NOT EXISTS (SELECT 1 FROM bookings b WHERE b.tutor_id = p.user_id AND b.guarded && w.g AND {LIVE_SQL})
  AND NOT EXISTS (SELECT 1 FROM calendar_busy c WHERE c.user_id = p.user_id AND c.during && w.g)
ORDER BY p.rating_score DESC, p.user_id
LIMIT :limit
""")


@dataclass(frozen=True, slots=True)
class Candidate:
    tutor_id: uuid.UUID
    hourly_rate_cents: int
    currency: str


async def candidates(session: Session, online: Collection[uuid.UUID], student_id: uuid.UUID, subject: str,
                     minutes: int, now: datetime, limit: int) -> list[Candidate]:
    """The tutors a request for ``subject`` and ``minutes`` starting ``now`` goes to."""
    if not online:
        return []
    rows = await session.execute(_CANDIDATES, {"online": [str(t) for t in online], "student": student_id,
                                               "subject": subject, "minutes": minutes, "now": now, "limit": limit})
    return [Candidate(r.tutor_id, r.hourly_rate_cents, r.currency) for r in rows]


async def available_tutors(session: Session, online: Collection[uuid.UUID], subject: str | None,
                           minutes: int | None, limit: int) -> Sequence[Row[TutorProfile, str]]:
    """Active tutors among ``online`` with the toggle on (optionally teaching ``subject`` and
    ``minutes``), best rated first, with their names."""
    if not online:
        return []
    stmt = (select(TutorProfile, User.name).join(User, User.id == TutorProfile.user_id)
            .join(InstantAvailability, InstantAvailability.tutor_id == TutorProfile.user_id)
            .where(TutorProfile.user_id.in_(list(online)), TutorProfile.is_active.is_(True),
                   InstantAvailability.available.is_(True))
            .order_by(TutorProfile.rating_score.desc(), TutorProfile.user_id).limit(limit))
    if subject is not None:
        stmt = stmt.where(select(TutorSubject.tutor_id).join(Subject, Subject.id == TutorSubject.subject_id)
                          .where(TutorSubject.tutor_id == TutorProfile.user_id, Subject.slug == subject).exists())
    if minutes is not None:
        stmt = stmt.where(literal(minutes) == func.any(TutorProfile.lesson_minutes))
    return (await session.execute(stmt)).all()


async def live_holds(session: Session, student_id: uuid.UUID, now: datetime) -> int:
    """The student's live holds (what ``MAX_ACTIVE_HOLDS`` counts)."""
    return int(await session.scalar(select(func.count()).select_from(Booking).where(
        Booking.student_id == student_id, Booking.status == BookingStatus.HELD, Booking.live_at(now))) or 0)


# --- requests and offers ------------------------------------------------------------------------


async def get(session: Session, request_id: uuid.UUID) -> InstantRequest | None:
    return await session.get(InstantRequest, request_id)


async def get_for_update(session: Session, request_id: uuid.UUID) -> InstantRequest | None:
    """The request row-locked (the caller holds its student's lock first: lock order)."""
    return await session.get(InstantRequest, request_id, with_for_update=True, populate_existing=True)


async def pending_of(session: Session, student_id: uuid.UUID) -> InstantRequest | None:
    """The student's request in status ``pending`` (lapsed or not), row-locked."""
    return (await session.scalars(select(InstantRequest).where(
        InstantRequest.student_id == student_id, InstantRequest.status == InstantStatus.PENDING)
        .with_for_update())).first()


async def add(session: Session, request: InstantRequest, offers: Sequence[InstantOffer]) -> None:
    """Insert the request, then its offers (no ORM relationship orders them)."""
    session.add(request)
    await session.flush()
    session.add_all(offers)
    await session.flush()


async def offers_of(session: Session, request_id: uuid.UUID) -> list[InstantOffer]:
    return list((await session.scalars(select(InstantOffer).where(InstantOffer.request_id == request_id)
                                       .order_by(InstantOffer.tutor_id))).all())


async def offer(session: Session, request_id: uuid.UUID, tutor_id: uuid.UUID) -> InstantOffer | None:
    return await session.get(InstantOffer, (request_id, tutor_id))


async def open_offers(session: Session, tutor_id: uuid.UUID, now: datetime
                      ) -> Sequence[Row[InstantRequest, InstantOffer, str]]:
    """Requests offered to the tutor that are still open, soonest deadline first, with the
    students' names."""
    return (await session.execute(
        select(InstantRequest, InstantOffer, User.name)
        .join(InstantOffer, InstantOffer.request_id == InstantRequest.id)
        .join(User, User.id == InstantRequest.student_id)
        .where(InstantOffer.tutor_id == tutor_id, InstantOffer.declined_at.is_(None),
               InstantRequest.status == InstantStatus.PENDING, InstantRequest.expires_at > now)
        .order_by(InstantRequest.expires_at))).all()


async def decline(session: Session, request_id: uuid.UUID, tutor_id: uuid.UUID, now: datetime) -> int:
    """Mark the tutor's offer declined (kept once set); the offers of the request still open."""
    await session.execute(update(InstantOffer)
                          .where(InstantOffer.request_id == request_id, InstantOffer.tutor_id == tutor_id,
                                 InstantOffer.declined_at.is_(None))
                          .values(declined_at=now).execution_options(synchronize_session=False))
    return int(await session.scalar(select(func.count()).select_from(InstantOffer).where(
        InstantOffer.request_id == request_id, InstantOffer.declined_at.is_(None))) or 0)


# The pending requests a tutor who has just come online should also be asked: the same rules as
# _CANDIDATES seen from the tutor's side (online and toggle on are the caller's and the join's;
# teaches the subject and length, free from now until the lesson would end, not the student),
# not yet offered to them and still under INSTANT_MAX_OFFERS. Row-locked in id order so an
# accept or cancel in flight finishes first and the status is re-checked after it (no advisory
# lock is taken: nothing here waits on one while holding a row, so the lock order stands).
_WAITING_FOR = text(f"""
SELECT r.id, p.hourly_rate_cents, p.currency, su.name AS student_name
FROM instant_requests r
JOIN tutor_profiles p ON p.user_id = :tutor
JOIN instant_availability ia ON ia.tutor_id = p.user_id AND ia.available
JOIN users u ON u.id = p.user_id
JOIN users su ON su.id = r.student_id
CROSS JOIN LATERAL (SELECT tstzrange(CAST(:now AS timestamptz), CAST(:now AS timestamptz)
                              + make_interval(mins => r.minutes + p.buffer_minutes), '[)') AS g) w
WHERE r.status = 'pending' AND r.expires_at > :now AND r.student_id <> p.user_id
  AND p.is_active AND u.suspended_at IS NULL
  AND r.minutes = ANY(p.lesson_minutes)
  AND EXISTS (SELECT 1 FROM tutor_subjects ts JOIN subjects s ON s.id = ts.subject_id
              WHERE ts.tutor_id = p.user_id AND s.slug = r.subject)
  AND NOT EXISTS (SELECT 1 FROM instant_offers o WHERE o.request_id = r.id AND o.tutor_id = p.user_id)
  AND (SELECT count(*) FROM instant_offers o WHERE o.request_id = r.id) < :limit
  AND NOT EXISTS (SELECT 1 FROM bookings b WHERE b.tutor_id = p.user_id AND b.guarded && w.g AND {LIVE_SQL})
  AND NOT EXISTS (SELECT 1 FROM calendar_busy c WHERE c.user_id = p.user_id AND c.during && w.g)
ORDER BY r.id
FOR UPDATE OF r
""")


@dataclass(frozen=True, slots=True)
class Waiting:
    """A pending request a tutor who just came online can be offered, with their rate and the
    student's name."""

    request: InstantRequest
    candidate: Candidate
    student_name: str | None


async def waiting_for(session: Session, tutor_id: uuid.UUID, now: datetime, limit: int) -> list[Waiting]:
    """Pending requests the tutor (just online) can also be offered, row-locked, in id order,
    with the tutor's rate and the students' names (see ``_WAITING_FOR``): two statements
    however many there are."""
    rows = (await session.execute(_WAITING_FOR, {"tutor": tutor_id, "now": now, "limit": limit})).all()
    if not rows:
        return []
    requests = {r.id: r for r in await session.scalars(
        select(InstantRequest).where(InstantRequest.id.in_([row.id for row in rows]))
        .execution_options(populate_existing=True))}
    return [Waiting(requests[row.id], Candidate(tutor_id, row.hourly_rate_cents, row.currency), row.student_name)
            for row in rows]


async def add_offers(session: Session, offers: Sequence[InstantOffer]) -> set[uuid.UUID]:
    """Offers for requests that already exist; the ids of the requests newly offered (two
    connections of one tutor coming online at once make each offer once)."""
    if not offers:
        return set()
    rows = await session.execute(pg_insert(InstantOffer).values([
        {"request_id": o.request_id, "tutor_id": o.tutor_id, "price_cents": o.price_cents, "currency": o.currency}
        for o in offers]).on_conflict_do_nothing().returning(InstantOffer.request_id))
    return set(rows.scalars())


async def user_name(session: Session, user_id: uuid.UUID) -> str | None:
    return await session.scalar(select(User.name).where(User.id == user_id))


async def resolve(session: Session, request: InstantRequest, status: InstantStatus, now: datetime, *,
                  tutor_id: uuid.UUID | None = None, booking_id: uuid.UUID | None = None) -> None:
    """End a pending request (the caller holds its row lock)."""
    await session.execute(update(InstantRequest).where(InstantRequest.id == request.id)
                          .values(status=status, resolved_at=now, tutor_id=tutor_id, booking_id=booking_id)
                          .execution_options(synchronize_session=False))
    request.status, request.resolved_at, request.tutor_id, request.booking_id = status, now, tutor_id, booking_id


_LAPSED_DUE = text(f"SELECT r.id, r.student_id FROM instant_requests r WHERE {LAPSED_REQUEST_SQL} "
                   "ORDER BY r.expires_at LIMIT :limit")


async def lapsed_due(session: Session, now: datetime, limit: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Pending requests past their deadline (id, student), oldest first (``ix_instant_requests_pending_expiry``)."""
    rows = await session.execute(_LAPSED_DUE, {"now": now, "limit": limit})
    return [(r.id, r.student_id) for r in rows]
