"""Payouts' SQL: connected accounts, earnings lines, and the earnings list with its derived status."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text

from models.booking import PaymentStatus
from models.payout import Earning, EarningStatus, PayoutAccount, PayoutState, TransferState
from server.db import Session


async def user_email(session: Session, user_id: uuid.UUID) -> str | None:
    return (await session.execute(text("SELECT email FROM users WHERE id = :u"), {"u": user_id})).scalar()


async def get_account(session: Session, tutor_id: uuid.UUID) -> PayoutAccount | None:
    return await session.get(PayoutAccount, tutor_id)


async def account_by_stripe_id(session: Session, account_id: str) -> PayoutAccount | None:
    """The connected account, row-locked (webhooks about one account apply one at a time)."""
    return (await session.scalars(select(PayoutAccount).where(PayoutAccount.stripe_account_id == account_id)
                                  .with_for_update())).first()


async def insert_account(session: Session, tutor_id: uuid.UUID, account_id: str) -> PayoutAccount:
    """Record the tutor's account once (two concurrent onboardings get the same account from
    Stripe's idempotency key; the second insert is a no-op)."""
    await session.execute(
        text("INSERT INTO payout_accounts (tutor_id, stripe_account_id, state) VALUES (:t, :a, :s) "
             "ON CONFLICT (tutor_id) DO NOTHING"), {"t": tutor_id, "a": account_id, "s": PayoutState.PENDING})
    account = await session.get(PayoutAccount, tutor_id, populate_existing=True)
    assert account is not None
    return account


async def insert_earning(session: Session, *, booking_id: uuid.UUID, tutor_id: uuid.UUID, currency: str,
                         gross: int, fee: int, state: TransferState, account_id: str | None) -> bool:
    """The booking's earnings line, once (False when a replay finds it there)."""
    inserted = await session.execute(
        text("INSERT INTO tutor_earnings (booking_id, tutor_id, currency, gross_cents, fee_cents, transfer_state, "
             "stripe_account_id) VALUES (:b, :t, :c, :g, :f, :s, :a) ON CONFLICT (booking_id) DO NOTHING RETURNING 1"),
        {"b": booking_id, "t": tutor_id, "c": currency.upper(), "g": gross, "f": fee, "s": state, "a": account_id})
    return inserted.first() is not None


async def earning_for_update(session: Session, booking_id: uuid.UUID) -> Earning | None:
    return (await session.scalars(select(Earning).where(Earning.booking_id == booking_id).with_for_update()
                                  .execution_options(populate_existing=True))).first()


async def lock_booking_payment(session: Session, booking_id: uuid.UUID) -> tuple[PaymentStatus | None, str | None]:
    """Lock the booking's row (bookings before earnings, as the refund path does) and say
    where its payment is, with its PaymentIntent."""
    row = (await session.execute(text("SELECT payment_status, payment_intent_id FROM bookings WHERE id = :b "
                                      "FOR UPDATE"), {"b": booking_id})).first()
    return (PaymentStatus(row.payment_status) if row and row.payment_status else None,
            row.payment_intent_id if row else None)


async def due_transfers(session: Session, tutor_id: uuid.UUID | None = None, limit: int = 500) -> list[uuid.UUID]:
    """Bookings whose tutor share still waits on the platform while the tutor's account is active."""
    query = (select(Earning.booking_id).join(PayoutAccount, PayoutAccount.tutor_id == Earning.tutor_id)
             .where(Earning.transfer_state.in_([TransferState.DUE, TransferState.IN_FLIGHT]),
                    PayoutAccount.state == PayoutState.ACTIVE).limit(limit))
    if tutor_id is not None:
        query = query.where(Earning.tutor_id == tutor_id)
    return list((await session.scalars(query)).all())


