"""Payment tasks: refunds and PaymentIntent cancellation (retried, idempotent), and a
reconciliation sweep that re-queues anything whose enqueue was lost (the API kicks these
after commit; a crash in between would otherwise leave a refund undone)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable

import stripe
from sqlalchemy import text

from server.db import Sessionmaker
from server.payments.refunds import cancel_intent as cancel_booking_intent
from server.payments.refunds import refund_booking
from server.settings import Settings
from tasks import runtime
from tasks.broker import broker
from tasks.outbound import PermanentError, outbound_task

log = logging.getLogger("edustream.tasks.payments")

# Stripe said no for a reason a retry cannot change (bad request, bad key): dead-letter at once.
_PERMANENT = (stripe.InvalidRequestError, stripe.AuthenticationError, stripe.PermissionError, stripe.CardError)


async def _run(action: Callable[[Settings, Sessionmaker, uuid.UUID], Awaitable[str]],
               booking_id: str) -> str:
    rt = runtime.get()
    try:
        return await action(rt.settings, rt.sessionmaker, uuid.UUID(booking_id))
    except _PERMANENT as exc:
        raise PermanentError(f"stripe refused: {exc}") from exc


@outbound_task("payments.refund")
async def refund(booking_id: str) -> str:
    """Refund what a booking is owed (Stripe call keyed per booking and amount)."""
    return await _run(refund_booking, booking_id)


@outbound_task("payments.cancel_intent")
async def cancel_intent(booking_id: str) -> str:
    """Cancel the PaymentIntent of a hold that ended unpaid."""
    return await _run(cancel_booking_intent, booking_id)


@broker.task(task_name="payments.reconcile", schedule=[{"cron": "* * * * *", "schedule_id": "payments.reconcile"}])
async def reconcile() -> int:
    """Re-queue refunds and intent cancellations that have waited more than a minute."""
    rt = runtime.get()
    async with rt.sessionmaker() as session:
        refunds = (await session.execute(text(
            "SELECT id FROM bookings WHERE payment_status = 'refund_pending' "
            "AND updated_at < now() - interval '1 minute' LIMIT 200"))).scalars().all()
        cancels = (await session.execute(text(
            "SELECT id FROM bookings WHERE payment_provider = 'stripe' AND payment_intent_id IS NOT NULL "
            "AND status IN ('expired', 'released') AND payment_status IN ('requires_payment', 'failed') "
            "AND updated_at < now() - interval '1 minute' LIMIT 200"))).scalars().all()
    for booking_id in refunds:
        await refund.kiq(str(booking_id))
    for booking_id in cancels:
        await cancel_intent.kiq(str(booking_id))
    if refunds or cancels:
        log.info("re-queued %d refunds and %d intent cancellations", len(refunds), len(cancels))
    return len(refunds) + len(cancels)
