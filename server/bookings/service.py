"""Holds and the booking lifecycle: the rules, never the transport.

Concurrency design (see docs/architecture.md):
* Every change to a tutor's bookings takes a transaction-scoped advisory lock on the tutor
  (and placing a hold first takes one on the student, always in that order, so the locks
  cannot deadlock). Contention on a hot tutor is then a short queue, not PostgreSQL's
  deadlock detector; the exclusion constraint ``ex_bookings_no_overlap`` stays the final
  guarantee against double booking.
* Expiry is a condition: a ``held`` row whose ``expires_at`` has passed never blocks. A new
  hold moves lapsed rows out of the way (status ``expired``) in its own transaction.
* Every status change writes a ``booking_events`` row, bumps the tutor's version and records
  outbox messages in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, text, tuple_
from sqlalchemy.dialects.postgresql import TSTZRANGE, Range
from sqlalchemy.exc import IntegrityError

from models.booking import TRANSITIONS, Booking, BookingEvent
from models.user import User
from server.auth.tokens import Principal
from server.availability.service import load_policy
from server.availability.slots import check_bookable
from server.bookings.changes import slot_changes
from server.bookings.schemas import BookingOut
from server.calendar.repository import CALENDAR_CONFLICT_SQL
from server.db import Session
from server.errors import Conflict, NotFound
from server.observability import metrics
from server.outbox import emit, slots_changed, tutor_room, user_room
from server.pagination import InvalidCursor, decode_cursor, encode_cursor
from server.settings import Settings

EXCLUSION_VIOLATION = "23P01"


class SlotUnavailable(Conflict):
    code = "slot_unavailable"
    message = "That time is no longer available."


class HoldLimitReached(Conflict):
    code = "hold_limit_reached"
    message = "You already hold the maximum number of slots; pay for or release one first."


class InvalidTransition(Conflict):
    code = "invalid_transition"
    message = "The booking cannot change to that status from its current one."


class NotCancellable(Conflict):
    code = "not_cancellable"
    message = "This booking can no longer be cancelled."


class NotReschedulable(Conflict):
    code = "not_reschedulable"
    message = "This booking can no longer be rescheduled."


class HoldLapsed(Conflict):
    code = "hold_expired"
    message = "The hold has lapsed; hold the slot again."


class BookingNotFound(NotFound):
    code = "not_found"
    message = "No such booking."


def _lock_key(uid: uuid.UUID) -> int:
    """A signed 64-bit advisory-lock key from a uuid (its first 8 bytes)."""
    return int.from_bytes(uid.bytes[:8], "big", signed=True)


async def lock_tutor(session: Session, tutor_id: uuid.UUID) -> None:
    """Serialize changes to one tutor's bookings until the transaction ends."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key(tutor_id)})


def _student_lock_key(student_id: uuid.UUID) -> int:
    # A different key space from tutors: flip a high bit.
    return _lock_key(student_id) ^ (1 << 62)


async def party_names(session: Session, bookings: Sequence[Booking]) -> dict[uuid.UUID, str]:
    """Display names of the students and tutors of ``bookings`` (cached per session)."""
    cache: dict[uuid.UUID, str] = session.info.setdefault("user_names", {})
    missing = {uid for b in bookings for uid in (b.student_id, b.tutor_id)} - cache.keys()
    if missing:
        rows = await session.execute(select(User.id, User.name).where(User.id.in_(missing)))
        cache.update({uid: name for uid, name in rows.tuples()})
    return cache


async def _booking_messages(session: Session, booking: Booking, now: datetime, *,
                            new: bool = False) -> list[tuple[str, str, dict[str, Any]]]:
    names = await party_names(session, [booking])
    payload = {"booking": BookingOut.of(booking, now, names).model_dump(mode="json")}
    messages = [("booking.updated", user_room(booking.student_id), payload),
                ("booking.updated", user_room(booking.tutor_id), payload)]
    if new:
        messages.append(("booking.new", user_room(booking.tutor_id), payload))
    return messages


