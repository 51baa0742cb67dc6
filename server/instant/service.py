"""Instant lessons: a student asks for a lesson now, the tutors online for it are asked at once,
the first to accept gets it. SQL in :mod:`server.instant.repository`; presence in
:mod:`server.instant.presence`; the booking itself is an ordinary hold
(:func:`server.bookings.holds.place_hold_now`).

Lock order, as everywhere: the student's lock, then the tutor's, then rows. Accepting takes the
student's and the tutor's locks before the request's row lock, then flips ``pending`` to
``accepted`` only if it is still pending and not past its deadline: concurrent accepts queue on
the student's lock and every one after the first finds the request taken (409). The hold and
the flip commit together, so a tutor whose hold fails (busy after all) leaves the request open
for the others.

A pending request past its deadline is expired whatever its stored status (as a lapsed hold is
not live): it cannot be accepted and reads ``expired``; the ``instant.expire_due`` sweep marks
it and tells the student (``instant.expired``). Nothing is charged for a request: only the
hold an accept makes is paid for, like any hold.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from redis.asyncio import Redis

from models.instant import InstantOffer, InstantRequest, InstantStatus
from models.user import Role
from server.bookings import holds
from server.bookings import repository as bookings_repository
from server.bookings import service as bookings_service
from server.bookings.errors import BookingNotFound, HoldLimitReached
from server.db import Session
from server.identity import Principal
from server.instant import presence, repository
from server.instant.errors import (
    NoTutorAvailable,
    OfferDeclined,
    RequestCancelled,
    RequestDeclined,
    RequestExpired,
    RequestNotFound,
    RequestNotPending,
    RequestPending,
    RequestTaken,
)
from server.instant.schemas import (
    AcceptOut,
    AvailableTutorOut,
    AvailableTutorsOut,
    AvailableTutorsQuery,
    InstantOfferOut,
    InstantRequestIn,
    InstantRequestOut,
    InstantStateOut,
)
from server.outbox import Message, emit, user_room
from server.settings import Settings
from server.tutors import repository as tutors_repository
from server.tutors.errors import ProfileNotFound
from server.tutors.schemas import slugify

# --- the tutor's toggle ---------------------------------------------------------------------------


async def tutor_state(session: Session, redis: Redis, settings: Settings, tutor_id: uuid.UUID,
                      now: datetime) -> InstantStateOut:
    """The toggle, whether a live connection is up, and the requests still open for the tutor."""
    available = await repository.is_available(session, tutor_id)
    connected = await presence.is_online(redis, settings, tutor_id)
    offers = [InstantOfferOut.of(r, o, name) for r, o, name in await repository.open_offers(session, tutor_id, now)]
    return InstantStateOut(available=available, connected=connected, online=available and connected, offers=offers)


async def set_availability(session: Session, redis: Redis, settings: Settings, tutor_id: uuid.UUID,
                           available: bool, now: datetime) -> InstantStateOut:
    """Switch "available now" on or off (404 ``profile_not_found`` before the tutor has a
    profile). Switched on while connected, the tutor is also offered the requests still waiting
    that they could take (:func:`offer_waiting`)."""
    if not await repository.has_profile(session, tutor_id):
        raise ProfileNotFound()
    await repository.set_available(session, tutor_id, available)
    if available and await presence.is_online(redis, settings, tutor_id):
        await offer_waiting(session, settings, tutor_id, now)
    return await tutor_state(session, redis, settings, tutor_id, now)


async def offer_waiting(session: Session, settings: Settings, tutor_id: uuid.UUID, now: datetime) -> int:
    """A tutor has just come online (connected with the toggle on): offer them the pending
    requests they could take, as if they had been online when each was made (``instant.request``
    with the request's own deadline). The number of requests newly offered."""
    waiting = await repository.waiting_for(session, tutor_id, now, settings.instant_max_offers)
    if not waiting:
        return 0
    offers = [InstantOffer(request_id=w.request.id, tutor_id=w.candidate.tutor_id, currency=w.candidate.currency,
                           price_cents=holds.price_for(w.candidate.hourly_rate_cents, w.request.minutes))
              for w in waiting]
    made = await repository.add_offers(session, offers)
    messages: list[Message] = [
        ("instant.request", user_room(tutor_id),
         {"request": InstantOfferOut.of(w.request, offer, w.student_name).model_dump(mode="json")})
        for w, offer in zip(waiting, offers, strict=True) if offer.request_id in made]
    await emit(session, messages)
    return len(messages)


async def available_tutors(session: Session, redis: Redis, settings: Settings,
                           query: AvailableTutorsQuery) -> AvailableTutorsOut:
    """Tutors online for instant lessons now (toggle on and connected), best rated first."""
    online = await presence.online_tutors(redis, settings)
    subject = slugify(query.subject) if query.subject else None
    rows = await repository.available_tutors(session, online, subject, query.minutes, query.limit)
    subjects = await tutors_repository.subjects_of(session, [p.user_id for p, _ in rows])
    return AvailableTutorsOut(items=[
        AvailableTutorOut(id=p.user_id, name=name, headline=p.headline, subjects=subjects[p.user_id],
                          hourly_rate_cents=p.hourly_rate_cents, currency=p.currency,
                          lesson_minutes=sorted(p.lesson_minutes), rating=round(p.rating_avg, 2),
                          rating_count=p.rating_count)
        for p, name in rows])


# --- requests -------------------------------------------------------------------------------------


async def create_request(session: Session, redis: Redis, settings: Settings, student_id: uuid.UUID,
                         body: InstantRequestIn, now: datetime) -> InstantRequestOut:
    """Ask every online tutor who teaches ``subject`` in lessons of ``minutes`` and is free from
    now until the lesson would end (at most ``INSTANT_MAX_OFFERS``, best rated first): each gets
    ``instant.request`` with ``INSTANT_ACCEPT_SECONDS`` to accept.

    409 ``request_pending`` while the student has an open request, 409 ``hold_limit_reached``
    when the student could not take another hold, 409 ``no_tutor_available`` (nothing stored)
    when nobody is there to ask."""
    await bookings_repository.lock_student(session, student_id)
    pending = await repository.pending_of(session, student_id)
    if pending is not None:
        if pending.expires_at > now:
            raise RequestPending(details={"request_id": str(pending.id), "expires_at": pending.expires_at.isoformat()})
        await _end(session, pending, InstantStatus.EXPIRED, pending.expires_at, now)
    if await repository.live_holds(session, student_id, now) >= settings.max_active_holds:
        raise HoldLimitReached(details={"scope": "student", "limit": settings.max_active_holds})
    online = await presence.online_tutors(redis, settings)
    found = await repository.candidates(session, online, student_id, body.subject, body.minutes, now,
                                        settings.instant_max_offers)
    if not found:
        raise NoTutorAvailable(details={"subject": body.subject, "minutes": body.minutes})
    request = InstantRequest(id=uuid.uuid4(), student_id=student_id, subject=body.subject, minutes=body.minutes,
                             status=InstantStatus.PENDING, created_at=now,
                             expires_at=now + timedelta(seconds=settings.instant_accept_seconds))
    offers = [InstantOffer(request_id=request.id, tutor_id=c.tutor_id, currency=c.currency,
                           price_cents=holds.price_for(c.hourly_rate_cents, body.minutes)) for c in found]
    await repository.add(session, request, offers)
    name = await repository.user_name(session, student_id)
    await emit(session, [("instant.request", user_room(o.tutor_id),
                          {"request": InstantOfferOut.of(request, o, name).model_dump(mode="json")})
                         for o in offers])
    return InstantRequestOut.of(request, now, len(offers))


async def get_request(session: Session, principal: Principal, request_id: uuid.UUID,
                      now: datetime) -> InstantRequestOut:
    """For its student (with the booking once accepted) and the tutors it was offered to; 404 otherwise."""
    request = await repository.get(session, request_id)
    if request is None:
        raise RequestNotFound()
    offers = await repository.offers_of(session, request.id)
    if principal.id != request.student_id and principal.role != Role.ADMIN \
            and principal.id not in {o.tutor_id for o in offers}:
        raise RequestNotFound()
    booking = None
    if request.booking_id is not None:
        try:
            booking = await bookings_service.get_booking(session, principal, request.booking_id)
        except BookingNotFound:  # another tutor's lesson: not theirs to see
            booking = None
    return InstantRequestOut.of(request, now, len(offers), booking)


async def accept(session: Session, settings: Settings, tutor_id: uuid.UUID, request_id: uuid.UUID,
                 now: datetime) -> AcceptOut:
    """An offered tutor takes the request: a hold starting now (``place_hold_now``) and the
    request ``accepted``, in one transaction. Exactly one tutor wins; the others get 409
    ``request_taken`` and live ``instant.taken``. 409 ``request_expired`` past the deadline,
    409 ``request_cancelled`` once withdrawn; 404 for a tutor it was not offered to."""
    request = await repository.get(session, request_id)
    offer = await repository.offer(session, request_id, tutor_id) if request is not None else None
    if request is None or offer is None:
        raise RequestNotFound()
    await bookings_repository.lock_student_then_tutor(session, request.student_id, tutor_id)
    request = await repository.get_for_update(session, request_id)
    assert request is not None  # requests are never deleted while their student exists
    _check_open(request, now)
    if offer.declined_at is not None:
        raise OfferDeclined()
    placed = await holds.place_hold_now(session, settings, request.student_id, tutor_id, request.minutes, now)
    await repository.resolve(session, request, InstantStatus.ACCEPTED, now, tutor_id=tutor_id,
                             booking_id=placed.booking.id)
    offers = await repository.offers_of(session, request.id)
    booking = placed.out(now)
    out = InstantRequestOut.of(request, now, len(offers), booking)
    messages: list[Message] = [("instant.accepted", user_room(request.student_id),
                                {"request": out.model_dump(mode="json"), "booking": booking.model_dump(mode="json")})]
    messages += [("instant.taken", user_room(o.tutor_id), _ended(request)) for o in offers if o.tutor_id != tutor_id]
    await emit(session, messages)
    return AcceptOut(request=out, booking=booking)


async def cancel(session: Session, student_id: uuid.UUID, request_id: uuid.UUID, now: datetime) -> InstantRequestOut:
    """The student withdraws a pending request; the offered tutors get ``instant.cancelled``.
    409 ``request_not_pending`` once it was accepted, expired or cancelled."""
    request = await repository.get(session, request_id)
    if request is None or request.student_id != student_id:
        raise RequestNotFound()
    await bookings_repository.lock_student(session, student_id)
    request = await repository.get_for_update(session, request_id)
    assert request is not None
    status = request.status_at(now)
    if status != InstantStatus.PENDING:
        raise RequestNotPending(f"This request is {status}.", details={"status": status})
    return await _end(session, request, InstantStatus.CANCELLED, now, now)


async def expire(session: Session, request_id: uuid.UUID, student_id: uuid.UUID,
                 now: datetime) -> InstantRequestOut | None:
    """The sweep's step: mark a lapsed pending request ``expired`` and tell its student and
    tutors. Idempotent: None when there is nothing to do."""
    await bookings_repository.lock_student(session, student_id)
    request = await repository.get_for_update(session, request_id)
    if request is None or request.status != InstantStatus.PENDING or request.expires_at > now:
        return None
    return await _end(session, request, InstantStatus.EXPIRED, request.expires_at, now)


async def decline(session: Session, tutor_id: uuid.UUID, request_id: uuid.UUID, now: datetime) -> InstantRequestOut:
    """An offered tutor says no: the offer leaves every one of their tabs (``instant.declined``
    to the tutor) and can no longer be accepted by them. When every tutor asked has declined,
    the request ends ``declined`` at once (the student hears ``instant.declined``; nothing is
    charged) instead of waiting for its deadline. Declining twice is harmless; 409 as for
    accepting once the request is no longer open; 404 for a tutor it was not offered to."""
    request = await repository.get(session, request_id)
    if request is None or await repository.offer(session, request_id, tutor_id) is None:
        raise RequestNotFound()
    await bookings_repository.lock_student_then_tutor(session, request.student_id, tutor_id)
    request = await repository.get_for_update(session, request_id)
    assert request is not None
    _check_open(request, now)
    still_open = await repository.decline(session, request_id, tutor_id, now)
    if still_open == 0:
        return await _end(session, request, InstantStatus.DECLINED, now, now)
    await emit(session, [("instant.declined", user_room(tutor_id), _ended(request))])
    offers = await repository.offers_of(session, request.id)
    return InstantRequestOut.of(request, now, len(offers))


def _check_open(request: InstantRequest, now: datetime) -> None:
    status = request.status_at(now)
    if status == InstantStatus.ACCEPTED:
        raise RequestTaken()
    if status == InstantStatus.CANCELLED:
        raise RequestCancelled()
    if status == InstantStatus.EXPIRED:
        raise RequestExpired()
    if status == InstantStatus.DECLINED:
        raise RequestDeclined()


def _ended(request: InstantRequest) -> dict[str, Any]:
    """What an offered tutor hears when a request ends without them."""
    return {"request_id": str(request.id), "status": str(request.status)}


async def _end(session: Session, request: InstantRequest, status: InstantStatus, at: datetime,
               now: datetime) -> InstantRequestOut:
    """Close a pending request (row-locked) as ``expired``, ``cancelled`` or ``declined`` and
    tell everyone (the student ``{request}``, each tutor asked ``{request_id, status}``)."""
    await repository.resolve(session, request, status, at)
    offers = await repository.offers_of(session, request.id)
    out = InstantRequestOut.of(request, now, len(offers))
    event = f"instant.{status}"
    messages: list[Message] = [(event, user_room(request.student_id), {"request": out.model_dump(mode="json")})]
    messages += [(event, user_room(o.tutor_id), _ended(request)) for o in offers]
    await emit(session, messages)
    return out
