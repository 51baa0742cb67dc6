"""Payment tasks: refunds, PaymentIntent cancellation, the deferred Transfer of a tutor's
share and the reconciliation of a tutor's payout (retried, idempotent), and a sweep that
re-queues anything whose enqueue was lost (the API enqueues these after commit; a crash in
between would otherwise leave a refund undone).

Each task reads what is due in one unit of work, calls Stripe outside any transaction (the
calls are idempotent per booking on Stripe's side), then records the result in another.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

import stripe

from models.booking import PaymentProvider
from server.db import Sessionmaker, unit_of_work
from server.payments import service
from server.payouts import money
from server.payouts import reconcile as ledger_check
from server.payouts import service as payouts
from server.payouts.errors import TransferInFlight
from server.providers import stripe as stripe_client
from server.settings import Settings
from tasks import runtime
from tasks.broker import broker
from tasks.outbound import PermanentError, outbound_task

log = logging.getLogger("edustream.tasks.payments")

# Stripe said no for a reason a retry cannot change (bad request, bad key): dead-letter at once.
_PERMANENT = (stripe.InvalidRequestError, stripe.AuthenticationError, stripe.PermissionError, stripe.CardError)


async def refund_booking(settings: Settings, sessionmaker: Sessionmaker, booking_id: uuid.UUID) -> str:
    """Refund what a booking is owed (``payment_status = refund_pending``); a rerun is harmless.
    Each run counts as an attempt; past ``REFUND_MAX_ATTEMPTS``, or when Stripe refuses for
    good, the refund becomes ``refund_failed`` and is not retried again."""
    async with unit_of_work(sessionmaker) as session:
        due = await service.start_refund_attempt(session, settings, booking_id, datetime.now(UTC))
    if due is None:
        return "nothing_to_refund"
    refund_id = None
    if due.provider == PaymentProvider.STRIPE and due.intent_id:
        try:
            result = await stripe_client.refund(settings, str(booking_id), due.intent_id, due.amount,
                                                destination=due.plan.destination)
            refund_id = result["id"]
            # A share that went by a separate Transfer comes back by a Transfer reversal.
            if due.plan.transfer_id and due.plan.reversal_cents > 0:
                await stripe_client.reverse_transfer(settings, str(booking_id), due.plan.transfer_id,
                                                     due.plan.reversal_cents)
        except _PERMANENT as exc:
            async with unit_of_work(sessionmaker) as session:
                await service.mark_refund_failed(session, booking_id, f"stripe refused: {exc}", datetime.now(UTC))
            raise
    async with unit_of_work(sessionmaker) as session:
        await service.mark_refunded(session, settings, booking_id, refund_id, datetime.now(UTC))
    log.info("refunded %s of booking %s via %s", due.amount, booking_id, due.provider)
    return "refunded"


async def cancel_booking_intent(settings: Settings, sessionmaker: Sessionmaker, booking_id: uuid.UUID) -> str:
    """Cancel the PaymentIntent of a hold that lapsed or was released, so it cannot be paid."""
    async with unit_of_work(sessionmaker) as session:
        intent = await service.intent_to_cancel(session, booking_id)
    if intent is None:
        return "nothing_to_cancel"
    status = await stripe_client.cancel_payment_intent(settings, str(booking_id), intent)
    async with unit_of_work(sessionmaker) as session:
        await service.mark_intent_cancelled(session, booking_id, status)
    return status


async def transfer_booking(settings: Settings, sessionmaker: Sessionmaker, booking_id: uuid.UUID) -> str:
    """Move a booking's tutor share, held on the platform, to the tutor's now active account:
    the amount is fixed first (``in_flight``), Stripe is called with a per-booking idempotency
    key, then the transfer entry is posted. A rerun after a crash repeats the same call."""
    async with unit_of_work(sessionmaker) as session:
        due = await money.start_transfer(session, booking_id)
    if due is None:
        return "nothing_to_transfer"
    try:
        result = await stripe_client.create_transfer(settings, str(booking_id), due.account_id, due.amount,
                                                     due.currency, None)
    except _PERMANENT as exc:
        async with unit_of_work(sessionmaker) as session:
            await money.transfer_refused(session, booking_id, str(exc))
        raise
    async with unit_of_work(sessionmaker) as session:
        await money.finish_transfer(session, booking_id, result["id"], int(result["amount"]))
    log.info("transferred %s of booking %s to %s", due.amount, booking_id, due.account_id)
    return "transferred"


class PayoutNotReconciled(RuntimeError):
    """Stripe has not finished reconciling the payout: its balance transactions are incomplete (retried)."""


async def reconcile_payout_lines(settings: Settings, sessionmaker: Sessionmaker, payout_id: str) -> str:
    """Learn from Stripe which balance transactions a connected account's payout covered (all
    pages, on the connected account) and mark exactly those bookings' lines paid. A rerun
    records nothing twice; a Stripe failure is retried by the worker."""
    async with unit_of_work(sessionmaker) as session:
        due = await payouts.payout_to_reconcile(session, payout_id)
    if due is None:
        return "nothing_to_reconcile"
    payout = await stripe_client.retrieve_payout(settings, due.account_id, payout_id)
    if payout["status"] != "paid":
        return f"stripe_says_{payout['status']}"  # its payout.failed (or paid) webhook decides
    if payout["reconciliation_status"] not in (None, "completed"):
        raise PayoutNotReconciled(f"payout {payout_id} is {payout['reconciliation_status']} at Stripe")
    transactions = await stripe_client.payout_balance_transactions(settings, due.account_id, payout_id)
    async with unit_of_work(sessionmaker) as session:
        lines = await payouts.record_payout_items(session, settings, payout_id, transactions, datetime.now(UTC))
    if lines is None:
        return "nothing_to_reconcile"
    log.info("payout %s covered %d balance transaction(s), %d earnings line(s)", payout_id, len(transactions), lines)
    return "reconciled"


@outbound_task("payments.refund")
async def refund(booking_id: str) -> str:
    """Refund what a booking is owed (Stripe call keyed per booking and amount)."""
    try:
        rt = runtime.get()
        return await refund_booking(rt.settings, rt.sessionmaker, uuid.UUID(booking_id))
    except _PERMANENT as exc:
        raise PermanentError(f"stripe refused: {exc}") from exc
    except TransferInFlight as exc:  # retried: the transfer finishes first
        raise RuntimeError(exc.message) from exc


@outbound_task("payouts.transfer")
async def transfer(booking_id: str) -> str:
    """Transfer a booking's tutor share once the tutor's account is active (keyed per booking)."""
    try:
        rt = runtime.get()
        return await transfer_booking(rt.settings, rt.sessionmaker, uuid.UUID(booking_id))
    except _PERMANENT as exc:
        raise PermanentError(f"stripe refused: {exc}") from exc


@outbound_task("payouts.reconcile_payout")
async def reconcile_payout(payout_id: str) -> str:
    """Mark the earnings lines a tutor's payout covered, from Stripe's balance transactions."""
    try:
        rt = runtime.get()
        return await reconcile_payout_lines(rt.settings, rt.sessionmaker, payout_id)
    except _PERMANENT as exc:
        raise PermanentError(f"stripe refused: {exc}") from exc


@outbound_task("payments.cancel_intent")
async def cancel_intent(booking_id: str) -> str:
    """Cancel the PaymentIntent of a hold that ended unpaid."""
    try:
        rt = runtime.get()
        return await cancel_booking_intent(rt.settings, rt.sessionmaker, uuid.UUID(booking_id))
    except _PERMANENT as exc:
        raise PermanentError(f"stripe refused: {exc}") from exc


@broker.task(task_name="payments.reconcile", schedule=[{"cron": "* * * * *", "schedule_id": "payments.reconcile"}])
async def reconcile() -> int:
    """Re-queue refunds, intent cancellations, tutor transfers and payout reconciliations that
    have waited more than a minute."""
    async with unit_of_work(runtime.get().sessionmaker) as session:
        refunds, cancels = await service.waiting(session, 200)
        transfers = await service.transfers_waiting(session, 200)
        unreconciled = await payouts.payouts_waiting(session, 200)
    for payout_id in unreconciled:
        await reconcile_payout.kiq(payout_id)
    for booking_id in transfers:
        await transfer.kiq(str(booking_id))
    for booking_id in refunds:
        await refund.kiq(str(booking_id))
    for booking_id in cancels:
        await cancel_intent.kiq(str(booking_id))
    if refunds or cancels:
        log.info("re-queued %d refunds and %d intent cancellations", len(refunds), len(cancels))
    return len(refunds) + len(cancels) + len(transfers) + len(unreconciled)


@broker.task(task_name="payouts.check_ledger",
             schedule=[{"cron": "*/15 * * * *", "schedule_id": "payouts.check_ledger"}])
async def check_ledger() -> int:
    """``edustream ledger check`` every 15 minutes: each difference is logged as an error (an alert)."""
    rt = runtime.get()
    async with unit_of_work(rt.sessionmaker) as session:
        differences = await ledger_check.check(session, rt.settings)
    return len(differences)