def _record(session: Session, booking: Booking, kind: str, actor_id: uuid.UUID | None,
            from_status: str | None, data: dict[str, Any] | None = None) -> None:
    session.add(BookingEvent(booking_id=booking.id, actor_id=actor_id, kind=kind, from_status=from_status,
                             to_status=booking.status, data=data or {}))
    metrics.count_transition(session, from_status, booking.status)  # holds expired/converted, after commit


def _set_status(booking: Booking, to_status: str) -> str:
    if to_status not in TRANSITIONS[booking.status]:
        raise InvalidTransition(f"A {booking.status} booking cannot become {to_status}.",
                                details={"from": booking.status, "to": to_status})
    previous = booking.status
    booking.status = to_status
    return previous


async def _expire_lapsed(session: Session, tutor_id: uuid.UUID, guarded: Range[datetime],
                         now: datetime) -> list[Booking]:
    """Move lapsed holds overlapping ``guarded`` out of the way (status ``expired``)."""
    lapsed = (await session.scalars(
        select(Booking).where(Booking.tutor_id == tutor_id, Booking.status == "held", Booking.expires_at <= now,
                              Booking.guarded.op("&&")(guarded)).with_for_update())).all()
    for booking in lapsed:
        previous = _set_status(booking, "expired")
        _record(session, booking, "expired", None, previous, {"reason": "lapsed; slot taken over"})
    return list(lapsed)


_CONFLICT = text(f"""
SELECT EXISTS (SELECT 1 FROM bookings WHERE tutor_id = :t AND guarded && :g AND id IS DISTINCT FROM :x
               AND (status = 'confirmed' OR (status = 'held' AND expires_at > :now)))
       OR {CALENDAR_CONFLICT_SQL}
""").bindparams(bindparam("g", type_=TSTZRANGE))


async def _live_conflict(session: Session, tutor_id: uuid.UUID, guarded: Range[datetime], now: datetime,
                         exclude: uuid.UUID | None = None) -> bool:
    """Whether a live booking (other than ``exclude``) or the tutor's calendar occupies ``guarded``."""
    return bool(await session.scalar(_CONFLICT, {"t": tutor_id, "g": guarded, "x": exclude, "now": now}))


async def _flush_or_conflict(session: Session) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        if getattr(exc.orig, "sqlstate", None) == EXCLUSION_VIOLATION:
            raise SlotUnavailable() from exc
        raise


def price_for(rate_cents: int, minutes: int) -> int:
    """The lesson price in minor units, rounded half up."""
    return (rate_cents * minutes + 30) // 60


_HOLD_CHECKS = text(f"""
WITH lapsed AS (
    UPDATE bookings SET status = 'expired', updated_at = now()
    WHERE tutor_id = :t AND status = 'held' AND expires_at <= :now AND guarded && :g
    RETURNING id
)
SELECT
    (SELECT count(*) FROM bookings WHERE student_id = :s AND status = 'held' AND expires_at > :now) AS holds,
    EXISTS (SELECT 1 FROM bookings WHERE tutor_id = :t AND guarded && :g
            AND (status = 'confirmed' OR (status = 'held' AND expires_at > :now)))
        OR {CALENDAR_CONFLICT_SQL} AS conflict,
    ARRAY(SELECT id FROM lapsed) AS lapsed,
    (SELECT name FROM users WHERE id = :s) AS student_name,
    (SELECT name FROM users WHERE id = :t) AS tutor_name
""").bindparams(bindparam("g", type_=TSTZRANGE))

