"""Admin-only endpoints: dead letters of background tasks, accounts (search, suspend,
reinstate), bookings (any filter, refund, cancel), the audit log and the live overview.
Every action records who took it and why in the audit log, in the action's transaction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from server.admin import service
from server.admin.schemas import (
    AdminBookingQuery,
    AdminCancelIn,
    AdminRefundIn,
    AdminUserOut,
    AdminUserPage,
    AdminUserQuery,
    AuditPage,
    AuditQuery,
    DeadLetterOut,
    DeadLetterPage,
    DeadLetterQuery,
    DeadLetterRetryOut,
    OverviewOut,
    ReasonIn,
    SuspendIn,
)
from server.auth.service import AccountNotFound
from server.bookings.errors import BookingNotFound, InvalidTransition, NotCancellable
from server.bookings.schemas import BookingOut, BookingPage
from server.db import Session
from server.http import ADMIN, Ctx, Router
from server.pagination import InvalidCursor
from server.payments.service import NotRefundable

router = Router("/api/v1", tags=["admin"])


@router.get("/admin/dead-letters", auth=ADMIN, summary="Background tasks that exhausted their retries",
            errors=[InvalidCursor])
async def list_dead_letters(ctx: Ctx, session: Session, query: DeadLetterQuery) -> DeadLetterPage:
    """Newest first. Each is a third-party call (refund, calendar, video, e-mail) that failed
    `TASK_MAX_RETRIES` times, or at once with a permanent error."""
    rows, next_cursor = await service.list_dead_letters(session, query.retried, query.cursor, query.limit)
    return DeadLetterPage(items=[DeadLetterOut.of(r) for r in rows], next_cursor=next_cursor)


@router.post("/admin/dead-letters/{letter_id}/retry", auth=ADMIN, status=202,
             summary="Re-queue a dead letter's task with its original arguments",
             errors=[service.DeadLetterNotFound, service.AlreadyRetried, service.UnknownTask])
async def retry_dead_letter(ctx: Ctx, session: Session, letter_id: str) -> DeadLetterRetryOut:
    """202: queued with a fresh retry budget (a new failure makes a new dead letter). 409
    `already_retried` for one re-queued before; 409 `unknown_task` when the task is gone."""
    letter, task_id = await service.retry_dead_letter(session, ctx.settings, ctx.user.id,
                                                      service.parse_id(letter_id), datetime.now(UTC))
    return DeadLetterRetryOut(dead_letter=DeadLetterOut.of(letter), task_id=task_id)


@router.get("/admin/users", auth=ADMIN, summary="Search accounts by e-mail or name", errors=[InvalidCursor])
async def list_users(ctx: Ctx, session: Session, query: AdminUserQuery) -> AdminUserPage:
    rows, next_cursor = await service.search_users(session, query.q, query.cursor, query.limit)
    return AdminUserPage(items=[AdminUserOut.of(u) for u in rows], next_cursor=next_cursor)


@router.post("/admin/users/{user_id}/suspend", auth=ADMIN, summary="Suspend an account at once",
             errors=[AccountNotFound])
async def suspend_user(ctx: Ctx, session: Session, user_id: uuid.UUID, body: SuspendIn) -> AdminUserOut:
    """The account can no longer sign in or refresh; its refresh tokens are revoked, its live
    connections close in every API process, and its unexpired access tokens are refused
    (403 `account_suspended`) within `SUSPENSION_REFRESH_SECONDS`. Repeating it changes nothing."""
    return AdminUserOut.of(await service.suspend_user(session, ctx.user.id, user_id, body.reason, datetime.now(UTC)))


@router.post("/admin/users/{user_id}/reinstate", auth=ADMIN, summary="Lift a suspension",
             errors=[AccountNotFound])
async def reinstate_user(ctx: Ctx, session: Session, user_id: uuid.UUID, body: ReasonIn) -> AdminUserOut:
    """The account may sign in again; the reason goes to the audit log."""
    return AdminUserOut.of(await service.reinstate_user(session, ctx.user.id, user_id, body.reason))


@router.get("/admin/bookings", auth=ADMIN, summary="Bookings by status, payment status, tutor or student",
            errors=[InvalidCursor])
async def list_bookings(ctx: Ctx, session: Session, query: AdminBookingQuery) -> BookingPage:
    """Newest first. `payment_status=refund_failed` lists the refunds given up (Stripe refused,
    or `REFUND_MAX_ATTEMPTS` spent), which need an admin."""
    return await service.booking_page(session, query, datetime.now(UTC))


@router.post("/admin/bookings/{booking_id}/refund", auth=ADMIN, summary="Refund a paid booking (or retry a failed refund)",
             errors=[BookingNotFound, NotRefundable])
async def refund_booking(ctx: Ctx, session: Session, booking_id: uuid.UUID, body: AdminRefundIn) -> BookingOut:
    """In full unless `amount_cents` says less; the booking's status does not change (cancel it
    for that). Works on a `paid` booking, and on a `refund_failed` one to try again after fixing
    the cause; 409 `not_refundable` otherwise. Recorded in the booking's history with the reason;
    Stripe refunds go through the retried refund task (`payment_status` is `refund_pending` until
    it lands)."""
    now = datetime.now(UTC)
    booking = await service.refund_booking(session, ctx.settings, booking_id, body.amount_cents, body.reason,
                                           ctx.user.id, now)
    return BookingOut.of(booking, now)


@router.post("/admin/bookings/{booking_id}/cancel", auth=ADMIN, summary="Cancel a booking, refunding it in full",
             errors=[BookingNotFound, NotCancellable, InvalidTransition])
async def cancel_booking(ctx: Ctx, session: Session, booking_id: uuid.UUID, body: AdminCancelIn) -> BookingOut:
    """A confirmed booking that has not started; paid ones are refunded in full whatever the
    student's refund deadline (`refund_pending` until a Stripe refund lands). Both parties
    are told as for any cancellation; 409 `not_cancellable` otherwise."""
    now = datetime.now(UTC)
    return BookingOut.of(await service.cancel_booking(session, ctx.settings, ctx.user, booking_id, body.reason, now),
                         now)


@router.get("/admin/audit", auth=ADMIN, summary="The audit log of admin actions (who, what, why)",
            errors=[InvalidCursor])
async def list_audit(ctx: Ctx, session: Session, query: AuditQuery) -> AuditPage:
    """Newest first: suspensions, reinstatements, refunds, cancellations and dead-letter retries,
    each with the admin, the target and the reason given."""
    return await service.list_audit(session, query)


@router.get("/admin/overview", auth=ADMIN, summary="Live overview: holds per minute, conflicts, watchers")
async def overview(ctx: Ctx, session: Session) -> OverviewOut:
    """Holds per minute and the counts that need an admin come from the database (the whole
    platform); `holds_conflicted_total`, `holds_placed_total` and `live_connections` are this
    API process's own (Prometheus `/metrics` sums them across processes)."""
    return await service.overview(session, datetime.now(UTC))