def _status_sql(window: timedelta) -> str:
    """An earnings line's status at ``:now`` (one definition for the list, totals and payouts)."""
    hours = int(window.total_seconds() // 3600)
    return (f"CASE WHEN e.refunded_cents > 0 AND e.refunded_cents >= e.gross_cents THEN '{EarningStatus.REVERSED}' "
            f"WHEN e.payout_id IS NOT NULL THEN '{EarningStatus.PAID}' "
            f"WHEN b.status IN ('completed', 'cancelled') AND b.end_at + interval '{hours} hours' <= :now "
            f"THEN '{EarningStatus.AVAILABLE}' ELSE '{EarningStatus.PENDING}' END")


async def earnings_page(session: Session, tutor_id: uuid.UUID, now: datetime, window: timedelta, *,
                        start: datetime | None, end: datetime | None, after: tuple[datetime, uuid.UUID] | None,
                        limit: int) -> list[dict[str, Any]]:
    """A tutor's earnings lines, newest lesson first (keyset on the lesson's start and booking id)."""
    where = ["e.tutor_id = :t"]
    params: dict[str, Any] = {"t": tutor_id, "now": now, "limit": limit}
    if start is not None:
        where.append("b.start_at >= :start")
        params["start"] = start
    if end is not None:
        where.append("b.start_at < :end")
        params["end"] = end
    if after is not None:
        where.append("(b.start_at, e.booking_id) < (:after_start, :after_id)")
        params.update(after_start=after[0], after_id=after[1])
    rows = await session.execute(text(
        "SELECT e.booking_id, b.start_at, b.end_at, e.currency, e.gross_cents, e.fee_cents, e.refunded_cents, "
        "e.reversed_cents, e.gross_cents - e.fee_cents - e.reversed_cents AS net_cents, e.transfer_state, "
        f"e.payout_id, e.paid_out_at, {_status_sql(window)} AS status "
        "FROM tutor_earnings e JOIN bookings b ON b.id = e.booking_id "
        f"WHERE {' AND '.join(where)} ORDER BY b.start_at DESC, e.booking_id DESC LIMIT :limit"), params)
    return [dict(r._mapping) for r in rows]


async def earnings_totals(session: Session, tutor_id: uuid.UUID, now: datetime,
                          window: timedelta) -> list[dict[str, Any]]:
    """Per currency: gross, fee and net of every line, and the net in each status."""
    rows = await session.execute(text(
        "SELECT currency, sum(gross_cents) AS gross_cents, sum(fee_cents) AS fee_cents, "
        "sum(refunded_cents) AS refunded_cents, sum(net) AS net_cents, "
        f"sum(net) FILTER (WHERE status = '{EarningStatus.PENDING}') AS pending_cents, "
        f"sum(net) FILTER (WHERE status = '{EarningStatus.AVAILABLE}') AS available_cents, "
        f"sum(net) FILTER (WHERE status = '{EarningStatus.PAID}') AS paid_cents "
        "FROM (SELECT e.*, e.gross_cents - e.fee_cents - e.reversed_cents AS net, "
        f"{_status_sql(window)} AS status FROM tutor_earnings e JOIN bookings b ON b.id = e.booking_id "
        "WHERE e.tutor_id = :t) x GROUP BY currency ORDER BY currency"), {"t": tutor_id, "now": now})
    return [{k: (v if k == "currency" else int(v or 0)) for k, v in r._mapping.items()} for r in rows]


async def assign_payout(session: Session, tutor_id: uuid.UUID, payout_id: str, amount: int, currency: str,
                        now: datetime, window: timedelta) -> int:
    """Mark the oldest available lines (in the payout's currency, already on the tutor's
    account) paid by ``payout_id``, as many as its amount covers; returns how many."""
    rows = await session.execute(text(
        "WITH candidates AS ("
        " SELECT e.booking_id, sum(e.gross_cents - e.fee_cents - e.reversed_cents) "
        "   OVER (ORDER BY b.end_at, e.booking_id) AS running "
        " FROM tutor_earnings e JOIN bookings b ON b.id = e.booking_id "
        " WHERE e.tutor_id = :t AND e.currency = :c AND e.payout_id IS NULL "
        "   AND e.transfer_state IN ('destination', 'done') "
        f"  AND {_status_sql(window)} = '{EarningStatus.AVAILABLE}') "
        "UPDATE tutor_earnings e SET payout_id = :p, paid_out_at = :now, updated_at = now() FROM candidates c "
        "WHERE e.booking_id = c.booking_id AND c.running <= :amount RETURNING 1"),
        {"t": tutor_id, "c": currency.upper(), "p": payout_id, "amount": amount, "now": now})
    return len(rows.all())


async def unassign_payout(session: Session, payout_id: str) -> int:
    """A failed payout: its lines are available again."""
    rows = await session.execute(text(
        "UPDATE tutor_earnings SET payout_id = NULL, paid_out_at = NULL, updated_at = now() "
        "WHERE payout_id = :p RETURNING 1"), {"p": payout_id})
    return len(rows.all())


async def earnings_with_transfers(session: Session) -> list[Earning]:
    """Every line whose tutor share went to Stripe by a separate Transfer (for reconciliation)."""
    return list((await session.scalars(select(Earning).where(Earning.transfer_id.is_not(None)))).all())


async def all_earnings(session: Session) -> list[Earning]:
    return list((await session.scalars(select(Earning))).all())