_HOLD_INSERT = text("""
WITH b AS (
    INSERT INTO bookings (id, tutor_id, student_id, status, start_at, end_at, guarded, expires_at, price_cents,
                          currency, created_at, updated_at)
    VALUES (:id, :t, :s, 'held', :start, :end, :g, :expires, :price, :currency, :now, :now)
    RETURNING id
)
INSERT INTO booking_events (booking_id, actor_id, kind, from_status, to_status, data)
SELECT id, :s, 'held', NULL, 'held', '{}'::jsonb FROM b
""").bindparams(bindparam("g", type_=TSTZRANGE))


async def place_hold(session: Session, settings: Settings, student_id: uuid.UUID, tutor_id: uuid.UUID,
                     start: datetime, minutes: int, now: datetime) -> Booking:
    """Hold ``[start, start + minutes)`` with ``tutor_id`` for ``HOLD_TTL_SECONDS``.

    The hot path of the product, so it is a handful of round trips: the policy, both locks
    (student then tutor, always in that order), one statement for the hold limit, lapsed
    holds and conflicts, one for the booking and its history, one for version and outbox.
    """
    policy, rules, overrides = await load_policy(session, tutor_id)
    check_bookable(policy, rules, overrides, start, minutes, now)
    end = start + timedelta(minutes=minutes)
    guarded = Range(start, end + timedelta(minutes=policy.buffer_minutes), bounds="[)")

    await session.execute(text("SELECT pg_advisory_xact_lock(:sk), pg_advisory_xact_lock(:tk)"),
                          {"sk": _student_lock_key(student_id), "tk": _lock_key(tutor_id)})
    checks = (await session.execute(_HOLD_CHECKS, {"t": tutor_id, "s": student_id, "g": guarded, "now": now})).one()
    if checks.holds >= settings.max_active_holds:
        raise HoldLimitReached(details={"limit": settings.max_active_holds})
    if checks.conflict:
        metrics.hold_conflicted()
        raise SlotUnavailable()
    session.info.setdefault("user_names", {}).update({student_id: checks.student_name, tutor_id: checks.tutor_name})
    booking = Booking(id=uuid.uuid4(), tutor_id=tutor_id, student_id=student_id, status="held", start_at=start,
                      end_at=end, guarded=guarded, expires_at=now + timedelta(seconds=settings.hold_ttl_seconds),
                      price_cents=price_for(policy.hourly_rate_cents, minutes), currency=policy.currency,
                      created_at=now)
    try:  # the exclusion constraint stays the final guarantee (a violation aborts the transaction)
        await session.execute(_HOLD_INSERT, {
            "id": booking.id, "t": tutor_id, "s": student_id, "start": start, "end": end, "g": guarded,
            "expires": booking.expires_at, "price": booking.price_cents, "currency": booking.currency, "now": now})
    except IntegrityError as exc:
        if getattr(exc.orig, "sqlstate", None) == EXCLUSION_VIOLATION:
            metrics.hold_conflicted()
            raise SlotUnavailable() from exc
        raise
    metrics.count_transition(session, None, "held")  # holds placed, after commit
    messages = await _booking_messages(session, booking, now, new=True)
    ranges = [guarded]
    if checks.lapsed:
        for old in (await session.scalars(select(Booking).where(Booking.id.in_(checks.lapsed)))).all():
            _record(session, old, "expired", None, "held", {"reason": "lapsed; slot taken over"})
            messages.extend(await _booking_messages(session, old, now))
            ranges.append(old.guarded)
    changes = await slot_changes(session, policy, rules, overrides, tutor_id, ranges, now)
    await slots_changed(session, tutor_id, changes, messages)
    return booking


async def _get_for_update(session: Session, booking_id: uuid.UUID) -> Booking:
    booking = await session.get(Booking, booking_id, with_for_update=True, populate_existing=True)
    if booking is None:
        raise BookingNotFound()
    return booking


