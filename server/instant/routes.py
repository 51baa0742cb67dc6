"""HTTP routes for instant lessons: parse, authorize, one service call, serialize."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from server.availability.slots import SlotNotOffered
from server.bookings.errors import HoldCooldown, HoldLimitReached, SlotUnavailable
from server.db import Session
from server.http import SIGNED_IN, STUDENT, TUTOR, Ctx, Router
from server.idempotency import IdempotencyKeyReused, Replayable, run_idempotent
from server.instant import service
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
    AvailabilityIn,
    AvailableTutorsOut,
    AvailableTutorsQuery,
    InstantRequestIn,
    InstantRequestOut,
    InstantStateOut,
)
from server.tutors.errors import ProfileNotFound

router = Router("/api/v1", tags=["instant lessons"])


def _now() -> datetime:
    return datetime.now(UTC)


@router.get("/tutors/me/instant", auth=TUTOR, summary="Your instant-lesson state")
async def get_instant_state(ctx: Ctx, session: Session) -> InstantStateOut:
    """The "available now" toggle, whether one of your /live connections is up (`connected`),
    whether new requests reach you (`online` = both), and the requests offered to you that are
    still open (what `instant.request` delivered; read it again after a reconnect)."""
    return await service.tutor_state(session, ctx.redis, ctx.settings, ctx.user.id, _now())


@router.put("/tutors/me/instant", auth=TUTOR, summary="Switch \"available now\" on or off",
            errors=[ProfileNotFound])
async def put_instant_state(ctx: Ctx, session: Session, body: AvailabilityIn) -> InstantStateOut:
    """While it is on and at least one of your /live connections is up, students' instant
    requests in your subjects and lesson lengths reach you live (`instant.request`) whenever
    you have no lesson or calendar event from now until the lesson would end. 404
    `profile_not_found` before you have a tutor profile."""
    return await service.set_availability(session, ctx.redis, ctx.settings, ctx.user.id, body.available, _now())


@router.get("/instant/tutors", summary="Tutors available for an instant lesson now")
async def list_available_tutors(ctx: Ctx, session: Session, query: AvailableTutorsQuery) -> AvailableTutorsOut:
    """Tutors whose "available now" toggle is on and who are connected, best rated first;
    optionally only those teaching `subject` (name or slug) in lessons of `minutes`."""
    return await service.available_tutors(session, ctx.redis, ctx.settings, query)


@router.post("/instant-requests", auth=STUDENT, status=201, summary="Ask for a lesson now",
             errors=[NoTutorAvailable, RequestPending, HoldLimitReached, IdempotencyKeyReused])
async def create_instant_request(ctx: Ctx, session: Session, body: InstantRequestIn) -> InstantRequestOut:
    """Every online tutor who teaches `subject` in lessons of `minutes` and is free from now
    until the lesson would end gets `instant.request` with INSTANT_ACCEPT_SECONDS to accept.
    The first to accept books you (live `instant.accepted` with the booking, held until you pay
    with `POST /bookings/{id}/checkout`); nobody by the deadline: `instant.expired`, nothing
    charged. 409 `no_tutor_available` (nothing stored) when nobody can be asked; 409
    `request_pending` while another request of yours is open; 409 `hold_limit_reached` when
    you hold MAX_ACTIVE_HOLDS slots already."""
    now = _now()

    async def action() -> InstantRequestOut:
        return await service.create_request(session, ctx.redis, ctx.settings, ctx.user.id, body, now)

    return await run_idempotent(session, Replayable.of(ctx, body, 201), action)  # type: ignore[return-value]


@router.get("/instant-requests/{request_id}", auth=SIGNED_IN, summary="One instant request",
            errors=[RequestNotFound])
async def get_instant_request(ctx: Ctx, session: Session, request_id: uuid.UUID) -> InstantRequestOut:
    """For its student (with the booking once accepted) and the tutors it was offered to; 404 for anyone else."""
    return await service.get_request(session, ctx.user, request_id, _now())


@router.post("/instant-requests/{request_id}/accept", auth=TUTOR, summary="Accept an instant request",
             errors=[RequestNotFound, RequestTaken, RequestExpired, RequestCancelled, RequestDeclined,
                     OfferDeclined, SlotUnavailable, SlotNotOffered, HoldLimitReached, HoldCooldown])
async def accept_instant_request(ctx: Ctx, session: Session, request_id: uuid.UUID) -> AcceptOut:
    """The first offered tutor to accept gets a lesson starting now (a `held` booking, with
    `booking.new` and `slots.changed` as for any hold); exactly one wins. 409 `request_taken`
    when another tutor was first, `request_expired` past the deadline, `request_cancelled` when
    the student withdrew it, `request_declined` when every tutor asked declined it,
    `offer_declined` when you declined it; `slot_unavailable` when you are no longer free (the
    request stays open for the others); 404 when it was not offered to you."""
    return await service.accept(session, ctx.settings, ctx.user.id, request_id, _now())


@router.post("/instant-requests/{request_id}/decline", auth=TUTOR, summary="Decline an instant request",
             errors=[RequestNotFound, RequestTaken, RequestExpired, RequestCancelled, RequestDeclined])
async def decline_instant_request(ctx: Ctx, session: Session, request_id: uuid.UUID) -> InstantRequestOut:
    """An offered tutor says no: the request leaves every tab of yours (live `instant.declined`
    `{request_id, status}`) and you can no longer accept it; declining again is harmless. When
    every tutor asked has declined, the request ends `declined` at once and the student gets
    `instant.declined` `{request}` (nothing charged). 409 as for accepting once the request is
    no longer open; 404 when it was not offered to you."""
    return await service.decline(session, ctx.user.id, request_id, _now())


@router.post("/instant-requests/{request_id}/cancel", auth=STUDENT, summary="Withdraw an instant request",
             errors=[RequestNotFound, RequestNotPending])
async def cancel_instant_request(ctx: Ctx, session: Session, request_id: uuid.UUID) -> InstantRequestOut:
    """Its student only (404 otherwise); the offered tutors get `instant.cancelled`. 409
    `request_not_pending` once it was accepted, expired or cancelled."""
    return await service.cancel(session, ctx.user.id, request_id, _now())