async def _change_status(session: Session, booking: Booking, to_status: str, kind: str,
                         actor_id: uuid.UUID | None, now: datetime, data: dict[str, Any] | None = None,
                         *, new: bool = False) -> None:
    """Apply a transition with its history row, version bump and outbox messages."""
    previous = _set_status(booking, to_status)
    if to_status != "held":
        booking.expires_at = None if to_status != "expired" else booking.expires_at
    _record(session, booking, kind, actor_id, previous, data)
    await session.flush()
    policy, rules, overrides = await load_policy(session, booking.tutor_id)
    changes = await slot_changes(session, policy, rules, overrides, booking.tutor_id, [booking.guarded], now)
    await slots_changed(session, booking.tutor_id, changes, await _booking_messages(session, booking, now, new=new))


async def release_hold(session: Session, student_id: uuid.UUID, booking_id: uuid.UUID, now: datetime) -> Booking:
    """The student lets go of a hold; the slot reopens at once."""
    booking = await session.get(Booking, booking_id)
    if booking is None or booking.student_id != student_id:
        raise BookingNotFound()
    await lock_tutor(session, booking.tutor_id)
    booking = await _get_for_update(session, booking_id)
    if booking.status != "held":
        raise InvalidTransition(f"This booking is {booking.status}, not held.",
                                details={"from": booking.status, "to": "released"})
    lapsed = booking.expires_at is not None and booking.expires_at <= now
    await _change_status(session, booking, "expired" if lapsed else "released",
                         "expired" if lapsed else "released", student_id, now)
    return booking


async def expire_hold(session: Session, booking_id: uuid.UUID, now: datetime) -> Booking | None:
    """Mark one lapsed hold expired and publish the reopening. Idempotent: returns None when
    there is nothing to do (already expired, released, confirmed, or not yet lapsed)."""
    booking = await session.get(Booking, booking_id)
    if booking is None:
        return None
    await lock_tutor(session, booking.tutor_id)
    booking = await _get_for_update(session, booking_id)
    if booking.status != "held" or booking.expires_at is None or booking.expires_at > now:
        return None
    await _change_status(session, booking, "expired", "expired", None, now)
    return booking


# --- Background transitions, called by tasks/bookings.py (jobs, issue 5) ------------------


async def complete(session: Session, booking_id: uuid.UUID, now: datetime) -> Booking | None:
    """Mark a confirmed booking whose lesson has ended ``completed``. Idempotent: returns
    None when there is nothing to do (not confirmed, or not over yet)."""
    booking = await session.get(Booking, booking_id)
    if booking is None:
        return None
    await lock_tutor(session, booking.tutor_id)
    booking = await _get_for_update(session, booking_id)
    if booking.status != "confirmed" or booking.end_at > now:
        return None
    previous = _set_status(booking, "completed")
    _record(session, booking, "completed", None, previous)
    await session.flush()
    # The lesson is over, but the buffer after it may reach into the future: watchers hear
    # about slots that it no longer blocks (and no version bump when there are none).
    policy, rules, overrides = await load_policy(session, booking.tutor_id)
    changes = await slot_changes(session, policy, rules, overrides, booking.tutor_id, [booking.guarded], now)
    if changes:
        await slots_changed(session, booking.tutor_id, changes, await _booking_messages(session, booking, now))
    else:
        await emit(session, await _booking_messages(session, booking, now))
    return booking


async def confirm(session: Session, booking_id: uuid.UUID, now: datetime, *, actor_id: uuid.UUID | None,
                  payment: dict[str, Any] | None = None) -> Booking:
    """The one confirmation path (free lessons, the test provider and Stripe all end here).

    A held booking whose hold has not lapsed becomes ``confirmed``. Idempotent for a booking
    that is already confirmed."""
    booking = await session.get(Booking, booking_id)
    if booking is None:
        raise BookingNotFound()
    await lock_tutor(session, booking.tutor_id)
    booking = await _get_for_update(session, booking_id)
    if booking.status == "confirmed":
        return booking
    if booking.status == "held" and booking.expires_at is not None and booking.expires_at <= now:
        raise HoldLapsed()
    if payment:
        booking.payment_status = payment.get("status", "paid")
    await _change_status(session, booking, "confirmed", "confirmed", actor_id, now, payment, new=True)
    return booking


async def settle_payment(session: Session, booking_id: uuid.UUID, now: datetime,
                         payment: dict[str, Any]) -> tuple[Booking, str]:
    """A payment succeeded: confirm the booking if its time is still ours.

    Returns the booking and the outcome: ``confirmed``, ``already_confirmed``, ``reclaimed``
    (the hold had lapsed but the time was still free: confirmed anyway) or ``refund`` (the
    time was taken meanwhile, or the booking was released/cancelled: the payment must be
    refunded in full; the booking is marked ``payment_status = refund_pending``)."""
    booking = await session.get(Booking, booking_id)
    if booking is None:
        raise BookingNotFound()
    await lock_tutor(session, booking.tutor_id)
    booking = await _get_for_update(session, booking_id)
    if booking.status == "confirmed":
        return booking, "already_confirmed"
    if booking.status == "held" and booking.expires_at is not None and booking.expires_at > now:
        booking.payment_status = "paid"
        await _change_status(session, booking, "confirmed", "confirmed", None, now, payment, new=True)
        return booking, "confirmed"
    if booking.status in ("held", "expired"):
        others = [b for b in await _expire_lapsed(session, booking.tutor_id, booking.guarded, now) if b.id != booking.id]
        if others:
            await emit(session, [m for b in others for m in await _booking_messages(session, b, now)])
        if not await _live_conflict(session, booking.tutor_id, booking.guarded, now, exclude=booking.id):
            booking.payment_status = "paid"
            await _change_status(session, booking, "confirmed", "confirmed", None, now,
                                 {**payment, "late": True}, new=True)
            return booking, "reclaimed"
    booking.payment_status = "refund_pending"
    booking.refund_cents = booking.price_cents
    _record(session, booking, "payment_refused", None, booking.status,
            {**payment, "reason": "the time was no longer available"})
    await emit_booking(session, booking, now)
    return booking, "refund"


def _visible(booking: Booking | None, principal: Principal) -> Booking:
    if booking is None or (principal.role != "admin" and principal.id not in (booking.student_id, booking.tutor_id)):
        raise BookingNotFound()
    return booking


async def get_booking(session: Session, principal: Principal, booking_id: uuid.UUID) -> Booking:
    return _visible(await session.get(Booking, booking_id), principal)


def refund_for(settings: Settings, booking: Booking, cancelled_by_tutor: bool, now: datetime) -> int:
    """The cancellation policy: full refund when the tutor cancels or the student cancels at
    least ``CANCEL_FULL_REFUND_HOURS`` before the start; nothing after that."""
    if cancelled_by_tutor or booking.start_at - now >= timedelta(hours=settings.cancel_full_refund_hours):
        return booking.price_cents
    return 0


async def cancel(session: Session, settings: Settings, principal: Principal, booking_id: uuid.UUID,
                 reason: str | None, now: datetime) -> Booking:
    """Cancel a confirmed booking by policy (a held one is simply released)."""
    booking = _visible(await session.get(Booking, booking_id), principal)
    if booking.status == "held" and principal.id == booking.student_id:
        return await release_hold(session, principal.id, booking_id, now)
    await lock_tutor(session, booking.tutor_id)
    booking = await _get_for_update(session, booking_id)
    if booking.status != "confirmed" or booking.start_at <= now:
        raise NotCancellable(f"A {booking.status} booking that "
                             f"{'has started' if booking.start_at <= now else 'is not confirmed'} cannot be cancelled.",
                             details={"status": booking.status})
    by_tutor = principal.id == booking.tutor_id
    booking.cancelled_by = principal.id
    booking.cancel_reason = reason
    booking.refund_cents = refund_for(settings, booking, by_tutor, now)
    if booking.refund_cents and booking.payment_provider in ("stripe", "test"):
        booking.payment_status = "refund_pending"
    await _change_status(session, booking, "cancelled", "cancelled", principal.id, now,
                         {"reason": reason, "by": "tutor" if by_tutor else "student",
                          "refund_cents": booking.refund_cents})
    return booking


async def reschedule(session: Session, settings: Settings, principal: Principal, booking_id: uuid.UUID,
                     start: datetime, now: datetime) -> Booking:
    """Move a confirmed booking to a free time atomically: both or nothing."""
    booking = _visible(await session.get(Booking, booking_id), principal)
    policy, rules, overrides = await load_policy(session, booking.tutor_id)
    minutes = int((booking.end_at - booking.start_at).total_seconds() // 60)
    await lock_tutor(session, booking.tutor_id)
    booking = await _get_for_update(session, booking_id)
    if booking.status != "confirmed" or booking.start_at <= now:
        raise NotReschedulable(details={"status": booking.status})
    check_bookable(policy, rules, overrides, start, minutes, now, lesson_lengths=[minutes])
    end = start + timedelta(minutes=minutes)
    guarded = Range(start, end + timedelta(minutes=policy.buffer_minutes), bounds="[)")
    lapsed = await _expire_lapsed(session, booking.tutor_id, guarded, now)
    if await _live_conflict(session, booking.tutor_id, guarded, now, exclude=booking.id):
        raise SlotUnavailable()
    old_guarded, old_start = booking.guarded, booking.start_at
    booking.start_at, booking.end_at, booking.guarded = start, end, guarded
    _record(session, booking, "rescheduled", principal.id, booking.status,
            {"from": old_start.isoformat(), "to": start.isoformat()})
    await _flush_or_conflict(session)
    messages = await _booking_messages(session, booking, now)
    for old in lapsed:
        messages.extend(await _booking_messages(session, old, now))
    changes = await slot_changes(session, policy, rules, overrides, booking.tutor_id,
                                 [old_guarded, guarded, *(b.guarded for b in lapsed)], now)
    await slots_changed(session, booking.tutor_id, changes, messages)
    return booking


async def list_bookings(session: Session, principal: Principal, status: str | None, cursor: str | None,
                        limit: int, now: datetime) -> tuple[list[Booking], str | None]:
    """The caller's bookings (as student or tutor), soonest first, keyset-paginated."""
    query = select(Booking)
    if principal.role != "admin":
        query = query.where((Booking.student_id == principal.id) | (Booking.tutor_id == principal.id))
    if status == "held":
        query = query.where(Booking.status == "held", Booking.expires_at > now)
    elif status == "expired":
        query = query.where((Booking.status == "expired") | ((Booking.status == "held") & (Booking.expires_at <= now)))
    elif status is not None:
        query = query.where(Booking.status == status)
    if cursor:
        after_start, after_id = decode_cursor(cursor, 2)
        try:
            key = (datetime.fromisoformat(after_start), uuid.UUID(after_id))
        except (TypeError, ValueError) as exc:
            raise InvalidCursor() from exc
        query = query.where(tuple_(Booking.start_at, Booking.id) > tuple_(*key))
    rows = list((await session.scalars(query.order_by(Booking.start_at, Booking.id).limit(limit + 1))).all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor([rows[-1].start_at.isoformat(), str(rows[-1].id)])
    return rows, next_cursor


async def emit_booking(session: Session, booking: Booking, now: datetime) -> None:
    """Tell both parties about a change that does not move the slot (e.g. a payment failure)."""
    await emit(session, await _booking_messages(session, booking, now))


__all__ = ["BookingNotFound", "HoldLimitReached", "InvalidTransition", "NotCancellable", "SlotUnavailable",
           "cancel", "confirm", "expire_hold", "get_booking", "list_bookings", "place_hold", "release_hold",
           "reschedule", "tutor_room"]
